"""Notifications out: messages to people outside the helpdesk, through Apprise.

`Notifier` sends one message to the Apprise URL held in a channel's environment variable, with
retries and backoff; it never shows the URL (Apprise's own log is kept inside this package and
scrubbed). What to send, and when, is the planner's (`esc_sync.plan.notices`); the applier calls
this after a ticket's helpdesk writes and records each message in the ledger.
"""

from esc_sync.notify.sender import Delivery, Notifier, dedup_key, unset_channels

__all__ = ["Delivery", "Notifier", "dedup_key", "unset_channels"]
