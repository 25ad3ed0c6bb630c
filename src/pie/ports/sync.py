"""The sync engine's own state, per tenant (the unit of work's) and CRM connection: links
(the external id map), base values (the last agreed value per record and field), the inbound
cursors and outbox position, and the conflict log. Part of the unit of work (``uow.sync``), so
it commits in the same transaction as the changes it describes. Repositories never commit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol
from uuid import UUID

from pie.domain.crm_fields import RecordKind

#: a normalised field value (see pie.ports.crm)
Value = str | float | None


class LinkStatus(StrEnum):
    LINKED = "linked"
    TRASHED = "trashed"  # trashed in the CRM: no longer synced (a tombstone)
    DELETED = "deleted"  # deleted in PIE, trashed in the CRM by the sync
    DETACHED = "detached"  # the CRM answered 404 (unshared?): not synced, nothing deleted


class ConnectionStatus(StrEnum):
    IDLE = "idle"
    OK = "ok"
    THROTTLED = "throttled"
    PAUSED = "paused"  # 401/403 or schema drift: needs a person


@dataclass(frozen=True, slots=True)
class Link:
    kind: RecordKind
    pie_id: UUID
    external_id: str
    status: LinkStatus = LinkStatus.LINKED
    remote_edited_time: datetime | None = None
    remote_edited_by: str | None = None
    error: str | None = None  # a write the CRM rejected (400): waits for the data to change


@dataclass(frozen=True, slots=True)
class SyncState:
    """``cursors``: per record kind, the inbound cursor (the newest ``last_edited_time`` fully
    processed, ISO 8601). ``outbox_seq``: the last change-feed seq handed to the outbox."""

    cursors: Mapping[str, str] = field(default_factory=dict)
    outbox_seq: int = 0
    status: ConnectionStatus = ConnectionStatus.IDLE
    reason: str | None = None
    last_run_at: datetime | None = None
    counters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Conflict:
    """One conflict: both sides changed ``field`` away from ``base`` to different values.
    ``winner``: ``pie`` or the CRM's side (``crm``); ``rule``: what decided."""

    kind: RecordKind
    pie_id: UUID
    external_id: str | None
    field: str
    base: Value
    local: Value
    remote: Value
    winner: str
    rule: str
    run_id: str = ""
    local_time: datetime | None = None
    remote_time: datetime | None = None
    skew_seconds: float | None = None
    at: datetime | None = None
    id: int = 0

    @property
    def divergence(self) -> str:
        """The identity of this divergence: the same (base, local, remote) is one conflict."""
        text = json.dumps([self.base, self.local, self.remote], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:32]


class SyncStateRepository(Protocol):
    async def state(self, connection: str) -> SyncState:
        """The connection's state (the initial one when it never ran)."""
        ...

    async def save_state(self, connection: str, state: SyncState) -> None: ...

    async def link(self, connection: str, kind: RecordKind, pie_id: UUID) -> Link | None: ...

    async def link_by_external(
        self, connection: str, kind: RecordKind, external_id: str
    ) -> Link | None: ...

    async def links(self, connection: str, kind: RecordKind) -> Sequence[Link]:
        """Every link of ``kind`` (any status)."""
        ...

    async def save_link(self, connection: str, link: Link) -> None: ...

    async def base(self, connection: str, kind: RecordKind, pie_id: UUID) -> dict[str, Value]:
        """The last agreed values ({} for a record never agreed)."""
        ...

    async def bases(
        self, connection: str, kind: RecordKind, pie_ids: Sequence[UUID]
    ) -> dict[UUID, dict[str, Value]]:
        """``base`` of many records at once (records never agreed are left out)."""
        ...

    async def save_base(
        self, connection: str, kind: RecordKind, pie_id: UUID, values: Mapping[str, Value]
    ) -> None:
        """Set the base of the given fields only (others keep theirs)."""
        ...

    async def log_conflicts(self, connection: str, conflicts: Sequence[Conflict]) -> int:
        """Append conflicts; one already logged (same record, field and divergence) is not
        logged again. The number appended."""
        ...

    async def conflicts(
        self, connection: str, *, after_id: int = 0, limit: int = 100
    ) -> Sequence[Conflict]:
        """Logged conflicts with id > ``after_id``, oldest first."""
        ...

    async def count_conflicts(self, connection: str) -> int: ...
