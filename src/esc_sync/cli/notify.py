"""`esc-sync notify test CHANNEL`: send a test message through a policy channel."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from esc_sync.cli.common import EXIT_INVALID, app, err, exits, out

notify_app = typer.Typer(help="Notification channels.", no_args_is_help=True)
app.add_typer(notify_app, name="notify")


@notify_app.command("test")
def notify_test(
    channel: Annotated[str, typer.Argument(help="The channel id ([channels.ID] in the policy).")],
    rules: Annotated[Path, typer.Option(help="The policy folder or file.")] = Path("rules"),
) -> None:
    """Send one test message through a channel; exit 1 naming the channel if it fails."""
    from esc_sync.notify import Notifier
    from esc_sync.policy import load_policy

    with exits():
        policy = load_policy(rules)
        known = policy.channels.get(channel)
        if known is None:
            names = ", ".join(policy.channels) or "none defined"
            err.print(f'[red]error:[/red] {rules}: unknown channel "{channel}"; use: {names}')
            raise typer.Exit(EXIT_INVALID)
        title = f"esc-sync test message for channel {channel}"
        body = f"If you can read this, channel {channel} ({known.url_env}) works."
        delivery = Notifier().send(known.url_env, title, body, dedup=f"esc-sync:test:{channel}")
        if not delivery.ok:
            err.print(
                f'[red]error:[/red] channel "{channel}": {delivery.error} '
                f"(after {delivery.attempts} attempts)",
                highlight=False,
            )
            raise typer.Exit(EXIT_INVALID)
        out.print(f'sent a test message through channel "{channel}"', highlight=False)
