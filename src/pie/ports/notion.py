"""What PIE's Notion use cases (``pie.services.notion``) need from Notion beyond the CRM
contract: making PIE's two databases, checking existing ones, and opening the CRM adapter for
a stored configuration. Implemented by ``pie.adapters.notion.admin``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from pie.domain.crm_fields import RecordKind
from pie.ports.credentials import Secret
from pie.ports.crm import CrmAdapter


@dataclass(frozen=True, slots=True)
class NotionDatabase:
    """A Notion database PIE syncs one kind of record with, and its data source (resolved
    once from the database, then stored)."""

    database_id: str
    data_source_id: str | None = None


@dataclass(frozen=True, slots=True)
class SchemaReport:
    """Per kind: the database (with its data source when it could be read) and every property
    that is missing or mistyped, one line each (empty: fine)."""

    databases: Mapping[RecordKind, NotionDatabase]
    problems: Mapping[RecordKind, tuple[str, ...]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(self.problems.values())


class NotionAdmin(Protocol):
    async def create_databases(
        self, token: Secret, parent_page_id: str, base_url: str
    ) -> Mapping[RecordKind, NotionDatabase]:
        """Create the deals and contacts databases under a page shared with the integration."""
        ...

    async def check(
        self, token: Secret, databases: Mapping[RecordKind, NotionDatabase], base_url: str
    ) -> SchemaReport:
        """Resolve the data sources and list what is missing or mistyped."""
        ...

    async def open_adapter(
        self,
        token: Secret,
        databases: Mapping[RecordKind, NotionDatabase],
        base_url: str,
        *,
        retries: bool = False,
        gate: Callable[[], Awaitable[None]] | None = None,
    ) -> tuple[CrmAdapter, Mapping[RecordKind, NotionDatabase]]:
        """A ready CRM adapter (close it with ``aclose()``) and the databases with their
        data sources resolved (to store when they were not yet). ``retries``: the adapter
        retries failed operations itself (False: every failure goes to the caller, like the
        sync engine wants, which owns waits and retries). ``gate``: awaited before every
        request, the opening ones included (the connection's rate limiter)."""
        ...
