"""The store step of an import: drafts in, chunks of records out through the unit of work.

Readers turn each record of a file into a ``Draft``: where it is, the external ids it brings
(``own``), the records it refers to (``refs``) and a ``build`` function. The ``Sink`` collects
drafts into chunks; for each chunk it resolves external ids against the store in one call per
kind (records of earlier chunks are already written, inside the same transaction), builds the
records and writes them with ``upsert_many``, with an ExternalRef for every external id. A record
may only refer to records earlier in the file or already in the store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from pie.domain.errors import InvalidInput
from pie.domain.model import (
    Account,
    Activity,
    Contact,
    Deal,
    EntityKind,
    ExternalRef,
    StageTransition,
    Stakeholder,
    derive_id,
)
from pie.importing.report import Rejected, Tally
from pie.ports.uow import UnitOfWork

DEFAULT_CHUNK_SIZE = 5000

Key = tuple[EntityKind, str]  # (kind, external id)


class Problem(Exception):
    """What is wrong with one record: the field and the problem (and, if it is not the
    record's first line, the line)."""

    def __init__(self, field: str, problem: str, *, record: str | None = None) -> None:
        self.field, self.problem, self.record = field, problem, record
        super().__init__(f"{field}: {problem}")


@dataclass(slots=True)
class Records:
    accounts: list[Account] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)
    deals: list[Deal] = field(default_factory=list)
    stakeholders: list[Stakeholder] = field(default_factory=list)
    activities: list[Activity] = field(default_factory=list)
    transitions: list[StageTransition] = field(default_factory=list)

    def extend(self, other: Records) -> None:
        self.accounts += other.accounts
        self.contacts += other.contacts
        self.deals += other.deals
        self.stakeholders += other.stakeholders
        self.activities += other.activities
        self.transitions += other.transitions


class Ids:
    """Ids by external id, for one chunk: the chunk's own records and the store's."""

    def __init__(self, tenant_id: UUID, source: str) -> None:
        self.tenant_id, self.source = tenant_id, source
        self.resolved: dict[EntityKind, dict[str, UUID]] = {}
        self.local: dict[Key, UUID] = {}
        self.stored: dict[Key, Any] = {}

    def own(self, kind: EntityKind, external_id: str) -> UUID:
        """The id of a record this file brings: the stored one, or derived from the key."""
        known = self.local.get((kind, external_id))  # set by the sink just before build
        if known is not None:
            return known
        found = self.resolved.get(kind, {}).get(external_id)
        return found or derive_id(self.tenant_id, kind, self.source, external_id)

    def ref(self, kind: EntityKind, external_id: str) -> UUID | None:
        return self.local.get((kind, external_id)) or self.resolved.get(kind, {}).get(external_id)

    def need(self, kind: EntityKind, external_id: str, field: str) -> UUID:
        ident = self.ref(kind, external_id)
        if ident is None:
            raise Problem(
                field,
                f"refers to {kind.value} {external_id!r}, which is neither earlier in the file "
                "nor in the store",
            )
        return ident

    def stored_record(self, kind: EntityKind, external_id: str) -> Any:
        """The stored record, for drafts that asked for it with ``fetch``."""
        return self.stored.get((kind, external_id))


@dataclass(slots=True, kw_only=True)
class Draft:
    kind: EntityKind
    record: str  # "line 12", "deals[3]"
    record_id: str
    build: Callable[[Ids], Records]
    own: Sequence[Key] = ()
    refs: Sequence[tuple[EntityKind, str, str]] = ()  # (kind, external id, field)
    fetch: Sequence[Key] = ()  # stored records build wants to see (accounts, contacts)


class SeenIds:
    """External ids already met in the file, per kind, kept as 64-bit hashes so a file with
    millions of records needs tens of megabytes, not hundreds."""

    def __init__(self) -> None:
        self._seen: dict[EntityKind, set[int]] = {}

    @staticmethod
    def _h(external_id: str) -> int:
        return int.from_bytes(hashlib.blake2b(external_id.encode(), digest_size=8).digest())

    def add(self, kind: EntityKind, external_id: str) -> bool:
        """Remember the id; False if it was met before."""
        seen = self._seen.setdefault(kind, set())
        h = self._h(external_id)
        if h in seen:
            return False
        seen.add(h)
        return True

    def __contains__(self, key: Key) -> bool:
        return self._h(key[1]) in self._seen.get(key[0], set())


class Rejecter:
    """Raises InvalidInput for a bad record, or, with ``skip``, counts and lists it."""

    def __init__(self, file: str, tally: Tally, *, skip: bool) -> None:
        self.file, self.tally, self.skip = file, tally, skip

    def __call__(self, kind: EntityKind, record: str, record_id: str, problem: Problem) -> None:
        where = problem.record or record
        if not self.skip:
            label = f"{where} (id {record_id})" if record_id else where
            raise InvalidInput(problem.problem, source=self.file, record=label, field=problem.field)
        self.tally.skip(kind, Rejected(self.file, where, record_id, problem.field, problem.problem))


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
    ) -> None:
        self.uow, self.source, self.tally, self.reject = uow, source, tally, reject
        self.chunk_size, self.on_flush = chunk_size, on_flush
        self.halted = False  # set when the import will fail anyway: stop writing, keep reading
        self._drafts: list[Draft] = []

    async def put(self, draft: Draft) -> None:
        if self.halted:
            return
        self._drafts.append(draft)
        if len(self._drafts) >= self.chunk_size:
            await self.flush()

    async def flush(self) -> None:
        drafts, self._drafts = self._drafts, []
        if drafts and not self.halted:
            ids = await self._resolve(drafts)
            out, refs = self._build(drafts, ids)
            await self._write(out, refs)
        if self.on_flush:
            self.on_flush()

    async def _resolve(self, drafts: Sequence[Draft]) -> Ids:
        wanted: dict[EntityKind, set[str]] = {}
        for d in drafts:
            for kind, ext in d.own:
                wanted.setdefault(kind, set()).add(ext)
            for kind, ext, _ in d.refs:
                wanted.setdefault(kind, set()).add(ext)
        ids = Ids(self.uow.tenant_id, self.source)
        for kind, exts in wanted.items():
            ids.resolved[kind] = await self.uow.refs.resolve(kind, self.source, sorted(exts))
        for d in drafts:
            for kind, ext in d.fetch:
                if (ident := ids.resolved.get(kind, {}).get(ext)) is not None:
                    repo = self.uow.accounts if kind is EntityKind.ACCOUNT else self.uow.contacts
                    ids.stored[(kind, ext)] = await repo.get(ident)
        return ids

    def _build(self, drafts: Sequence[Draft], ids: Ids) -> tuple[Records, list[ExternalRef]]:
        out, refs = Records(), []
        for d in drafts:
            mine = {key: ids.own(*key) for key in d.own}
            ids.local.update(mine)
            try:
                for kind, ext, field_name in d.refs:
                    ids.need(kind, ext, field_name)
                built = d.build(ids)
            except Problem as problem:
                for key in mine:
                    ids.local.pop(key, None)
                self.reject(d.kind, d.record, d.record_id, problem)
                continue
            out.extend(built)
            refs += [
                ExternalRef(
                    tenant_id=self.uow.tenant_id,
                    kind=kind,
                    source=self.source,
                    external_id=ext,
                    entity_id=ident,
                )
                for (kind, ext), ident in mine.items()
            ]
        return out, refs

    async def _write(self, out: Records, refs: list[ExternalRef]) -> None:
        uow, tally = self.uow, self.tally
        if out.accounts:
            tally.add(EntityKind.ACCOUNT, await uow.accounts.upsert_many(out.accounts))
        if out.contacts:
            tally.add(EntityKind.CONTACT, await uow.contacts.upsert_many(out.contacts))
        if out.deals:
            tally.add(EntityKind.DEAL, await uow.deals.upsert_many(out.deals))
        if out.stakeholders:
            tally.add(EntityKind.STAKEHOLDER, await uow.stakeholders.upsert_many(out.stakeholders))
        if out.activities:
            tally.add(EntityKind.ACTIVITY, await uow.activities.upsert_many(out.activities))
        if out.transitions:
            tally.add(
                EntityKind.STAGE_TRANSITION, await uow.transitions.upsert_many(out.transitions)
            )
        if refs:
            await uow.refs.upsert_many(refs)
