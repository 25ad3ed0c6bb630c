"""``pie.ports.notion.NotionAdmin`` over the Notion adapter and its setup functions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from pie.adapters.notion.adapter import NotionAdapter, NotionTarget
from pie.adapters.notion.errors import NO_RETRY
from pie.adapters.notion.setup import check_databases, create_databases
from pie.domain.crm_fields import RecordKind
from pie.ports.credentials import Secret
from pie.ports.crm import CrmAdapter
from pie.ports.notion import NotionDatabase, SchemaReport


def _target(db: NotionDatabase) -> NotionTarget:
    return NotionTarget(db.database_id, db.data_source_id)


def _database(t: NotionTarget) -> NotionDatabase:
    return NotionDatabase(t.database_id, t.data_source_id)


class NotionWorkspaceAdmin:
    async def create_databases(
        self, token: Secret, parent_page_id: str, base_url: str
    ) -> Mapping[RecordKind, NotionDatabase]:
        made = await create_databases(token, parent_page_id, base_url=base_url)
        return {k: _database(t) for k, t in made.items()}

    async def check(
        self, token: Secret, databases: Mapping[RecordKind, NotionDatabase], base_url: str
    ) -> SchemaReport:
        report = await check_databases(
            token, {k: _target(d) for k, d in databases.items()}, base_url=base_url
        )
        return SchemaReport(
            {k: _database(t) for k, t in report.targets.items()},
            {k: tuple(p) for k, p in report.problems.items()},
        )

    async def open_adapter(
        self,
        token: Secret,
        databases: Mapping[RecordKind, NotionDatabase],
        base_url: str,
        *,
        retries: bool = False,
        gate: Callable[[], Awaitable[None]] | None = None,
    ) -> tuple[CrmAdapter, Mapping[RecordKind, NotionDatabase]]:
        adapter = NotionAdapter(
            token,
            deals=_target(databases[RecordKind.DEAL]),
            contacts=_target(databases[RecordKind.CONTACT]),
            base_url=base_url,
            retry=None if retries else NO_RETRY,
        )
        adapter.use_gate(gate)  # the opening requests count against the budget too
        try:
            await adapter.open()
        except BaseException:
            await adapter.aclose()
            raise
        return adapter, {k: _database(t) for k, t in adapter.resolved.items()}
