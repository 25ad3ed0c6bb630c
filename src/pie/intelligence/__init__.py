"""Deal intelligence from conversations: parsers, the offline and LLM extractors, enrichment
(docs/intelligence.md). Pure apart from the LLM call."""
