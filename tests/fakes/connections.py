"""In-memory connections and schedules, with the SQL adapter's semantics (unique names per
tenant, claims that never hand the same due run out twice)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta
from uuid import UUID

from pie.domain.errors import Conflict, NotFound
from pie.ports.connections import PAUSED, Connection, DueSync


class InMemoryConnections:
    def __init__(self) -> None:
        self.rows: dict[UUID, Connection] = {}

    def store(self, tenant_id: UUID) -> InMemoryConnectionStore:
        return InMemoryConnectionStore(self, tenant_id)

    async def claim_due(self, now: datetime) -> Sequence[DueSync]:
        claimed = []
        for c in sorted(self.rows.values(), key=lambda c: (c.next_run_at or now, c.name)):
            if c.schedule_minutes is None or c.state == PAUSED or c.next_run_at is None:
                continue
            if c.next_run_at <= now:
                self.rows[c.id] = dataclasses.replace(
                    c, next_run_at=now + timedelta(minutes=c.schedule_minutes)
                )
                claimed.append(DueSync(c.tenant_id, c.id, c.next_run_at))
        return claimed


class InMemoryConnectionStore:
    def __init__(self, db: InMemoryConnections, tenant_id: UUID) -> None:
        self._db, self.tenant_id = db, tenant_id

    def _mine(self) -> list[Connection]:
        return [c for c in self._db.rows.values() if c.tenant_id == self.tenant_id]

    async def add(self, connection: Connection) -> Connection:
        if connection.tenant_id != self.tenant_id:
            raise ValueError("the connection belongs to another tenant")
        if any(c.name == connection.name for c in self._mine()):
            raise Conflict(f"a connection named {connection.name!r} exists already")
        self._db.rows[connection.id] = connection
        return connection

    async def get(self, connection_id: UUID) -> Connection | None:
        c = self._db.rows.get(connection_id)
        return c if c is not None and c.tenant_id == self.tenant_id else None

    async def by_name(self, name: str) -> Connection | None:
        return next((c for c in self._mine() if c.name == name), None)

    async def list(self) -> list[Connection]:
        return sorted(self._mine(), key=lambda c: c.name)

    async def save(self, connection: Connection) -> Connection:
        if await self.get(connection.id) is None:
            raise NotFound(f"connection {connection.id}")
        if any(c.name == connection.name and c.id != connection.id for c in self._mine()):
            raise Conflict(f"a connection named {connection.name!r} exists already")
        self._db.rows[connection.id] = connection
        return connection

    async def delete(self, connection_id: UUID) -> bool:
        if await self.get(connection_id) is None:
            return False
        del self._db.rows[connection_id]
        return True
