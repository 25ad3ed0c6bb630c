"""Connectors to outside systems, each with the emulator its tests run against."""
