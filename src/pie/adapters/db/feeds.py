"""SQL implementations of the live-data ports: source cursors, the change feed, the model cache
and the tenant's ownership policy. Every statement filters by the unit of work's tenant (and
row-level security filters again on PostgreSQL). Nothing here commits."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from pie.adapters.db.bulk import upsert_rows
from pie.adapters.db.tables import ChangeCounterRow, ChangeRow, ModelCacheRow, SourceCursorRow
from pie.adapters.db.writes import Writer
from pie.domain.model import EntityKind
from pie.domain.ownership import OwnershipPolicy
from pie.ports.repositories import CachedModel, Change, Cursor

CURSORS: Table = SourceCursorRow.__table__  # type: ignore[assignment]
CHANGES: Table = ChangeRow.__table__  # type: ignore[assignment]
COUNTERS: Table = ChangeCounterRow.__table__  # type: ignore[assignment]
MODELS: Table = ModelCacheRow.__table__  # type: ignore[assignment]
MAX_PAGE = 10_000


def _now() -> datetime:
    return datetime.now(UTC)


class SqlCursorRepository:
    def __init__(
        self, session: AsyncSession, tenant_id: UUID, clock: Callable[[], datetime] = _now
    ) -> None:
        self._session, self._tenant, self._clock = session, tenant_id, clock

    async def get(self, source: str, stream: str) -> Cursor | None:
        row = (
            (
                await self._session.execute(
                    select(CURSORS).where(
                        CURSORS.c.tenant_id == self._tenant,
                        CURSORS.c.source == source,
                        CURSORS.c.stream == stream,
                    )
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        return Cursor(row["source"], row["stream"], row["value"], row["committed_at"])

    async def save(self, source: str, stream: str, value: str) -> None:
        row = {
            "tenant_id": self._tenant,
            "source": source,
            "stream": stream,
            "value": value,
            "committed_at": self._clock(),
        }
        await upsert_rows(self._session, CURSORS, [row], key=("tenant_id", "source", "stream"))


class SqlChangeFeed:
    def __init__(self, session: AsyncSession, tenant_id: UUID) -> None:
        self._session, self._tenant = session, tenant_id

    async def latest(self) -> int:
        last = await self._session.scalar(
            select(COUNTERS.c.last_seq).where(COUNTERS.c.tenant_id == self._tenant)
        )
        return int(last or 0)

    async def list(
        self, *, since: int = 0, entity: EntityKind | None = None, limit: int = 100
    ) -> Sequence[Change]:
        stmt = select(CHANGES).where(CHANGES.c.tenant_id == self._tenant, CHANGES.c.seq > since)
        if entity is not None:
            stmt = stmt.where(CHANGES.c.entity == entity.value)
        stmt = stmt.order_by(CHANGES.c.seq).limit(max(0, min(limit, MAX_PAGE)))
        rows = (await self._session.execute(stmt)).mappings()
        return [
            Change(
                seq=int(r["seq"]),
                entity=EntityKind(r["entity"]),
                entity_id=r["entity_id"],
                op=r["op"],
                version=int(r["version"]),
                origin=r["origin"],
                fields=dict(r["fields"]),
                at=r["at"],
            )
            for r in rows
        ]


class SqlModelCache:
    def __init__(
        self, session: AsyncSession, tenant_id: UUID, clock: Callable[[], datetime] = _now
    ) -> None:
        self._session, self._tenant, self._clock = session, tenant_id, clock

    async def get(self, key: str) -> CachedModel | None:
        row = (
            (
                await self._session.execute(
                    select(MODELS).where(MODELS.c.tenant_id == self._tenant, MODELS.c.key == key)
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        return CachedModel(
            row["key"], int(row["change_seq"]), bytes(row["payload"]), row["created_at"]
        )

    async def put(self, key: str, change_seq: int, payload: bytes) -> None:
        row = {
            "tenant_id": self._tenant,
            "key": key,
            "change_seq": change_seq,
            "payload": payload,
            "created_at": self._clock(),
        }
        await upsert_rows(self._session, MODELS, [row], key=("tenant_id", "key"))


class SqlPolicyRepository:
    def __init__(self, writer: Writer) -> None:
        self._writer = writer

    async def get(self) -> OwnershipPolicy:
        return await self._writer.policy()

    async def save(self, policy: OwnershipPolicy) -> None:
        await self._writer.save_policy(policy)
