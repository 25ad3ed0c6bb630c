"""Drafts: what a mapper makes of a raw record, and what the sink stores.

A ``Draft`` says where its record is, the external ids it brings (``own``), the records it
refers to (``refs``) and a ``build`` function that makes the records once the sink knows the
ids of a batch (``Ids``). Every record is built with the set of fields it *carries*: a field the
source does not have is not carried and is left alone on a stored record (absent is not
empty); a carried field that is empty clears the stored value.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from uuid import UUID

from pie.domain.model import (
    Account,
    Activity,
    Contact,
    Deal,
    EntityKind,
    StageTransition,
    Stakeholder,
    StakeholderRole,
    derive_id,
)

if TYPE_CHECKING:
    from pie.ports.repositories import Carried

T = TypeVar("T")
Key = tuple[EntityKind, str]  # (kind, external id)


class Problem(Exception):
    """What is wrong with one record: the field and the problem (and, if it is not the
    record's first line, the line)."""

    def __init__(self, field: str, problem: str, *, record: str | None = None) -> None:
        self.field, self.problem, self.record = field, problem, record
        super().__init__(f"{field}: {problem}")


@dataclass(slots=True)
class Rows(Generic[T]):
    """Records of one kind and, for each, the fields it carries (None: every field)."""

    items: list[T] = field(default_factory=list)
    fields: list[Carried] = field(default_factory=list)

    def add(self, item: T, carried: Carried = None) -> None:
        self.items.append(item)
        self.fields.append(carried)

    def extend(self, other: Rows[T]) -> None:
        self.items += other.items
        self.fields += other.fields

    def carried(self) -> list[Carried] | None:
        """``fields`` for ``upsert_many``: None when every record carries every field."""
        return self.fields if any(f is not None for f in self.fields) else None

    def __bool__(self) -> bool:
        return bool(self.items)


class Records:
    """The records of a draft, or of a batch of drafts: rows of each kind, and the records the
    source deleted or merged. A kind's rows are made when first asked for: most drafts make
    records of one kind, and a batch is the sum of thousands of drafts' records."""

    __slots__ = ("_rows", "deletes", "merges")

    def __init__(self) -> None:
        self._rows: dict[str, Rows[Any]] = {}
        #: records the source deleted: (kind, PIE id), deleted after the batch's upserts
        self.deletes: list[tuple[EntityKind, UUID]] = []
        #: records the source merged: (kind, duplicate's PIE id, survivor's PIE id); the
        #: duplicate's records move to the survivor and it is deleted (``pie.importing.merges``)
        self.merges: list[tuple[EntityKind, UUID, UUID]] = []

    def _of(self, kind: str) -> Rows[Any]:
        rows = self._rows.get(kind)
        if rows is None:
            rows = self._rows[kind] = Rows()
        return rows

    @property
    def accounts(self) -> Rows[Account]:
        return self._of("accounts")

    @property
    def contacts(self) -> Rows[Contact]:
        return self._of("contacts")

    @property
    def deals(self) -> Rows[Deal]:
        return self._of("deals")

    @property
    def stakeholders(self) -> Rows[Stakeholder]:
        return self._of("stakeholders")

    @property
    def activities(self) -> Rows[Activity]:
        return self._of("activities")

    @property
    def transitions(self) -> Rows[StageTransition]:
        return self._of("transitions")

    def extend(self, other: Records) -> None:
        for kind, rows in other._rows.items():
            self._of(kind).extend(rows)
        if other.deletes:
            self.deletes += other.deletes
        if other.merges:
            self.merges += other.merges


_NONE: Mapping[str, UUID] = {}  # no ids of a kind (never written to)


class Ids:
    """Ids by external id, for one batch: the batch's own records and the store's."""

    def __init__(self, tenant_id: UUID, source: str) -> None:
        self.tenant_id, self.source = tenant_id, source
        self.resolved: dict[EntityKind, dict[str, UUID]] = {}
        self.local: dict[Key, UUID] = {}

    def own(self, kind: EntityKind, external_id: str) -> UUID:
        """The id of a record this source brings: the stored one, or derived from the key."""
        known = self.local.get((kind, external_id))  # set by the sink just before build
        if known is not None:
            return known
        found = self.resolved.get(kind, _NONE).get(external_id)
        return found or derive_id(self.tenant_id, kind, self.source, external_id)

    def ref(self, kind: EntityKind, external_id: str) -> UUID | None:
        known = self.local.get((kind, external_id))
        return known or self.resolved.get(kind, _NONE).get(external_id)

    def need(self, kind: EntityKind, external_id: str, field: str) -> UUID:
        ident = self.ref(kind, external_id)
        if ident is None:
            raise Problem(
                field,
                f"refers to {kind.value} {external_id!r}, which is neither earlier in the "
                "source nor in the store",
            )
        return ident


@dataclass(slots=True, kw_only=True)
class Draft:
    kind: EntityKind
    record: str  # "line 12", "deals[3]"
    record_id: str
    build: Callable[[Ids], Records]
    own: Sequence[Key] = ()
    refs: Sequence[tuple[EntityKind, str, str]] = ()  # (kind, external id, field)
    #: records looked up if they are stored, not required (``Ids.ref`` may give None)
    lookups: Sequence[Key] = ()
    digest: str | None = None  # the source record's digest, kept on the ref of (kind, record_id)
    #: other external ids that now name this record (ids merged into it): their refs are
    #: pointed at it
    aliases: Sequence[Key] = ()


def account_draft(where: str, ext: str, account: Account, carried: Carried) -> Draft:
    """The draft of one account (``ext``, its source id), which refers to nothing: the same
    for every source family's mapper."""

    def build(ids: Ids) -> Records:
        account.id, account.tenant_id = ids.own(EntityKind.ACCOUNT, ext), ids.tenant_id
        out = Records()
        out.accounts.add(account, carried)
        return out

    return Draft(
        kind=EntityKind.ACCOUNT,
        record=where,
        record_id=ext,
        build=build,
        own=[(EntityKind.ACCOUNT, ext)],
    )


def contact_draft(
    where: str,
    ext: str,
    contact: Contact,
    carried: Carried,
    *,
    account: str | None,
    account_field: str,
) -> Draft:
    """The draft of one contact, which must find its account (source id ``account``, read
    from ``account_field``) when it names one."""

    def build(ids: Ids) -> Records:
        contact.id, contact.tenant_id = ids.own(EntityKind.CONTACT, ext), ids.tenant_id
        if account:
            contact.account_id = ids.need(EntityKind.ACCOUNT, account, account_field)
        out = Records()
        out.contacts.add(contact, carried)
        return out

    return Draft(
        kind=EntityKind.CONTACT,
        record=where,
        record_id=ext,
        build=build,
        own=[(EntityKind.CONTACT, ext)],
        refs=[(EntityKind.ACCOUNT, account, account_field)] if account else [],
    )


def deal_stakeholder(
    ids: Ids,
    deal: Deal,
    contact_id: UUID,
    *,
    created_at: datetime,
    updated_at: datetime,
    roles: tuple[StakeholderRole, ...] = (),
    is_primary: bool = False,
    sentiment: float | None = None,
    engagement: float | None = None,
) -> Stakeholder:
    """A contact's place on a deal's political map, as a source's deal names it: its id derived
    from the deal and the contact, so every sync of that deal finds the same stakeholder."""
    return Stakeholder(
        id=derive_id(ids.tenant_id, EntityKind.STAKEHOLDER, deal.id, contact_id),
        tenant_id=ids.tenant_id,
        account_id=deal.account_id,
        deal_id=deal.id,
        contact_id=contact_id,
        roles=roles,
        is_primary=is_primary,
        sentiment=sentiment,
        engagement=engagement,
        created_at=created_at,
        updated_at=updated_at,
    )


def _blake2b_64(external_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(external_id.encode(), digest_size=8).digest())


_NO_HASHES: frozenset[int] = frozenset()


class SeenIds:
    """External ids already met in a source, per kind, kept as 64-bit hashes so a file with
    millions of records needs tens of megabytes, not hundreds (Python's own string hash where
    it has 64 bits: computed in C and kept on the string)."""

    def __init__(self) -> None:
        self._seen: dict[EntityKind, set[int]] = {}
        self._count = 0

    _h = staticmethod(hash if sys.hash_info.width >= 64 else _blake2b_64)

    def add(self, kind: EntityKind, external_id: str) -> bool:
        """Remember the id; False if it was met before."""
        seen = self._seen.get(kind)
        if seen is None:
            seen = self._seen[kind] = set()
        size = len(seen)
        seen.add(self._h(external_id))
        if len(seen) == size:
            return False
        self._count += 1
        return True

    def __len__(self) -> int:
        return self._count

    def among(self, kind: EntityKind, external_ids: Iterable[str]) -> list[str]:
        """Those of ``external_ids`` (of ``kind``) met already."""
        seen, h = self._seen.get(kind, _NO_HASHES), self._h
        return [ext for ext in external_ids if h(ext) in seen]

    def __contains__(self, key: Key) -> bool:
        return self._h(key[1]) in self._seen.get(key[0], set())
