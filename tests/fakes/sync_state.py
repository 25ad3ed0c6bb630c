"""In-memory ``SyncStateRepository`` for the in-memory unit of work (tests/fakes/uow.py keeps
its tables in ``Tables.sync`` and snapshots them per transaction)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from uuid import UUID

from pie.domain.crm_fields import RecordKind
from pie.ports.sync import Conflict, Link, SyncState, Value


@dataclass
class SyncTables:
    states: dict[str, SyncState] = field(default_factory=dict)
    links: dict[tuple[str, RecordKind, UUID], Link] = field(default_factory=dict)
    base: dict[tuple[str, RecordKind, UUID], dict[str, Value]] = field(default_factory=dict)
    log: list[tuple[str, Conflict]] = field(default_factory=list)

    def snapshot(self) -> SyncTables:
        return SyncTables(
            dict(self.states),
            dict(self.links),
            {k: dict(v) for k, v in self.base.items()},
            list(self.log),
        )


class FakeSyncStateRepository:
    def __init__(self, tables: SyncTables, clock: Callable[[], datetime]) -> None:
        self._t, self._clock = tables, clock

    async def state(self, connection: str) -> SyncState:
        return self._t.states.get(connection, SyncState())

    async def save_state(self, connection: str, state: SyncState) -> None:
        self._t.states[connection] = copy.deepcopy(state)

    async def link(self, connection: str, kind: RecordKind, pie_id: UUID) -> Link | None:
        return self._t.links.get((connection, kind, pie_id))

    async def link_by_external(
        self, connection: str, kind: RecordKind, external_id: str
    ) -> Link | None:
        for (conn, k, _), link in self._t.links.items():
            if conn == connection and k is kind and link.external_id == external_id:
                return link
        return None

    async def links(self, connection: str, kind: RecordKind) -> Sequence[Link]:
        found = [v for (c, k, _), v in self._t.links.items() if c == connection and k is kind]
        return sorted(found, key=lambda link: str(link.pie_id))

    async def save_link(self, connection: str, link: Link) -> None:
        other = await self.link_by_external(connection, link.kind, link.external_id)
        if other is not None and other.pie_id != link.pie_id:
            raise AssertionError(f"external id {link.external_id} is linked twice")
        self._t.links[(connection, link.kind, link.pie_id)] = link

    async def base(self, connection: str, kind: RecordKind, pie_id: UUID) -> dict[str, Value]:
        return dict(self._t.base.get((connection, kind, pie_id), {}))

    async def bases(
        self, connection: str, kind: RecordKind, pie_ids: Sequence[UUID]
    ) -> dict[UUID, dict[str, Value]]:
        return {
            i: dict(self._t.base[(connection, kind, i)])
            for i in pie_ids
            if (connection, kind, i) in self._t.base
        }

    async def save_base(
        self, connection: str, kind: RecordKind, pie_id: UUID, values: Mapping[str, Value]
    ) -> None:
        self._t.base.setdefault((connection, kind, pie_id), {}).update(values)

    async def log_conflicts(self, connection: str, conflicts: Sequence[Conflict]) -> int:
        added = 0
        for c in conflicts:
            key = (c.kind, c.pie_id, c.field, c.divergence)
            if any(
                conn == connection and (x.kind, x.pie_id, x.field, x.divergence) == key
                for conn, x in self._t.log
            ):
                continue
            self._t.log.append(
                (connection, replace(c, id=len(self._t.log) + 1, at=c.at or self._clock()))
            )
            added += 1
        return added

    async def conflicts(
        self, connection: str, *, after_id: int = 0, limit: int = 100
    ) -> Sequence[Conflict]:
        found = [c for conn, c in self._t.log if conn == connection and c.id > after_id]
        return found[:limit]

    async def count_conflicts(self, connection: str) -> int:
        return sum(1 for conn, _ in self._t.log if conn == connection)
