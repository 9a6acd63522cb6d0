"""The daemon's real-time triggers: signed webhook pokes from the helpdesks.

`verify` holds the pure checks (signatures, replay window, body parsing), `queue` the bounded
in-process poke queue the worker drains, `app` the Starlette application, `server` the uvicorn
thread that serves it beside the worker loop. A webhook is only a poke: it names a ticket for
the worker to re-read through its connector; nothing in a webhook body is trusted beyond that.
"""

from esc_sync.webhooks.queue import PokeQueue, Pokes

__all__ = ["PokeQueue", "Pokes"]
