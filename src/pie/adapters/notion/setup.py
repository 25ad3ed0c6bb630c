"""`pie notion setup` and `pie notion check`: make PIE's two databases (deals, contacts) under
a page shared with the integration, or validate existing ones, naming every missing or
mistyped property."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pie.adapters.notion.adapter import NOTION_API, NotionAdapter, NotionTarget, make_client
from pie.adapters.notion.errors import RetryPolicy, call
from pie.adapters.notion.mapping import DATABASE_TITLES, schema_request
from pie.domain.crm_fields import RecordKind
from pie.ports.credentials import Secret
from pie.ports.crm import CrmRejected


async def create_databases(
    token: Secret,
    parent_page_id: str,
    *,
    base_url: str = NOTION_API,
) -> dict[RecordKind, NotionTarget]:
    """Create the deals and contacts databases under ``parent_page_id`` with PIE's schema;
    returns each database's id and data source id. A database create is not safe to repeat
    blindly, so there is no retry here: on an error, run setup again (or check)."""
    client = make_client(token, base_url)
    try:
        made: dict[RecordKind, NotionTarget] = {}
        for kind in (RecordKind.DEAL, RecordKind.CONTACT):

            async def create(kind: RecordKind = kind) -> dict[str, object]:
                result: dict[str, object] = await client.databases.create(
                    parent={"type": "page_id", "page_id": parent_page_id},
                    title=[{"type": "text", "text": {"content": DATABASE_TITLES[kind]}}],
                    initial_data_source={"properties": schema_request(kind)},
                )
                return result

            db = await call(create)
            sources = db.get("data_sources")
            assert isinstance(sources, list) and sources, "Notion returned no data source"
            made[kind] = NotionTarget(str(db["id"]), str(sources[0]["id"]))
        return made
    finally:
        await client.aclose()


@dataclass
class CheckReport:
    """What `pie notion check` found, per kind: the database, its data source, problems."""

    targets: dict[RecordKind, NotionTarget] = field(default_factory=dict)
    problems: dict[RecordKind, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(self.problems.values())


async def check_databases(
    token: Secret,
    targets: Mapping[RecordKind, NotionTarget],
    *,
    base_url: str = NOTION_API,
    retry: RetryPolicy | None = None,
) -> CheckReport:
    """Resolve each database's data source and list every property PIE needs that is missing
    or has another type. A database that cannot be read is a problem, not an exception."""
    report = CheckReport()
    adapter = NotionAdapter(
        token,
        deals=targets[RecordKind.DEAL],
        contacts=targets[RecordKind.CONTACT],
        base_url=base_url,
        retry=retry,
    )
    try:
        for kind, target in targets.items():
            try:
                ds = target.data_source_id or await adapter.resolve_data_source(target.database_id)
            except CrmRejected as err:
                if err.pauses_connection:
                    raise  # the token, not the database: nothing else can be checked
                report.targets[kind] = target
                report.problems[kind] = [f"database {target.database_id}: {err.message}"]
                continue
            adapter.targets[kind] = NotionTarget(target.database_id, ds)
            report.targets[kind] = adapter.targets[kind]
            try:
                report.problems[kind] = await adapter.schema_problems(kind)
            except CrmRejected as err:
                if err.pauses_connection:
                    raise
                report.problems[kind] = [f"data source {ds}: {err.message}"]
        return report
    finally:
        await adapter.aclose()
