"""The SQL ``RecordBatch``: a bulk write of several kinds of records, made ready ahead.

A batch of records expected to be new (``add(..., new=True)``, a first load) is made ready on
PostgreSQL before the store is read: their rows, versions, provenance and change rows
(``Writer.prepare``) and the rows as COPY sends them (``bulk.pg_records``). This is Python's
work, and it runs while the previous batch's statements run on the server. ``store`` then asks
once whether the store holds any of the batch's ids; if not (the usual case) it inserts what
was made ready, and otherwise writes each kind as ``upsert_many`` would (``Writer.write``, which
reads the stored rows and merges), so the outcome is the same either way. On SQLite, whose
driver holds the interpreter lock while it writes, nothing runs beside Python, so nothing is
made ready: ``store`` writes each kind with ``Writer.write``, but asks first, in one statement,
whether the store holds any of a new batch's ids, and if not, the writes read no stored rows.
Either way the batch's change rows are appended in one statement.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from pie.adapters.db import bulk
from pie.adapters.db.bulk import Row
from pie.adapters.db.repositories import REFS, SqlExternalRefRepository
from pie.adapters.db.writes import PREPARE_SLICE, Prepared, TableSpec, Writer
from pie.domain.model import EntityKind, ExternalRef
from pie.ports.repositories import Carried, UpsertCounts


@dataclass(slots=True)
class _Part:
    kind: EntityKind
    spec: TableSpec[Any]
    items: Sequence[Any]
    fields: Sequence[Carried] | None
    new: bool
    ready: Prepared[Any] | None = None
    records: list[tuple[Any, ...]] = field(default_factory=list)  # the creates, as COPYed
    changes: list[tuple[Any, ...]] = field(default_factory=list)  # their change rows, too


class SqlRecordBatch:
    def __init__(
        self,
        session: AsyncSession,
        tenant_id: UUID,
        writer: Writer,
        specs: Mapping[EntityKind, TableSpec[Any]],
        refs: SqlExternalRefRepository,
        *,
        origin: str,
        postgres: bool,
    ) -> None:
        self._session, self._tenant, self._writer = session, tenant_id, writer
        self._specs, self._origin, self._postgres = specs, origin, postgres
        self._refs_repo = refs
        self._parts: list[_Part] = []
        self._changes = 0  # change rows made ready so far
        self._refs: list[ExternalRef] = []
        self._ref_rows: list[Row] = []  # the refs' rows, made ready (PostgreSQL)
        self._ref_records: list[tuple[Any, ...]] = []  # and as COPY sends them

    async def add(
        self,
        kind: EntityKind,
        items: Sequence[Any],
        *,
        fields: Sequence[Carried] | None = None,
        new: bool = False,
    ) -> None:
        if not items:
            return
        part = _Part(kind, self._specs[kind], items, fields, new)
        if new and self._postgres:
            ready = await self._writer.prepare(part.spec, items, origin=self._origin, fields=fields)
            part.ready, creates, changes = ready, ready.plan.creates, ready.plan.changes
            for start in range(0, len(creates), PREPARE_SLICE):
                await asyncio.sleep(0)
                end = start + PREPARE_SLICE
                part.records += bulk.pg_records(part.spec.table, creates[start:end])
            for start in range(0, len(changes), PREPARE_SLICE):
                await asyncio.sleep(0)
                first = self._changes + start + 1
                end = start + PREPARE_SLICE
                part.changes += self._writer.ready_changes(changes[start:end], first)
            self._changes += len(changes)
        self._parts.append(part)

    async def add_refs(self, refs: Sequence[ExternalRef]) -> None:
        if not self._postgres:
            self._refs += refs
            return
        await asyncio.sleep(0)
        rows = self._refs_repo.new_rows(refs)
        self._ref_rows += rows
        for start in range(0, len(rows), PREPARE_SLICE):
            await asyncio.sleep(0)
            self._ref_records += bulk.pg_records(REFS, rows[start : start + PREPARE_SLICE])

    async def store(self) -> list[tuple[EntityKind, UpsertCounts]]:
        counts = await self._store_records()
        refs, self._refs = self._refs, []
        rows, records, self._ref_rows, self._ref_records = self._ref_rows, self._ref_records, [], []
        if refs:
            await self._refs_repo.add_many(refs)
        if rows:
            await bulk.insert_rows(self._session, REFS, rows, records=records)
        return counts

    async def _store_records(self) -> list[tuple[EntityKind, UpsertCounts]]:
        parts, self._parts, self._changes = self._parts, [], 0
        writer = self._writer
        if not self._postgres:
            new = bool(parts) and await self._none_stored(parts)
            async with writer.one_append():
                return [
                    (
                        part.kind,
                        await writer.write(
                            part.spec, part.items, origin=self._origin, fields=part.fields, new=new
                        ),
                    )
                    for part in parts
                ]
        if parts and await self._all_new(parts):
            out = []
            for part in parts:
                assert part.ready is not None
                plan = part.ready.plan
                await bulk.insert_rows(
                    self._session, part.spec.table, plan.creates, records=part.records
                )
                out.append((part.kind, UpsertCounts(len(plan.creates), 0, plan.unchanged)))
            await writer.append_ready([row for part in parts for row in part.changes])
            return out
        async with writer.one_append():
            return [
                (
                    part.kind,
                    await writer.write(
                        part.spec, part.items, origin=self._origin, fields=part.fields
                    ),
                )
                for part in parts
            ]

    async def _none_stored(self, parts: Sequence[_Part]) -> bool:
        """Whether every part was added as new and the store holds none of their ids (SQLite:
        the parts were not made ready)."""
        if not all(part.new for part in parts):
            return False
        wanted = [(part.spec.table, [item.id for item in part.items]) for part in parts]
        return not await bulk.any_stored(self._session, self._tenant, wanted)

    async def _all_new(self, parts: Sequence[_Part]) -> bool:
        """Whether every part was made ready and the store holds none of their ids."""
        ready = [part.ready for part in parts]
        if any(r is None for r in ready):
            return False
        wanted = [(r.spec.table, r.ids) for r in ready if r is not None]
        return not await bulk.any_stored(self._session, self._tenant, wanted)
