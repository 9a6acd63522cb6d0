"""A local helpdesk speaking the Zendesk API subset esc-sync uses, over real HTTP on loopback.

    with Sandbox(recent_window=0) as sandbox:
        requests.get(f"{sandbox.url}/api/v2/users/me.json", auth=(f"{email}/token", sandbox.token))

`esc-sync sandbox` serves it in the foreground (`serve`), `esc-sync demo` and the integration
tests start it in a thread. Seeded with realistic tickets; `expectations()` says what the default
rules must do to them; `/__sandbox/...` hooks inject faults and simulate people.
"""

from esc_sync.sandbox.seed import BASE_TICKETS, Density, expectations, seeded_store
from esc_sync.sandbox.server import Sandbox, serve
from esc_sync.sandbox.store import Store

BOT_EMAIL = "escalations-bot@sandbox.test"

__all__ = [
    "BASE_TICKETS",
    "BOT_EMAIL",
    "Density",
    "Sandbox",
    "Store",
    "expectations",
    "seeded_store",
    "serve",
]
