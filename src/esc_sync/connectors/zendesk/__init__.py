"""The Zendesk Support connector."""

from esc_sync.connectors.zendesk.connector import ZendeskConnector

__all__ = ["ZendeskConnector"]
