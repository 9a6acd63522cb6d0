"""The Freshdesk connector."""

from esc_sync.connectors.freshdesk.connector import FreshdeskConnector

__all__ = ["FreshdeskConnector"]
