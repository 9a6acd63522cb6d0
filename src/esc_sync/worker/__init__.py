"""esc-sync."""
