"""Repository ports. Every repository is bound to one tenant by the unit of work that made it;
it never sees or touches another tenant's rows. Repositories never commit.

``upsert_many`` is the bulk, idempotent write used by imports: records are keyed by ``id``
(imports derive ids from (tenant, kind, source, external id) with ``derive_id``); a record
that does not exist is created, one that exists is updated in the fields the write *carries*
(``fields``; absent is not empty, an empty carried value clears) where the ownership policy
lets ``origin`` replace the stored value (see ``pie.domain.ownership``), and one whose carried
fields equal the stored ones is left alone (``updated_at`` is not compared). The returned counts
say which happened, and list the field writes the policy refused.

Every write that changes a record increments its version (accounts, contacts, deals,
stakeholders) and appends a ``Change`` to the tenant's change feed in the same transaction.
``external_ids`` on the records is filled from the external refs on read and ignored on write.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol, TypeVar
from uuid import UUID

from pie.domain.model import (
    Account,
    Activity,
    Contact,
    Deal,
    EntityKind,
    ExternalRef,
    StageTransition,
    Stakeholder,
)
from pie.domain.ownership import PIE, Kept, OwnershipPolicy
from pie.domain.plans import AccountPlan, AccountPlanData, OpportunityPlan, OpportunityPlanData
from pie.domain.stages import Stage

T = TypeVar("T")


#: Per record, the names of the fields a write carries; None: every field.
Carried = frozenset[str] | None


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    kept: tuple[Kept, ...] = ()  # field writes the ownership policy refused

    def __add__(self, other: UpsertCounts) -> UpsertCounts:
        return UpsertCounts(
            self.created + other.created,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
            self.kept + other.kept,
        )


@dataclass(frozen=True, slots=True)
class Change:
    """One committed change of one record: ``fields`` maps each changed field to
    ``[old, new]`` (JSON values); ``op`` is create, update or delete. ``seq`` orders a tenant's
    changes in commit order."""

    seq: int
    entity: EntityKind
    entity_id: UUID
    op: str
    version: int
    origin: str
    fields: dict[str, list[Any]]
    at: datetime


@dataclass(frozen=True, slots=True)
class Cursor:
    """How far a source's stream was read, as of the commit that stored what it covers."""

    source: str
    stream: str
    value: str
    committed_at: datetime


@dataclass(frozen=True, slots=True)
class CachedModel:
    key: str  # the fitting options' key
    change_seq: int  # the tenant's latest change when the model was fitted
    payload: bytes
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class DealFilter:
    stages: tuple[Stage, ...] = ()
    account_id: UUID | None = None
    is_open: bool | None = None  # None: open and closed
    name_contains: str | None = None


class Repository(Protocol[T]):
    async def get(self, ident: UUID) -> T | None: ...

    async def add(self, item: T, *, origin: str = PIE) -> None:
        """Insert a new record; the id must be new."""

    async def update(
        self,
        item: T,
        *,
        origin: str = PIE,
        expected_version: int | None = None,
        fields: Carried = None,
    ) -> UpsertCounts:
        """Write ``item``'s ``fields`` (all by default) over the stored record, as ``origin``.
        Raises NotFound if there is none, StaleVersion if ``expected_version`` is given and
        the stored version differs (someone else wrote in between)."""
        ...

    async def delete(self, ident: UUID, *, origin: str = PIE) -> bool:
        """Delete by id (and the rows that belong to it); False if there was none."""

    async def upsert_many(
        self,
        items: Sequence[T],
        *,
        origin: str = PIE,
        fields: Sequence[Carried] | None = None,
    ) -> UpsertCounts:
        """``fields[i]``: the fields ``items[i]`` carries (None: all)."""
        ...

    def iter_all(self, *, batch_size: int = 5000) -> AsyncIterator[Sequence[T]]:
        """Every record of the tenant, in batches, ordered by id."""
        ...


class Provenanced(Protocol):
    async def provenance(self, ident: UUID) -> dict[str, list[str]]:
        """Per field, ``[origin, when]`` of the write that set its current value ({} for a
        record that is not there)."""
        ...


class AccountRepository(Repository[Account], Provenanced, Protocol):
    async def list(self, *, limit: int = 100, offset: int = 0) -> Sequence[Account]: ...

    async def count(self) -> int: ...


class ContactRepository(Repository[Contact], Provenanced, Protocol):
    async def for_account(self, account_id: UUID) -> Sequence[Contact]: ...


class StakeholderRepository(Repository[Stakeholder], Provenanced, Protocol):
    async def for_deal(self, deal_id: UUID) -> Sequence[Stakeholder]: ...

    async def for_account(self, account_id: UUID) -> Sequence[Stakeholder]: ...


class DealRepository(Repository[Deal], Provenanced, Protocol):
    async def list(
        self, flt: DealFilter = DealFilter(), *, limit: int = 100, offset: int = 0
    ) -> Sequence[Deal]:
        """Deals matching ``flt``, newest first (created_at desc, then id)."""
        ...

    async def count(self, flt: DealFilter = DealFilter()) -> int: ...

    async def get_many(self, idents: Sequence[UUID]) -> dict[UUID, Deal]:
        """The deals of ``idents`` by id, as ``get`` gives them; ids the tenant has no deal
        for are left out."""
        ...

    async def find_matching(
        self, *, account_id: UUID, product_line: str | None, expected_close: date | None
    ) -> Deal | None:
        """An open deal that is the same deal (see ``pie.domain.dedup``), or None."""
        ...


class ActivityRepository(Repository[Activity], Protocol):
    async def for_deal(self, deal_id: UUID) -> Sequence[Activity]:
        """Oldest first."""
        ...


class StageTransitionRepository(Repository[StageTransition], Protocol):
    async def for_deal(self, deal_id: UUID) -> Sequence[StageTransition]:
        """Oldest first."""
        ...


class RecordBatch(Protocol):
    """One bulk write of records of several kinds as one origin: ``upsert_many`` of each kind
    added, in the order added, with the change rows of them all appended in one go (numbered
    as one write after another would number them). Taken in two steps so that a caller can
    make the next batch ready while another is being stored (``UnitOfWork.overlaps_writes``):
    ``add`` does only what needs no store, ``store`` reads and writes."""

    async def add(
        self,
        kind: EntityKind,
        items: Sequence[Any],
        *,
        fields: Sequence[Carried] | None = None,
        new: bool = False,
    ) -> None:
        """``items`` of ``kind`` for the write; ``fields`` as for ``upsert_many``. With
        ``new`` (the records are expected to be new to the store, as in a first load) a store
        may make their creation ready now: ``store`` then writes it as it is if the store
        holds none of them, and otherwise as ``upsert_many`` would."""
        ...

    async def add_refs(self, refs: Sequence[ExternalRef]) -> None:
        """Refs for ``ExternalRefRepository.add_many``, stored after the records."""
        ...

    async def store(self) -> list[tuple[EntityKind, UpsertCounts]]:
        """Write what was added; the counts of each ``add``, in order."""
        ...


class ExternalRefRepository(Protocol):
    async def resolve(
        self, kind: EntityKind, source: str, external_ids: Sequence[str]
    ) -> dict[str, UUID]:
        """The PIE ids of those external ids that are known (unknown ones are left out)."""
        ...

    async def digests(
        self, kind: EntityKind, source: str, external_ids: Sequence[str]
    ) -> dict[str, str]:
        """The stored digests of those external ids that have one."""
        ...

    async def any_from(self, source: str) -> bool:
        """Whether the tenant has any record from ``source``."""
        ...

    async def of_source(self, kind: EntityKind, source: str) -> dict[str, UUID]:
        """Every external id of ``kind`` from ``source`` and the PIE id it points to: the
        records of that source the store holds (refs live and die with their records)."""
        ...

    async def upsert_many(self, refs: Sequence[ExternalRef]) -> UpsertCounts:
        """A ref is written when it is new, points elsewhere now, or brings a new digest (a
        ref without one keeps the stored digest)."""
        ...

    async def add_many(self, refs: Sequence[ExternalRef]) -> None:
        """Store refs that ``resolve`` found absent earlier in this transaction, without
        looking them up again (a later duplicate wins); one that exists after all (written by
        someone else meanwhile) is a Conflict."""
        ...

    async def for_entity(self, kind: EntityKind, entity_id: UUID) -> Sequence[ExternalRef]: ...


class PlanRepository(Protocol):
    async def get_account_plan(self, account_id: UUID) -> AccountPlan | None: ...

    async def save_account_plan(
        self, account_id: UUID, data: AccountPlanData, *, expected_version: int
    ) -> AccountPlan:
        """Write version ``expected_version + 1``. ``expected_version`` is the version the caller
        read (0 when there was no plan). Raises StaleVersion if the stored version differs."""
        ...

    async def get_opportunity_plan(self, deal_id: UUID) -> OpportunityPlan | None: ...

    async def save_opportunity_plan(
        self, deal_id: UUID, data: OpportunityPlanData, *, expected_version: int
    ) -> OpportunityPlan: ...


class CursorRepository(Protocol):
    async def get(self, source: str, stream: str) -> Cursor | None: ...

    async def save(self, source: str, stream: str, value: str) -> None:
        """Store the position in the caller's transaction (so it commits with the data)."""
        ...


class ChangeFeed(Protocol):
    async def latest(self) -> int:
        """The tenant's newest change seq; 0 when it has none."""
        ...

    async def list(
        self, *, since: int = 0, entity: EntityKind | None = None, limit: int = 100
    ) -> Sequence[Change]:
        """Changes with seq > ``since``, oldest first."""
        ...


class ModelCacheRepository(Protocol):
    async def get(self, key: str) -> CachedModel | None: ...

    async def put(self, key: str, change_seq: int, payload: bytes) -> None: ...


class PolicyRepository(Protocol):
    async def get(self) -> OwnershipPolicy:
        """The tenant's ownership policy (the default when none was set)."""
        ...

    async def save(self, policy: OwnershipPolicy) -> None: ...
