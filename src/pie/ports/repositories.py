"""Repository ports. Every repository is bound to one tenant by the unit of work that made it;
it never sees or touches another tenant's rows. Repositories never commit.

``upsert_many`` is the bulk, idempotent write used by imports: records are keyed by ``id``
(imports derive ids from (tenant, kind, source, external id) with ``derive_id``); a record
that does not exist is created, one that exists with different business fields is updated, one
that exists with the same fields is left alone (``updated_at`` is not compared). The returned
counts say which happened.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol, TypeVar
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
from pie.domain.plans import AccountPlan, AccountPlanData, OpportunityPlan, OpportunityPlanData
from pie.domain.stages import Stage

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def __add__(self, other: UpsertCounts) -> UpsertCounts:
        return UpsertCounts(
            self.created + other.created,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DealFilter:
    stages: tuple[Stage, ...] = ()
    account_id: UUID | None = None
    is_open: bool | None = None  # None: open and closed
    name_contains: str | None = None


class Repository(Protocol[T]):
    async def get(self, ident: UUID) -> T | None: ...

    async def add(self, item: T) -> None:
        """Insert a new record; the id must be new."""

    async def update(self, item: T) -> None:
        """Overwrite an existing record by id; raises NotFound if there is none."""

    async def delete(self, ident: UUID) -> bool:
        """Delete by id (and the rows that belong to it); False if there was none."""

    async def upsert_many(self, items: Sequence[T]) -> UpsertCounts: ...

    def iter_all(self, *, batch_size: int = 5000) -> AsyncIterator[Sequence[T]]:
        """Every record of the tenant, in batches, ordered by id."""
        ...


class AccountRepository(Repository[Account], Protocol):
    async def list(self, *, limit: int = 100, offset: int = 0) -> Sequence[Account]: ...

    async def count(self) -> int: ...


class ContactRepository(Repository[Contact], Protocol):
    async def for_account(self, account_id: UUID) -> Sequence[Contact]: ...


class StakeholderRepository(Repository[Stakeholder], Protocol):
    async def for_deal(self, deal_id: UUID) -> Sequence[Stakeholder]: ...

    async def for_account(self, account_id: UUID) -> Sequence[Stakeholder]: ...


class DealRepository(Repository[Deal], Protocol):
    async def list(
        self, flt: DealFilter = DealFilter(), *, limit: int = 100, offset: int = 0
    ) -> Sequence[Deal]:
        """Deals matching ``flt``, newest first (created_at desc, then id)."""
        ...

    async def count(self, flt: DealFilter = DealFilter()) -> int: ...

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


class ExternalRefRepository(Protocol):
    async def resolve(
        self, kind: EntityKind, source: str, external_ids: Sequence[str]
    ) -> dict[str, UUID]:
        """The PIE ids of those external ids that are known (unknown ones are left out)."""
        ...

    async def upsert_many(self, refs: Sequence[ExternalRef]) -> UpsertCounts: ...

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
