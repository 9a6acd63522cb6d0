"""Connector contract tests."""
