"""Connections to sources and their syncs (seed 004's /api/import/*): connect, start a sync in
the background, read a connection's status. Credentials go in and never come out."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body

from pie.entrypoints.api.deps import ContainerDep, TenantDep
from pie.entrypoints.api.errors import responses
from pie.ports.credentials import Secret
from pie.services import connections as svc
from pie.services.schemas.connections import (
    ConnectBody,
    ConnectionListRead,
    ConnectionRead,
    ConnectRead,
    StatusRead,
    SyncBody,
    SyncStartedRead,
)

router = APIRouter(prefix="/api/import", tags=["import"], responses=responses(401, 422))


@router.post("/connect", response_model=ConnectRead, responses=responses(409, 502, 503))
async def connect(body: ConnectBody, tenant: TenantDep, c: ContainerDep) -> ConnectRead:
    """Connect to a source's API (or update the connection of that name): the credentials are
    tried against the API (``check``), stored encrypted, and a first full sync is queued
    (``sync``). 502 when the API refuses them, 503 when it cannot be reached now."""
    values = {k: Secret(v.get_secret_value()) for k, v in body.credentials.items()}
    return await svc.connect_and_start(
        c.sync_deps(),
        c.job_queue(),
        tenant,
        body.source,
        values,
        sync=body.sync,
        name=body.name,
        auth=body.auth,
        base_url=body.base_url,
        schedule_minutes=body.schedule_minutes,
        check=body.check,
    )


@router.get("/connections", response_model=ConnectionListRead)
async def connections(tenant: TenantDep, c: ContainerDep) -> ConnectionListRead:
    """The tenant's connections (the names of their stored secret fields, never the values)."""
    creds = c.credentials(tenant)
    out = []
    for conn in await c.connections(tenant).list():
        stored = await creds.get(conn.credential)
        out.append(ConnectionRead.of(conn, sorted(stored) if stored else []))
    return ConnectionListRead(connections=out)


@router.get("/status/{connection_id}", response_model=StatusRead, responses=responses(404))
async def status(connection_id: UUID, tenant: TenantDep, c: ContainerDep) -> StatusRead:
    """What the connection's last finished sync did (records, errors) and its latest job's
    state as the job queue has it."""
    deps = c.sync_deps()
    conn = await svc.find(deps, tenant, str(connection_id))
    return await svc.status(deps, c.job_queue(), tenant, conn)


@router.post(
    "/sync/{connection_id}",
    response_model=SyncStartedRead,
    responses=responses(404),
)
async def sync(
    connection_id: UUID,
    tenant: TenantDep,
    c: ContainerDep,
    body: Annotated[SyncBody | None, Body()] = None,
) -> SyncStartedRead:
    """Queue a sync (incremental unless ``full``); poll ``/api/import/status`` for how it
    went. A connection never has two syncs waiting: the one already queued is answered."""
    full = body.full if body is not None else False
    job_id = await svc.start_sync(c.sync_deps(), c.job_queue(), tenant, connection_id, full=full)
    return SyncStartedRead(job_id=job_id)
