"""Tenant use cases."""

from __future__ import annotations

from uuid import UUID

from pie.domain.errors import InvalidInput, NotConfigured, TenantNotFound
from pie.domain.model import Tenant
from pie.ports.uow import NewTenant, TenantDirectory


async def create_tenant(tenants: TenantDirectory, name: str) -> NewTenant:
    name = name.strip()
    if not name:
        raise InvalidInput("a tenant needs a name", field="name")
    return await tenants.create(name)


async def resolve_tenant(tenants: TenantDirectory, ident: str | None) -> UUID:
    """The tenant named by ``ident``: its id, or its name."""
    if not ident:
        raise NotConfigured("no tenant given: pass --tenant ID_OR_NAME or set PIE_TENANT")
    try:
        tenant_id = UUID(ident)
    except ValueError:
        tenant = await tenants.find_by_name(ident)
    else:
        tenant = await tenants.get(tenant_id)
    if tenant is None:
        raise TenantNotFound(ident)
    return tenant.id


async def ensure_tenant(tenants: TenantDirectory, name: str) -> tuple[UUID, str | None]:
    """The tenant with this name, created if missing; the API key only when it was created."""
    tenant = await tenants.find_by_name(name)
    if tenant is not None:
        return tenant.id, None
    created = await tenants.create(name)
    return created.tenant.id, created.api_key


async def rename_tenant(tenants: TenantDirectory, tenant_id: UUID, name: str) -> Tenant:
    name = name.strip()
    if not name:
        raise InvalidInput("a tenant needs a name", field="name")
    return await tenants.rename(tenant_id, name)
