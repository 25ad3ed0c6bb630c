"""Connections, syncs and their jobs as JSON (the /api/import/* routes and `pie connect`,
`pie sources ... --json`). No shape here has a field for a secret: credentials go in
(``ConnectBody.credentials``) and never come out."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field, SecretStr

from pie.ports.connections import Connection
from pie.ports.jobs import JobInfo


class StreamCount(BaseModel):
    read: int = Field(description="Records the source sent for this object type")


class KindCount(BaseModel):
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    deleted: int = Field(0, description="Records deleted because the source deleted them")


class FailedRecord(BaseModel):
    record_id: str = Field(description="The record's id in the source ('' if it has none)")
    record: str = Field(description="Where it is: object type, page, record")
    field: str = Field(description="The field at fault ('' for the whole record)")
    reason: str


class SyncResult(BaseModel):
    """What one sync did."""

    connection: str = Field(description="The connection's name")
    vendor: str
    full: bool = Field(description="Whether it read everything (true) or only what changed")
    status: str = Field(description="succeeded or failed")
    started_at: datetime
    finished_at: datetime
    streams: dict[str, StreamCount] = Field(
        default_factory=dict, description="Object type -> records read"
    )
    counts: dict[str, KindCount] = Field(
        default_factory=dict, description="Entity kind -> records created, updated, ..."
    )
    records_synced: int = Field(0, description="Records stored or found unchanged")
    records_deleted: int = Field(0, description="Records deleted because the source did")
    failed: list[FailedRecord] = Field(
        default_factory=list, description="Every record that could not be stored, and why"
    )
    failed_total: int = 0
    kept: int = Field(0, description="Field writes refused because a person's edit wins")
    error: str | None = Field(None, description="Why the sync stopped, if it did")
    cursors: dict[str, str] = Field(
        default_factory=dict, description="Object type -> position the next sync starts after"
    )
    conversations: dict[str, Any] | None = Field(
        None,
        description="The intelligence pipeline on the activities with content the sync "
        "brought: processed, skipped, deals_created, stage_moves, error",
    )


class JobRead(BaseModel):
    id: str
    status: str = Field(description="queued, running, succeeded, failed or cancelled")
    attempts: int = Field(description="Runs started (more than one after a retry)")
    scheduled_at: datetime | None = None
    error: str | None = None

    @classmethod
    def of(cls, job: JobInfo) -> JobRead:
        return cls(
            id=job.id,
            status=job.status,
            attempts=job.attempts,
            scheduled_at=job.scheduled_at,
            error=job.error,
        )


class ConnectionRead(BaseModel):
    id: UUID
    name: str
    vendor: str
    base_url: str | None = Field(description="None: the vendor's own API")
    auth: str = Field(description="The auth flow")
    settings: dict[str, str] = Field(description="The non-secret auth fields (client id, ...)")
    credential_fields: list[str] = Field(
        default_factory=list, description="Names of the stored secret fields (never values)"
    )
    schedule_minutes: int | None = Field(description="Syncs every N minutes; None: on demand")
    next_run_at: datetime | None
    state: str = Field(description="active, paused or failed (its last sync failed)")
    last_sync: datetime | None
    last_job_id: str | None
    records_synced: int | None = Field(description="Records the last sync stored")
    created_at: datetime

    @classmethod
    def of(cls, c: Connection, credential_fields: list[str] | None = None) -> ConnectionRead:
        result = c.last_result or {}
        return cls(
            id=c.id,
            name=c.name,
            vendor=c.vendor,
            base_url=c.base_url,
            auth=c.auth,
            settings=dict(c.settings),
            credential_fields=credential_fields or [],
            schedule_minutes=c.schedule_minutes,
            next_run_at=c.next_run_at,
            state=c.state,
            last_sync=c.last_sync_at,
            last_job_id=c.last_job_id,
            records_synced=result.get("records_synced"),
            created_at=c.created_at,
        )


class ConnectionListRead(BaseModel):
    connections: list[ConnectionRead]


class ConnectBody(BaseModel):
    """POST /api/import/connect."""

    source: str = Field(description="The vendor: salesforce, hubspot, pipedrive, ...")
    name: str | None = Field(None, description="The connection's name (default: the vendor)")
    auth: str | None = Field(None, description="The auth flow (default: the vendor's first)")
    base_url: str | None = Field(None, description="Another API address (an emulator, a sandbox)")
    credentials: dict[str, SecretStr] = Field(
        description="The flow's fields, secret and not: stored encrypted, never returned"
    )
    schedule_minutes: int | None = Field(None, ge=1, le=7 * 24 * 60)
    sync: bool = Field(True, description="Start a first (full) sync at once")
    check: bool = Field(True, description="Try the credentials against the API first")


class ConnectRead(BaseModel):
    connection_id: UUID
    status: str = Field(description="The connection's state")
    sync_started: bool
    job_id: str | None = Field(None, description="The first sync's job, if one was started")
    checked: str | None = Field(None, description="What the credential check saw")


class SyncBody(BaseModel):
    full: bool = Field(False, description="Read everything instead of only what changed")


class SyncStartedRead(BaseModel):
    job_id: str


class StatusRead(BaseModel):
    connection_id: UUID
    name: str
    state: str
    records_synced: int = Field(description="Records the last finished sync stored")
    records_deleted: int = Field(0, description="Records the last finished sync deleted")
    last_sync: datetime | None = Field(description="When the last sync finished")
    errors: list[str] = Field(description="What went wrong in the last sync: failed records, stop")
    job: JobRead | None = Field(description="The latest job, as the queue has it")
    last_result: SyncResult | None = None


def result_of(raw: dict[str, Any] | None) -> SyncResult | None:
    return SyncResult.model_validate(raw) if raw else None
