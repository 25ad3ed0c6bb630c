"""PIE's Notion adapter (API version 2025-09-03): see adapter.py, and docs/notion.md."""

from pie.adapters.notion.adapter import NotionAdapter, NotionTarget, make_client
from pie.adapters.notion.errors import NO_RETRY, RetryPolicy

__all__ = ["NO_RETRY", "NotionAdapter", "NotionTarget", "RetryPolicy", "make_client"]
