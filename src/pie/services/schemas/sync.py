"""The two-way CRM sync's status, last run and conflict log as JSON (CLI --json and API)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from pie.ports.sync import Conflict, SyncState

Value = str | float | None


class SyncRunRead(BaseModel):
    run_id: str
    pulled: int = Field(0, description="CRM records read")
    applied: int = Field(0, description="Records that took values from the CRM")
    pushed: int = Field(0, description="Records written to the CRM (one write per record)")
    created_remote: int = 0
    created_local: int = 0
    trashed_remote: int = 0
    tombstoned: int = Field(0, description="Links closed because the CRM trashed the record")
    detached: int = Field(0, description="Links closed because the CRM answered 404")
    conflicts: int = Field(0, description="Conflicts logged by this run")
    requests: int = Field(0, description="CRM requests made")
    throttled: int = Field(0, description="429/529 answers")
    rate: float = Field(2.5, description="The connection's budget, requests a second")
    errors: list[str] = Field(default_factory=list)
    status: str = "ok"


class SyncStatusRead(BaseModel):
    connection: str = Field(description="The CRM connection (notion)")
    status: str = Field(description="idle (never ran), ok, throttled or paused")
    reason: str | None = Field(None, description="Why the connection is paused")
    last_run_at: datetime | None = None
    cursors: dict[str, str] = Field(
        description="Per record kind, the newest CRM edit time fully read (ISO 8601)"
    )
    outbox_seq: int = Field(description="The last change-feed seq handed to the CRM")
    pending_changes: int = Field(description="Changes in the feed after the outbox position")
    linked: dict[str, int] = Field(description="Linked records per kind")
    errors: int = Field(description="Records waiting in the error queue (rejected by the CRM)")
    conflicts: int = Field(description="Conflicts in the sync log")
    skew_seconds: float = Field(0.0, description="The CRM's clock minus PIE's, as measured")
    last_run: dict[str, Any] | None = Field(None, description="The last run's counts")

    @classmethod
    def of(
        cls,
        connection: str,
        state: SyncState,
        *,
        pending: int,
        linked: dict[str, int],
        errors: int,
        conflicts: int,
    ) -> SyncStatusRead:
        return cls(
            connection=connection,
            status=state.status.value,
            reason=state.reason,
            last_run_at=state.last_run_at,
            cursors=dict(state.cursors),
            outbox_seq=state.outbox_seq,
            pending_changes=pending,
            linked=linked,
            errors=errors,
            conflicts=conflicts,
            skew_seconds=float(state.counters.get("skew", 0.0)),
            last_run=state.counters.get("last_run"),
        )


class SyncConflictRead(BaseModel):
    id: int
    kind: str = Field(description="deal or contact")
    pie_id: UUID
    external_id: str | None
    field: str = Field(description="The field, or _record for a trash, delete or restore")
    base: Value = Field(description="The last agreed value")
    local: Value = Field(description="PIE's value")
    remote: Value = Field(description="The CRM's value")
    winner: str = Field(description="pie or crm")
    rule: str = Field(description="What decided (agent_owned, shared_later_wins, ...)")
    local_time: datetime | None = None
    remote_time: datetime | None = Field(None, description="The CRM's last edit (to the minute)")
    run_id: str
    at: datetime | None = None

    @classmethod
    def of(cls, c: Conflict) -> SyncConflictRead:
        return cls(
            id=c.id,
            kind=c.kind.value,
            pie_id=c.pie_id,
            external_id=c.external_id,
            field=c.field,
            base=c.base,
            local=c.local,
            remote=c.remote,
            winner=c.winner,
            rule=c.rule,
            local_time=c.local_time,
            remote_time=c.remote_time,
            run_id=c.run_id,
            at=c.at,
        )


class SyncLogRead(BaseModel):
    connection: str
    conflicts: list[SyncConflictRead]
    total: int
    next_after: int | None = Field(None, description="Ask with after=this for more")
