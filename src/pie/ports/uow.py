"""The unit of work: one transaction of one tenant, with its repositories.

async with container.uow(tenant_id) as uow:
    ...                       # reads and writes through uow.deals, uow.accounts, ...
    await uow.commit()        # the one place that commits; leaving without it rolls back
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, Self
from uuid import UUID

from pie.domain.model import EntityKind, Tenant
from pie.ports.columns import ColumnReader
from pie.ports.intelligence import IntelligenceRepository
from pie.ports.repositories import (
    AccountRepository,
    ActivityRepository,
    ChangeFeed,
    ContactRepository,
    CursorRepository,
    DealRepository,
    ExternalRefRepository,
    ModelCacheRepository,
    PlanRepository,
    PolicyRepository,
    RecordBatch,
    Repository,
    StageTransitionRepository,
    StakeholderRepository,
)
from pie.ports.sync import SyncStateRepository


class UnitOfWork(Protocol):
    """The repositories are read-only attributes (properties), so any object that has them,
    as plain attributes or properties, satisfies the protocol."""

    @property
    def tenant_id(self) -> UUID: ...
    @property
    def accounts(self) -> AccountRepository: ...
    @property
    def contacts(self) -> ContactRepository: ...
    @property
    def stakeholders(self) -> StakeholderRepository: ...
    @property
    def deals(self) -> DealRepository: ...
    @property
    def activities(self) -> ActivityRepository: ...
    @property
    def transitions(self) -> StageTransitionRepository: ...
    @property
    def refs(self) -> ExternalRefRepository: ...
    @property
    def plans(self) -> PlanRepository: ...
    @property
    def cursors(self) -> CursorRepository: ...
    @property
    def changes(self) -> ChangeFeed: ...
    @property
    def models(self) -> ModelCacheRepository: ...
    @property
    def policy(self) -> PolicyRepository: ...
    @property
    def intel(self) -> IntelligenceRepository: ...
    @property
    def sync(self) -> SyncStateRepository: ...
    @property
    def columns(self) -> ColumnReader: ...

    @property
    def overlaps_writes(self) -> bool:
        """Whether a bulk write may run on while the caller prepares the next one: True when
        the store works outside this process's interpreter lock (a database server); False
        for SQLite, whose driver takes the lock back for every row it writes."""
        ...

    def batch(self, *, origin: str) -> RecordBatch:
        """A new bulk write of records of several kinds, as ``origin`` (see ``RecordBatch``)."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc: object) -> None:
        """Roll back whatever was not committed and release the connection."""

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...


def records_of(uow: UnitOfWork, kind: EntityKind) -> Repository[Any]:
    """The repository that keeps records of ``kind`` (a source's deletes and merges name
    records by kind)."""
    repos: dict[EntityKind, Repository[Any]] = {
        EntityKind.ACCOUNT: uow.accounts,
        EntityKind.CONTACT: uow.contacts,
        EntityKind.DEAL: uow.deals,
        EntityKind.STAKEHOLDER: uow.stakeholders,
        EntityKind.ACTIVITY: uow.activities,
        EntityKind.STAGE_TRANSITION: uow.transitions,
    }
    return repos[kind]


@dataclass(frozen=True, slots=True)
class NewTenant:
    tenant: Tenant
    api_key: str  # shown once; only its hash is stored


@dataclass(frozen=True, slots=True)
class ApiKey:
    """What is kept of an API key besides its hash: its first characters, to tell keys apart."""

    prefix: str
    created_at: datetime
    revoked_at: datetime | None = None


class TenantDirectory(Protocol):
    """Tenants and their API keys: the only store access that is not scoped to one tenant."""

    async def create(self, name: str) -> NewTenant: ...

    async def list(self) -> Sequence[Tenant]:
        """Every tenant, by name. On PostgreSQL only the tables' owner may (NotConfigured
        otherwise): the app role sees one tenant at a time."""
        ...

    async def rename(self, tenant_id: UUID, name: str) -> Tenant:
        """TenantNotFound if there is no such tenant, Conflict if the name is taken."""
        ...

    async def issue_key(self, tenant_id: UUID) -> str:
        """A new API key for the tenant (the raw key, shown once)."""
        ...

    async def list_keys(self, tenant_id: UUID) -> Sequence[ApiKey]:
        """The tenant's keys, revoked ones included, oldest first."""
        ...

    async def revoke_key(self, tenant_id: UUID, key_or_prefix: str) -> ApiKey:
        """Revoke the tenant's live key given whole or by its shown prefix; from then on it
        authenticates nothing. NotFound if no live key matches, Conflict if a prefix matches
        more than one."""
        ...

    async def authenticate(self, api_key: str) -> UUID | None:
        """The tenant an API key belongs to, or None for an unknown or revoked key."""
        ...

    async def get(self, tenant_id: UUID) -> Tenant | None: ...

    async def find_by_name(self, name: str) -> Tenant | None: ...
