"""Two-way sync between PIE's store (the primary) and a CRM (Notion first): see docs/sync.md."""
