"""esc-sync: an escalation worker for helpdesks."""

__version__ = "0.1.0"
