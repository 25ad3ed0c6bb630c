"""SQL connections (pie.ports.connections): one tenant's connections, and the schedules of
every tenant's (on PostgreSQL read through ``pie_due_connections``, the one SECURITY DEFINER
function that crosses tenants, then claimed as each tenant under row-level security)."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Table, delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pie.adapters.db.bulk import dialect
from pie.adapters.db.tables_connections import ConnectionRow
from pie.adapters.db.types import UtcDateTime
from pie.adapters.db.uow import bind_tenant
from pie.domain.errors import Conflict, NotFound
from pie.ports.connections import PAUSED, Connection, DueSync

CONNECTIONS: Table = ConnectionRow.__table__  # type: ignore[assignment]
DUE_SQL = text("SELECT tenant_id, id, next_run_at FROM pie_due_connections(:at)").columns()


def to_row(c: Connection) -> dict[str, Any]:
    return {
        "id": c.id,
        "tenant_id": c.tenant_id,
        "vendor": c.vendor,
        "name": c.name,
        "base_url": c.base_url,
        "settings": {"auth": c.auth, "fields": dict(c.settings)},
        "credential": c.credential,
        "schedule_minutes": c.schedule_minutes,
        "next_run_at": c.next_run_at,
        "state": c.state,
        "last_job_id": c.last_job_id,
        "last_sync_at": c.last_sync_at,
        "last_result": dict(c.last_result) if c.last_result is not None else None,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    }


def from_row(row: Any) -> Connection:
    m = row._mapping
    settings = m["settings"] or {}
    return Connection(
        id=m["id"],
        tenant_id=m["tenant_id"],
        vendor=m["vendor"],
        name=m["name"],
        base_url=m["base_url"],
        auth=str(settings.get("auth", "")),
        settings={str(k): str(v) for k, v in (settings.get("fields") or {}).items()},
        credential=m["credential"],
        schedule_minutes=m["schedule_minutes"],
        state=m["state"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        next_run_at=m["next_run_at"],
        last_job_id=m["last_job_id"],
        last_sync_at=m["last_sync_at"],
        last_result=m["last_result"],
    )


class SqlConnectionStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], tenant_id: UUID) -> None:
        self._sessions, self.tenant_id = sessions, tenant_id

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            bind_tenant(session, self.tenant_id)
            async with session.begin():
                yield session

    def _mine(self) -> Any:
        return CONNECTIONS.c.tenant_id == self.tenant_id

    async def add(self, connection: Connection) -> Connection:
        if connection.tenant_id != self.tenant_id:
            raise ValueError("the connection belongs to another tenant")
        try:
            async with self._session() as session:
                await session.execute(insert(CONNECTIONS).values(to_row(connection)))
        except IntegrityError:
            raise Conflict(f"a connection named {connection.name!r} exists already") from None
        return connection

    async def get(self, connection_id: UUID) -> Connection | None:
        async with self._session() as session:
            row = (
                await session.execute(
                    select(CONNECTIONS).where(self._mine(), CONNECTIONS.c.id == connection_id)
                )
            ).first()
        return from_row(row) if row is not None else None

    async def by_name(self, name: str) -> Connection | None:
        async with self._session() as session:
            row = (
                await session.execute(
                    select(CONNECTIONS).where(self._mine(), CONNECTIONS.c.name == name)
                )
            ).first()
        return from_row(row) if row is not None else None

    async def list(self) -> builtins.list[Connection]:
        async with self._session() as session:
            rows = await session.execute(
                select(CONNECTIONS).where(self._mine()).order_by(CONNECTIONS.c.name)
            )
            return [from_row(r) for r in rows]

    async def save(self, connection: Connection) -> Connection:
        values = to_row(connection)
        for key in ("id", "tenant_id", "created_at"):
            values.pop(key)
        try:
            async with self._session() as session:
                result = await session.execute(
                    update(CONNECTIONS)
                    .where(self._mine(), CONNECTIONS.c.id == connection.id)
                    .values(values)
                )
        except IntegrityError:
            raise Conflict(f"a connection named {connection.name!r} exists already") from None
        if not getattr(result, "rowcount", 0):
            raise NotFound(f"connection {connection.id}")
        return connection

    async def delete(self, connection_id: UUID) -> bool:
        async with self._session() as session:
            result = await session.execute(
                delete(CONNECTIONS).where(self._mine(), CONNECTIONS.c.id == connection_id)
            )
        return bool(getattr(result, "rowcount", 0))


class SqlSyncSchedule:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def claim_due(self, now: datetime) -> Sequence[DueSync]:
        due = await self._due(now)
        claimed: list[DueSync] = []
        for tenant_id, connection_id, due_at in due:
            async with self._sessions() as session:
                bind_tenant(session, tenant_id)
                async with session.begin():
                    minutes = (
                        await session.execute(
                            select(CONNECTIONS.c.schedule_minutes).where(
                                CONNECTIONS.c.tenant_id == tenant_id,
                                CONNECTIONS.c.id == connection_id,
                            )
                        )
                    ).scalar_one_or_none()
                    if minutes is None:
                        continue
                    result = await session.execute(
                        update(CONNECTIONS)
                        .where(
                            CONNECTIONS.c.tenant_id == tenant_id,
                            CONNECTIONS.c.id == connection_id,
                            CONNECTIONS.c.next_run_at == due_at,
                        )
                        .values(next_run_at=now + timedelta(minutes=minutes))
                    )
            if getattr(result, "rowcount", 0) == 1:
                claimed.append(DueSync(tenant_id, connection_id, due_at))
        return claimed

    async def _due(self, now: datetime) -> list[tuple[UUID, UUID, datetime]]:
        async with self._sessions() as session:
            if await dialect(session) == "postgresql":
                rows = await session.execute(DUE_SQL, {"at": now})
                return [(r[0], r[1], _aware(r[2])) for r in rows]
            c = CONNECTIONS.c
            rows = await session.execute(
                select(c.tenant_id, c.id, c.next_run_at)
                .where(
                    c.schedule_minutes.is_not(None),
                    c.state != PAUSED,
                    c.next_run_at.is_not(None),
                    c.next_run_at <= now,
                )
                .order_by(c.next_run_at)
            )
            return [(r[0], r[1], r[2]) for r in rows]


def _aware(value: datetime) -> datetime:
    result = UtcDateTime().process_result_value(value, None)  # type: ignore[arg-type]
    assert result is not None
    return result
