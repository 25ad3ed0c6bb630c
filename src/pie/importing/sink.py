"""The load stage: drafts in, batches of records out through the unit of work.

The ``Sink`` collects drafts into batches; for each batch it resolves external ids against the
store in one call per kind (records of earlier batches are already written, inside the same
transaction), builds the records and writes them with ``upsert_many`` as the source's origin,
each with the fields it carries, and an ExternalRef for every external id it brings. A record
may only refer to records earlier in the source or already in the store. When the store held
nothing of the source as the run began (a first load), the ids are resolved from the refs the
run itself wrote, without a query, until a batch deletes, merges or re-points one.

For a resumable source each batch is committed together with the positions its records
reached (``uow.cursors``); otherwise the caller commits once, at the end, and, on a store that
works outside the interpreter lock (``uow.overlaps_writes``: PostgreSQL), a batch's write runs
on while the caller reads, maps and (on a first load) builds the next records: the database
works on one batch while Python prepares the next. The unit of work serves one statement at
a time, so the write in flight is awaited (``settle``) before the store is used again, and
stopped (``abandon``) when the import fails.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar
from uuid import UUID

from pie.domain.errors import InvalidInput
from pie.domain.model import MERGED, EntityKind, ExternalRef, derive_id
from pie.importing.draft import Draft, Ids, Problem, Records, Rows, SeenIds
from pie.importing.merges import merge
from pie.importing.report import Rejected, Tally
from pie.ports.repositories import Repository, UpsertCounts
from pie.ports.uow import UnitOfWork, records_of

DEFAULT_CHUNK_SIZE = 5000
YIELD_EVERY = 4  # drafts built between turns of the event loop while a write is in flight
#: external ids a run remembers writing (about 60 bytes each) before it asks the store instead
MAX_WRITTEN = 2_000_000
#: drafts per batch when writes overlap reading: small enough for several batches to overlap
OVERLAP_CHUNK_SIZE = 1000
T = TypeVar("T")


@dataclass(slots=True)
class _Refs:
    new: list[ExternalRef] = field(default_factory=list)
    known: list[ExternalRef] = field(default_factory=list)


class Rejecter:
    """Raises InvalidInput for a bad record, or, with ``skip``, counts and lists it.
    ``labels`` renames fields as the user knows them (a CSV's header for an API field)."""

    def __init__(
        self, source: str, tally: Tally, *, skip: bool, labels: Mapping[str, str] | None = None
    ) -> None:
        self.source, self.tally, self.skip, self.labels = source, tally, skip, labels or {}

    def __call__(self, kind: EntityKind, record: str, record_id: str, problem: Problem) -> None:
        where = problem.record or record
        if problem.field in self.labels:
            problem = Problem(self.labels[problem.field], problem.problem, record=problem.record)
        if not self.skip:
            label = f"{where} (id {record_id})" if record_id else where
            raise InvalidInput(
                problem.problem, source=self.source, record=label, field=problem.field
            )
        self.tally.skip(
            kind, Rejected(self.source, where, record_id, problem.field, problem.problem)
        )


class Sink:
    def __init__(
        self,
        uow: UnitOfWork,
        *,
        source: str,
        tally: Tally,
        reject: Rejecter,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        on_flush: Callable[[], None] | None = None,
        resumable: bool = False,
    ) -> None:
        self.uow, self.source, self.tally, self.reject = uow, source, tally, reject
        self.chunk_size, self.on_flush, self.resumable = chunk_size, on_flush, resumable
        self.overlap = uow.overlaps_writes and not resumable
        if self.overlap:
            self.chunk_size = min(chunk_size, OVERLAP_CHUNK_SIZE)
        self.halted = False  # set when the import will fail anyway: stop writing, keep reading
        self.committed: dict[str, str] = {}  # stream -> the position committed last
        self._drafts: list[Draft] = []
        self._positions: dict[str, str] = {}
        self._pending: asyncio.Task[None] | None = None  # the write in flight
        #: whether the store held records of this source when the run began (None: not asked)
        self.stored_before: bool | None = None
        #: the external ids whose refs this run wrote, each to the id derived from it (None
        #: once a batch deleted, merged or re-pointed one, or there are too many to keep)
        self._written: SeenIds | None = SeenIds()

    def unchanged(self, kind: EntityKind) -> None:
        """A record the source sent exactly as it was stored last time: nothing to write."""
        self.tally.add(kind, UpsertCounts(unchanged=1))

    def advance(self, stream: str, position: str) -> None:
        """The stream reaches ``position`` once the drafts put so far are stored."""
        self._positions[stream] = position

    async def put(self, draft: Draft) -> None:
        if self.halted:
            return
        self._drafts.append(draft)
        if len(self._drafts) >= self.chunk_size:
            await self.flush()

    @property
    def writing(self) -> bool:
        """Whether a write is in flight (the caller should give it turns of the event loop)."""
        return self._pending is not None and not self._pending.done()

    async def flush(self) -> None:
        """Store the drafts put so far (and, for a resumable source, commit them with the
        positions they reach). With ``overlap`` the write is left running."""
        drafts, self._drafts = self._drafts, []
        built: tuple[Records, _Refs] | None = None
        if drafts and not self.halted:
            if self.stored_before is None:
                await self.settle()
                self.stored_before = await self.uow.refs.any_from(self.source)
            if self._written is not None and not self.stored_before:
                # No query: built while the write in flight (if any) runs on.
                built = await self._build(drafts, self._ids_written(drafts))
        await self.settle()
        if not self.halted:
            if drafts:
                out, refs = built or await self._build(drafts, await self._resolve(drafts))
                if self.overlap:
                    self._pending = asyncio.create_task(self._write(out, refs))
                else:
                    await self._write(out, refs)
            if self.resumable and self._positions:
                await self._checkpoint()
        if self.on_flush:
            self.on_flush()

    async def settle(self) -> None:
        """Wait for the write in flight; its error, if any, is raised here."""
        task, self._pending = self._pending, None
        if task is not None:
            await task

    async def close(self) -> None:
        """Store everything put, and wait for it."""
        await self.flush()
        await self.settle()

    async def abandon(self) -> None:
        """Stop the write in flight (the import failed: its transaction is rolled back)."""
        task, self._pending = self._pending, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task

    async def _checkpoint(self) -> None:
        positions, self._positions = self._positions, {}
        for stream, value in positions.items():
            await self.uow.cursors.save(self.source, stream, value)
        await self.uow.commit()
        self.committed.update(positions)

    async def _resolve(self, drafts: Sequence[Draft]) -> Ids:
        ids = Ids(self.uow.tenant_id, self.source)
        for kind, exts in _wanted(drafts).items():
            ids.resolved[kind] = await self.uow.refs.resolve(kind, self.source, sorted(exts))
        return ids

    def _ids_written(self, drafts: Sequence[Draft]) -> Ids:
        """What ``_resolve`` would find, without asking the store: used while the store's refs
        of this source are exactly those this run wrote (none were stored when it began, and
        no batch deleted, merged or re-pointed one), so each names the id derived from its
        external id. Refs of a batch still being written count as stored: every later
        statement runs after that write. The ids are remembered as 64-bit hashes
        (``SeenIds``, as the mappers' duplicate check): should a reference to a missing
        record collide with a written one (odds of about 1 in 10^13 for a million ids), it
        would name the id derived from it (refused by the foreign key where there is one)
        instead of being reported."""
        written = self._written
        assert written is not None
        tenant, source = self.uow.tenant_id, self.source
        ids = Ids(tenant, source)
        for kind, exts in _wanted(drafts).items():
            ids.resolved[kind] = {
                ext: derive_id(tenant, kind, source, ext) for ext in written.among(kind, exts)
            }
        return ids

    async def _build(self, drafts: Sequence[Draft], ids: Ids) -> tuple[Records, _Refs]:
        """The batch's records and their refs: ``new`` those of external ids the store did
        not hold when the batch was resolved, ``known`` the others (and aliases). Gives the
        write in flight its turns."""
        out, refs = Records(), _Refs()
        tenant, source, local, written = self.uow.tenant_id, self.source, ids.local, self._written
        for n, d in enumerate(drafts):
            if n % YIELD_EVERY == 0 and self.writing:
                await asyncio.sleep(0)  # let the write in flight take its next step
            mine = {key: ids.own(*key) for key in d.own}
            local.update(mine)
            try:
                for kind, ext, field_name in d.refs:
                    ids.need(kind, ext, field_name)
                built = d.build(ids)
            except Problem as problem:
                for key in mine:
                    local.pop(key, None)
                self.reject(d.kind, d.record, d.record_id, problem)
                continue
            out.extend(built)
            for (kind, ext), ident in mine.items():
                ref = ExternalRef(
                    tenant_id=tenant,
                    kind=kind,
                    source=source,
                    external_id=ext,
                    entity_id=ident,
                    digest=d.digest if kind == d.kind and ext == d.record_id else None,
                )
                stored = ids.resolved.get(kind)
                (refs.known if stored and ext in stored else refs.new).append(ref)
                if written is not None:
                    written.add(kind, ext)
            if d.aliases:  # ids merged into this record now name it
                me = ids.own(d.kind, d.record_id)
                refs.known += [
                    ExternalRef(
                        tenant_id=self.uow.tenant_id,
                        kind=kind,
                        source=self.source,
                        external_id=ext,
                        entity_id=me,
                        digest=MERGED,
                    )
                    for kind, ext in d.aliases
                ]
        if (
            out.deletes
            or out.merges
            or any(d.aliases for d in drafts)
            or (self._written is not None and len(self._written) > MAX_WRITTEN)
        ):
            self._written = None  # ask the store from now on
        return out, refs

    async def _write(self, out: Records, refs: _Refs) -> None:
        uow = self.uow
        await self._upsert(EntityKind.ACCOUNT, uow.accounts, out.accounts)
        await self._upsert(EntityKind.CONTACT, uow.contacts, out.contacts)
        await self._upsert(EntityKind.DEAL, uow.deals, out.deals)
        await self._upsert(EntityKind.STAKEHOLDER, uow.stakeholders, out.stakeholders)
        await self._upsert(EntityKind.ACTIVITY, uow.activities, out.activities)
        await self._upsert(EntityKind.STAGE_TRANSITION, uow.transitions, out.transitions)
        if refs.new:
            await uow.refs.add_many(refs.new)
        if refs.known:
            await uow.refs.upsert_many(refs.known)
        # after the refs: a deleted record takes its refs along
        await self._delete(out.deletes, out.merges)

    async def _delete(
        self,
        deletes: Sequence[tuple[EntityKind, UUID]],
        merges: Sequence[tuple[EntityKind, UUID, UUID]] = (),
    ) -> None:
        """Records the source deleted, through the repositories as the source's origin (the
        change feed gets a delete); one the store does not have is no error, so deleting again
        is a no-op. The store deletes a record's external refs with it (and its children's):
        ``external_refs`` holds live records only, so a delete leaves no tombstone. A
        duplicate the source merged into another record is merged, then deleted
        (``pie.importing.merges``)."""
        uow = self.uow
        if merges:
            for kind in await merge(uow, merges, origin=self.source):
                self.tally.delete(kind)
        for kind, ident in deletes:
            if await records_of(uow, kind).delete(ident, origin=self.source):
                self.tally.delete(kind)

    async def _upsert(self, kind: EntityKind, repo: Repository[T], rows: Rows[T]) -> None:
        if rows:
            counts = await repo.upsert_many(rows.items, origin=self.source, fields=rows.carried())
            self.tally.add(kind, counts)


def _wanted(drafts: Sequence[Draft]) -> dict[EntityKind, set[str]]:
    """The external ids a batch names, per kind: its own, those it refers to or looks up."""
    wanted: dict[EntityKind, set[str]] = {}
    for d in drafts:
        for kind, ext in d.own:
            wanted.setdefault(kind, set()).add(ext)
        for kind, ext, _ in d.refs:
            wanted.setdefault(kind, set()).add(ext)
        for kind, ext in d.lookups:
            wanted.setdefault(kind, set()).add(ext)
    return wanted
