"""Connectors to vendors' APIs (one folder per vendor: connector, client, emulator)."""
