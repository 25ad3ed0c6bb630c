"""Request dependencies: the container, the caller's tenant (from the API key), a unit of
work, the model cache and the simulation gate."""

from __future__ import annotations

from typing import Annotated, cast
from uuid import UUID

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pie.bootstrap import Container
from pie.entrypoints.api.limits import SimulationGate
from pie.ports.uow import UnitOfWork
from pie.services.model_cache import ModelCache

MAX_KEY = 200
_bearer = HTTPBearer(auto_error=False, description="A tenant API key (pie tenant create)")


def container(request: Request) -> Container:
    return cast(Container, request.app.state.container)


ContainerDep = Annotated[Container, Depends(container)]


async def authenticate(
    c: ContainerDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> UUID:
    unauthorized = HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="a valid tenant API key is required as a bearer token",
        headers={"WWW-Authenticate": "Bearer"},
    )
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorized
    if len(credentials.credentials) > MAX_KEY:  # no key is this long: refused unread
        raise unauthorized
    tenant_id = await c.tenants.authenticate(credentials.credentials)
    if tenant_id is None:
        raise unauthorized
    return tenant_id


TenantDep = Annotated[UUID, Depends(authenticate)]


def unit_of_work(tenant: TenantDep, c: ContainerDep) -> UnitOfWork:
    return c.uow(tenant)


UowDep = Annotated[UnitOfWork, Depends(unit_of_work)]


def model_cache(c: ContainerDep) -> ModelCache:
    return c.models


CacheDep = Annotated[ModelCache, Depends(model_cache)]


def simulation_gate(request: Request) -> SimulationGate:
    return cast(SimulationGate, request.app.state.gate)


GateDep = Annotated[SimulationGate, Depends(simulation_gate)]
