"""A tenant's connections to sources (a CRM's API) and the schedule of their syncs.

A connection names a vendor (its connector in ``pie.sources.registry``), where to reach it
(``base_url``; None: the vendor's own), how to authenticate (``auth`` flow and its plain
``settings``; the secret fields are in the credential store under ``credential``), and when to
sync (every ``schedule_minutes``, None: only when asked). ``last_result`` is what its last sync
did (a ``SyncResult`` as a dict).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

ACTIVE, PAUSED, FAILED = "active", "paused", "failed"
STATES = (ACTIVE, PAUSED, FAILED)


@dataclass(frozen=True, slots=True)
class Connection:
    id: UUID
    tenant_id: UUID
    vendor: str
    name: str
    base_url: str | None
    auth: str
    settings: Mapping[str, str]
    credential: str  # the name of its credential in the tenant's CredentialStore
    schedule_minutes: int | None
    state: str
    created_at: datetime
    updated_at: datetime
    next_run_at: datetime | None = None
    last_job_id: str | None = None
    last_sync_at: datetime | None = None
    last_result: Mapping[str, Any] | None = field(default=None, compare=False)


class ConnectionStore(Protocol):
    """One tenant's connections. Each call is its own transaction."""

    async def add(self, connection: Connection) -> Connection:
        """Conflict if the tenant has a connection of that name already."""
        ...

    async def get(self, connection_id: UUID) -> Connection | None: ...

    async def by_name(self, name: str) -> Connection | None: ...

    async def list(self) -> Sequence[Connection]:
        """Every connection of the tenant, by name."""
        ...

    async def save(self, connection: Connection) -> Connection:
        """Store the connection's changed fields (NotFound if it is gone)."""
        ...

    async def delete(self, connection_id: UUID) -> bool: ...


@dataclass(frozen=True, slots=True)
class DueSync:
    tenant_id: UUID
    connection_id: UUID
    due_at: datetime


class SyncSchedule(Protocol):
    """The schedules of every tenant's connections (used by the job scheduler only)."""

    async def claim_due(self, now: datetime) -> Sequence[DueSync]:
        """The connections whose next scheduled sync is due at ``now``, each moved on to its
        next time (``now + schedule``) in the same step, so two schedulers running at once
        never claim the same run."""
        ...
