"""The load stage: drafts in, batches of records out through the unit of work.

The ``Sink`` collects drafts into batches; for each batch it resolves external ids against the
store in one call per kind (records of earlier batches are already written, inside the same
transaction), builds the records and writes them through a ``RecordBatch`` (``upsert_many``
of each kind in turn) as the source's origin, each with the fields it carries, and an
ExternalRef for every external id it brings. A record
may only refer to records earlier in the source or already in the store. When the store held
nothing of the source as the run began (a first load), the ids are resolved from the refs the
run itself wrote, without a query, until a batch deletes, merges or re-points one.

For a resumable source each batch is committed together with the positions its records
reached (``uow.cursors``); otherwise the caller commits once, at the end, and, on a store that
works outside the interpreter lock (``uow.overlaps_writes``: PostgreSQL), a batch's write runs
on while the caller reads, maps and (on a first load) builds the next records and makes their
write ready: the database works on one batch while Python prepares the next. On a first load
up to ``WRITES_AHEAD`` writes are queued, each starting when the one before is through. The
unit of work serves one statement at a time, so the writes in flight are awaited (``settle``)
before the store is used otherwise, and stopped (``abandon``) when the import fails.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from uuid import UUID

from pie.domain.errors import InvalidInput
from pie.domain.model import MERGED, EntityKind, ExternalRef, derive_id
from pie.importing.draft import Draft, Ids, Problem, Records, SeenIds
from pie.importing.merges import merge
from pie.importing.report import Rejected, Tally
from pie.ports.repositories import RecordBatch, UpsertCounts
from pie.ports.uow import UnitOfWork, records_of

DEFAULT_CHUNK_SIZE = 5000
YIELD_EVERY = 4  # drafts built between turns of the event loop while a write is in flight
#: external ids a run remembers writing (about 60 bytes each) before it asks the store instead
MAX_WRITTEN = 2_000_000
#: drafts per batch when writes overlap reading: small enough for several batches to overlap
OVERLAP_CHUNK_SIZE = 1000
#: writes in flight (one running, the next waiting) before a first load stops building more
WRITES_AHEAD = 2


@dataclass(slots=True)
class _Refs:
    new: list[ExternalRef] = field(default_factory=list)
    known: list[ExternalRef] = field(default_factory=list)


@dataclass(slots=True)
class _Built:
    """A batch built, its write handed to the store (made ready, for a first load)."""

    batch: RecordBatch
    records: Records
    refs: _Refs


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
        self._pending: list[asyncio.Task[None]] = []  # the writes in flight, in order
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
        return any(not task.done() for task in self._pending)

    async def flush(self) -> None:
        """Store the drafts put so far (and, for a resumable source, commit them with the
        positions they reach). With ``overlap`` the write is left running."""
        drafts, self._drafts = self._drafts, []
        built: _Built | None = None
        if drafts and not self.halted:
            if self.stored_before is None:
                await self.settle()
                self.stored_before = await self.uow.refs.any_from(self.source)
            if self._written is not None and not self.stored_before:
                # No query: built, and its write made ready, while the write in flight (if
                # any) runs on.
                out, refs = await self._build(drafts, self._ids_written(drafts))
                built = await self._ready(out, refs, new=True)
        if built is not None and self.overlap and not self.halted:
            await self._room()  # its write will follow those in flight
        else:
            await self.settle()
        if not self.halted:
            if drafts:
                if built is None:
                    out, refs = await self._build(drafts, await self._resolve(drafts))
                    built = await self._ready(out, refs, new=False)
                drafts = []  # built: the source's records they hold may go before the write
                if self.overlap:
                    after = self._pending[-1] if self._pending else None
                    self._pending.append(asyncio.create_task(self._write_after(after, built)))
                    await asyncio.sleep(0)  # a write not waiting sends its first statement now
                else:
                    await self._write(built)
            if self.resumable and self._positions:
                await self._checkpoint()
        if self.on_flush:
            self.on_flush()

    async def settle(self) -> None:
        """Wait for the writes in flight; the error of one, if any, is raised here."""
        while self._pending:
            await self._oldest()

    async def _room(self) -> None:
        """Wait until fewer than ``WRITES_AHEAD`` writes are in flight."""
        while self._pending and (self._pending[0].done() or len(self._pending) >= WRITES_AHEAD):
            await self._oldest()

    async def _oldest(self) -> None:
        task = self._pending.pop(0)
        try:
            await task
        except BaseException:
            await self.abandon()  # the later writes follow it: stop them
            raise

    async def close(self) -> None:
        """Store everything put, and wait for it."""
        await self.flush()
        await self.settle()

    async def abandon(self) -> None:
        """Stop the writes in flight (the import failed: its transaction is rolled back)."""
        tasks, self._pending = self._pending, []
        for task in tasks:
            task.cancel()
        for task in tasks:
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

    async def _ready(self, out: Records, refs: _Refs, *, new: bool) -> _Built:
        """The batch's records handed to a ``RecordBatch`` (``new``: expected new to the
        store, so their write can be made ready now), in the order they are written: a record
        refers only to kinds written before it."""
        batch = self.uow.batch(origin=self.source)
        for kind, rows in (
            (EntityKind.ACCOUNT, out.accounts),
            (EntityKind.CONTACT, out.contacts),
            (EntityKind.DEAL, out.deals),
            (EntityKind.STAKEHOLDER, out.stakeholders),
            (EntityKind.ACTIVITY, out.activities),
            (EntityKind.STAGE_TRANSITION, out.transitions),
        ):
            if rows:
                await batch.add(kind, rows.items, fields=rows.carried(), new=new)
        if refs.new:
            await batch.add_refs(refs.new)
        return _Built(batch, out, refs)

    async def _write_after(self, previous: asyncio.Task[None] | None, built: _Built) -> None:
        """``built``'s write once ``previous`` is through: the unit of work serves one
        statement at a time, and writes go in the order of their batches."""
        if previous is not None:
            await previous
        await self._write(built)

    async def _write(self, built: _Built) -> None:
        uow, out, refs = self.uow, built.records, built.refs
        for kind, counts in await built.batch.store():
            self.tally.add(kind, counts)
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
