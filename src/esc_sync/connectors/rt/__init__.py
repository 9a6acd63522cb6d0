"""The Request Tracker 5 (REST 2) connector."""

from esc_sync.connectors.rt.connector import RTConnector

__all__ = ["RTConnector"]
