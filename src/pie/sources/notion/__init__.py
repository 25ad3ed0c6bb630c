"""Notion: the emulator PIE's Notion adapter is tested against (the adapter itself lives in
pie.adapters.notion)."""
