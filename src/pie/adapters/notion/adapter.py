"""The Notion adapter: PIE's CRM contract (``pie.ports.crm.CrmAdapter``) over Notion's API
version 2025-09-03, through the official ``notion-client`` ``AsyncClient``.

- Deals and contacts live in two databases; each database's data source is resolved once
  (``GET /v1/databases/{id}``) and kept (``NotionTarget.data_source_id``; the caller stores
  it, see ``resolved``). A database with several data sources must be told which one.
- Every page carries PIE's id in the ``PIE ID`` rich-text property; ``create_record`` looks it
  up before it creates, so a create retried after a lost response never duplicates.
- An activity is a paragraph block appended to the deal's page, ending in ``[pie:<uuid>]``;
  the page's blocks are listed on its first append (and again after a failed one), so a
  retried append never duplicates; later appends cost one request each.
- The SDK is built with ``retry=False``: PIE's ``RetryPolicy`` (tenacity) retries whole
  operations on 429, 529, 5xx and timeouts, honouring ``Retry-After``; 400/401/403/404 are
  raised as ``CrmRejected`` with Notion's message and never retried.
- The token is a ``Secret``: it is revealed only into the client's Authorization header and
  appears in no message or log line.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar
from uuid import UUID

from notion_client import AsyncClient

from pie.adapters.notion.errors import RetryPolicy, call
from pie.adapters.notion.mapping import pie_id_property as _pie_id_property
from pie.adapters.notion.mapping import (
    plain,
    schema_problems,
    to_properties,
    to_record,
)
from pie.domain.crm_fields import PIE_ID_PROPERTY, RecordKind, field_names
from pie.ports.credentials import Secret
from pie.ports.crm import (
    ActivityInput,
    ActivityResult,
    CrmAdapter,
    CrmCapabilities,
    CrmError,
    CrmRecord,
    CrmRejected,
    Fields,
    Page,
    WriteResult,
)

NOTION_API = "https://api.notion.com"
NOTION_VERSION = "2025-09-03"
ACTIVITY_MARK = re.compile(
    r"\[pie:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\]"
)
T = TypeVar("T")
OPEN_RETRY = RetryPolicy()
ACTIVITY_CACHE_PAGES = 2000
log = logging.getLogger("pie.notion")


@dataclass(frozen=True)
class NotionTarget:
    """A database PIE syncs one kind of record with, and its data source once resolved."""

    database_id: str
    data_source_id: str | None = None


def make_client(token: Secret, base_url: str = NOTION_API, timeout_s: float = 30.0) -> AsyncClient:
    """notion-client's AsyncClient as PIE uses it: its retries off, PIE's logger, version
    2025-09-03. Not entered as a context manager (that would replace its HTTP client)."""
    return AsyncClient(
        auth=token.reveal(),
        base_url=base_url.rstrip("/"),
        notion_version=NOTION_VERSION,
        timeout_ms=int(timeout_s * 1000),
        retry=False,  # PIE owns retries (RetryPolicy)
        logger=logging.getLogger("pie.notion.sdk"),
        log_level=logging.ERROR,  # its "request fail" warnings: PIE logs failures itself
    )


class NotionAdapter(CrmAdapter):
    """One Notion connection of one tenant. Use ``await adapter.open()`` (resolves the data
    sources and the integration's bot id) before anything else, and ``aclose()`` after."""

    def __init__(
        self,
        token: Secret,
        *,
        deals: NotionTarget,
        contacts: NotionTarget,
        base_url: str = NOTION_API,
        timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.targets = {RecordKind.DEAL: deals, RecordKind.CONTACT: contacts}
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self.client = make_client(token, base_url, timeout_s)
        self._bot: str | None = None
        self._activity_cache: dict[str, dict[UUID, str]] = {}

    # --- lifecycle -----------------------------------------------------------------------

    async def open(self) -> NotionAdapter:
        """Resolve what is not known yet. Only reads, so they are always retried (the
        default ``RetryPolicy``), whatever policy the operations have."""
        for kind, target in self.targets.items():
            if target.data_source_id is None:
                self.targets[kind] = replace(
                    target,
                    data_source_id=await self.resolve_data_source(
                        target.database_id, retry=OPEN_RETRY
                    ),
                )
        me = await self._op(self.client.users.me, retry=OPEN_RETRY)
        self._bot = str(me["id"])
        return self

    async def aclose(self) -> None:
        await self.client.aclose()

    @property
    def resolved(self) -> Mapping[RecordKind, NotionTarget]:
        """The targets with their data source ids, for the caller to store."""
        return dict(self.targets)

    async def resolve_data_source(
        self, database_id: str, *, retry: RetryPolicy | None = None
    ) -> str:
        """The database's one data source; several need an explicit choice."""
        db = await self._op(lambda: self.client.databases.retrieve(database_id), retry=retry)
        sources = db.get("data_sources") or []
        if len(sources) != 1:
            names = ", ".join(f"{s.get('name')!r} ({s.get('id')})" for s in sources)
            raise CrmRejected(
                400,
                f"database {database_id} has {len(sources)} data sources ({names or 'none'}); "
                "choose one",
                code="ambiguous_data_source",
            )
        return str(sources[0]["id"])

    # --- plumbing ------------------------------------------------------------------------

    async def _call(self, make: Callable[[], Awaitable[T]]) -> T:
        """One request (through the caller's gate); failures become CRM errors."""
        await self.before_request()
        try:
            return await call(make)
        except CrmError as err:
            log.info("notion request failed: %s", err)
            raise

    async def _op(self, make: Callable[[], Awaitable[T]], *, retry: RetryPolicy | None = None) -> T:
        """One request under the retry policy (the adapter's, unless ``retry`` is given)."""
        return await (retry or self.retry).run(lambda: self._call(make), self._sleep)

    def _source(self, kind: RecordKind) -> str:
        ds = self.targets[kind].data_source_id
        if ds is None:
            raise RuntimeError("NotionAdapter.open() was not awaited")
        return ds

    def _belongs(self, kind: RecordKind, page: Mapping[str, Any]) -> bool:
        return bool(page.get("parent", {}).get("data_source_id") == self._source(kind))

    @property
    def capabilities(self) -> CrmCapabilities:
        return CrmCapabilities(
            name="notion",
            self_actor=self._bot or "",
            fields={k: field_names(k) for k in RecordKind},
            time_precision=60.0,
            requests_per_second=2.5,
            max_page_size=100,
        )

    # --- records -------------------------------------------------------------------------

    async def _find(self, kind: RecordKind, pie_id: UUID) -> dict[str, Any] | None:
        res = await self._call(
            lambda: self.client.data_sources.query(
                self._source(kind),
                filter={"property": PIE_ID_PROPERTY, "rich_text": {"equals": str(pie_id)}},
                in_trash=True,
                page_size=10,
            )
        )
        pages = [
            p
            for p in res.get("results", [])
            if plain(p["properties"].get(PIE_ID_PROPERTY, {}).get("rich_text")) == str(pie_id)
        ]
        pages.sort(key=lambda p: (p.get("in_trash", False), p["created_time"]))
        return pages[0] if pages else None

    async def find_by_pie_id(self, kind: RecordKind, pie_id: UUID) -> CrmRecord | None:
        async def run() -> CrmRecord | None:
            page = await self._find(kind, pie_id)
            return to_record(kind, page) if page else None

        return await self.retry.run(run, self._sleep)

    async def create_record(self, kind: RecordKind, pie_id: UUID, fields: Fields) -> WriteResult:
        async def run() -> WriteResult:
            existing = await self._find(kind, pie_id)
            if existing is not None:
                return WriteResult(to_record(kind, existing), created=False)
            page = await self._call(
                lambda: self.client.pages.create(
                    parent={"type": "data_source_id", "data_source_id": self._source(kind)},
                    properties={**to_properties(kind, fields), **_pie_id_property(pie_id)},
                )
            )
            return WriteResult(to_record(kind, page), created=True)

        return await self.retry.run(run, self._sleep)

    async def update_record(
        self, kind: RecordKind, external_id: str, fields: Fields
    ) -> WriteResult:
        props = to_properties(kind, fields)
        page = await self._op(lambda: self.client.pages.update(external_id, properties=props))
        if not self._belongs(kind, page):
            raise CrmRejected(404, f"page {external_id} is not a {kind.value}", code="wrong_kind")
        return WriteResult(to_record(kind, page))

    async def get_record(self, kind: RecordKind, external_id: str) -> CrmRecord | None:
        try:
            page = await self._op(lambda: self.client.pages.retrieve(external_id))
        except CrmRejected as err:
            if err.status in (400, 404):  # 400: not a page id at all
                return None
            raise
        return to_record(kind, page) if self._belongs(kind, page) else None

    async def _query(
        self, kind: RecordKind, cursor: str | None, page_size: int, **body: Any
    ) -> Page:
        size = max(1, min(page_size, 100))
        res = await self._op(
            lambda: self.client.data_sources.query(
                self._source(kind), start_cursor=cursor, page_size=size, **body
            )
        )
        status = res.get("request_status") or {}
        return Page(
            records=[to_record(kind, p) for p in res.get("results", [])],
            next_cursor=res.get("next_cursor") if res.get("has_more") else None,
            complete=status.get("type") != "incomplete",
        )

    async def list_records(
        self, kind: RecordKind, *, cursor: str | None = None, page_size: int = 100
    ) -> Page:
        return await self._query(
            kind,
            cursor,
            page_size,
            sorts=[{"timestamp": "created_time", "direction": "ascending"}],
        )

    async def changes_since(
        self,
        kind: RecordKind,
        since: datetime,
        *,
        cursor: str | None = None,
        page_size: int = 100,
    ) -> Page:
        at = since if since.tzinfo else since.replace(tzinfo=UTC)
        stamp = at.astimezone(UTC).isoformat().replace("+00:00", "Z")
        return await self._query(
            kind,
            cursor,
            page_size,
            filter={"timestamp": "last_edited_time", "last_edited_time": {"on_or_after": stamp}},
            sorts=[{"timestamp": "last_edited_time", "direction": "ascending"}],
        )

    async def set_trash(self, kind: RecordKind, external_id: str, in_trash: bool) -> WriteResult:
        page = await self._op(lambda: self.client.pages.update(external_id, in_trash=in_trash))
        if not self._belongs(kind, page):
            raise CrmRejected(404, f"page {external_id} is not a {kind.value}", code="wrong_kind")
        return WriteResult(to_record(kind, page))

    # --- activities ----------------------------------------------------------------------

    async def _blocks(self, page_id: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            res = await self._call(partial(self._list_children, page_id, cursor))
            out += res.get("results", [])
            if not res.get("has_more"):
                return out
            cursor = res.get("next_cursor")

    async def _list_children(self, page_id: str, cursor: str | None) -> dict[str, Any]:
        res: dict[str, Any] = await self.client.blocks.children.list(
            page_id, start_cursor=cursor, page_size=100
        )
        return res

    @staticmethod
    def _activity_of(block: Mapping[str, Any]) -> ActivityResult | None:
        kind = block.get("type")
        text = plain(block.get(kind, {}).get("rich_text")) if isinstance(kind, str) else ""
        found = ACTIVITY_MARK.search(text)
        return ActivityResult(UUID(found.group(1)), str(block["id"])) if found else None

    async def create_activity(
        self, deal_external_id: str, activity: ActivityInput
    ) -> ActivityResult:
        async def run() -> ActivityResult:
            known = await self._known_activities(deal_external_id)
            if activity.pie_id in known:
                return ActivityResult(activity.pie_id, known[activity.pie_id])
            try:
                made = await self._call(
                    lambda: self.client.blocks.children.append(
                        deal_external_id, children=[activity_block(activity)]
                    )
                )
            except CrmError:
                # the append may have landed: the next attempt lists the page again
                self._activity_cache.pop(deal_external_id, None)
                raise
            block_id = str(made["results"][0]["id"])
            known[activity.pie_id] = block_id
            return ActivityResult(activity.pie_id, block_id, created=True)

        return await self.retry.run(run, self._sleep)

    async def _known_activities(self, page_id: str) -> dict[UUID, str]:
        """activity PIE id -> block id on the page: listed on the page's first use, then
        kept up to date by this adapter's own appends (one request per append, not two)."""
        known = self._activity_cache.get(page_id)
        if known is None:
            blocks = await self._blocks(page_id)
            known = {a.pie_id: a.external_id for a in map(self._activity_of, blocks) if a}
            while len(self._activity_cache) >= ACTIVITY_CACHE_PAGES:
                del self._activity_cache[next(iter(self._activity_cache))]
            self._activity_cache[page_id] = known
        return known

    async def list_activities(self, deal_external_id: str) -> Sequence[ActivityResult]:
        blocks = await self.retry.run(lambda: self._blocks(deal_external_id), self._sleep)
        return [a for a in map(self._activity_of, blocks) if a is not None]

    # --- schema --------------------------------------------------------------------------

    async def schema_problems(self, kind: RecordKind) -> list[str]:
        """Every property of ``kind``'s data source that is missing or mistyped."""
        ds = await self._op(lambda: self.client.data_sources.retrieve(self._source(kind)))
        return schema_problems(kind, ds.get("properties", {}))


def activity_block(activity: ActivityInput) -> dict[str, Any]:
    """A paragraph: ``call · 2026-01-05 10:00 UTC · subject — summary [pie:<id>]``."""
    head = f"{activity.type} · {activity.occurred_at:%Y-%m-%d %H:%M %Z}".strip()
    parts = [head] + [p for p in (activity.subject,) if p]
    text = " · ".join(parts) + (f" — {activity.summary}" if activity.summary else "")
    chunks = [text[i : i + 2000] for i in range(0, len(text), 2000)][:99]
    rich = [{"type": "text", "text": {"content": c}} for c in chunks]
    rich.append({"type": "text", "text": {"content": f" [pie:{activity.pie_id}]"}})
    return {"object": "block", "type": "paragraph", "paragraph": {"rich_text": rich}}
