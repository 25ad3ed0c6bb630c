"""Tenants and API keys (pie.ports.uow.TenantDirectory).

Only the sha256 hex of a key is stored, with its first characters for telling keys apart.
On PostgreSQL the app role cannot see other tenants' rows, so looking a tenant up by key or by
name goes through the SECURITY DEFINER functions ``pie_authenticate`` and
``pie_tenant_by_name``; every other statement runs with ``pie.tenant_id`` set to the tenant it
concerns, so row-level security admits it. Listing every tenant is for the tables' owner (whose
``pie_owner_lookup`` policy shows all tenant rows): the app role is refused, not shown nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID, uuid4

from sqlalchemy import Table, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pie.adapters.db.mapping import tenant_from_row
from pie.adapters.db.tables import ApiKeyRow, TenantRow
from pie.adapters.db.uow import bind_tenant
from pie.domain.errors import (
    ApiKeyNotFound,
    Conflict,
    InvalidInput,
    NotConfigured,
    TenantNotFound,
)
from pie.domain.model import Tenant
from pie.ports.uow import ApiKey, NewTenant

TENANTS: Table = TenantRow.__table__  # type: ignore[assignment]
API_KEYS: Table = ApiKeyRow.__table__  # type: ignore[assignment]
KEY_PREFIX = "pie_"
SHOWN_PREFIX_LENGTH = 12
#: On PostgreSQL: may the current role read every tenant (superuser, or a member of the owner)?
SEES_ALL_TENANTS = text(
    "SELECT pg_has_role((SELECT relowner FROM pg_class WHERE oid = 'tenants'::regclass), 'USAGE')"
)


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SqlTenantDirectory:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    def _session(self, tenant_id: UUID | None) -> AsyncSession:
        session = self._sessions()
        bind_tenant(session, tenant_id)
        return session

    async def create(self, name: str) -> NewTenant:
        name = name.strip()
        if not name:
            raise InvalidInput("a tenant needs a name", field="name")
        if await self.find_by_name(name) is not None:
            raise Conflict(f"a tenant named {name!r} exists already")
        tenant = Tenant(id=uuid4(), name=name, created_at=_utcnow())
        key = new_key()
        async with self._session(tenant.id) as session:
            try:
                await session.execute(
                    insert(TENANTS).values(
                        id=tenant.id, name=tenant.name, created_at=tenant.created_at
                    )
                )
                await self._insert_key(session, tenant.id, key)
                await session.commit()
            except IntegrityError as exc:
                raise Conflict(f"a tenant named {name!r} exists already") from exc
        return NewTenant(tenant=tenant, api_key=key)

    async def issue_key(self, tenant_id: UUID) -> str:
        key = new_key()
        async with self._session(tenant_id) as session:
            if await self._get(session, tenant_id) is None:
                raise TenantNotFound(tenant_id)
            await self._insert_key(session, tenant_id, key)
            await session.commit()
        return key

    async def list(self) -> Sequence[Tenant]:
        async with self._session(None) as session:
            if await self._postgres(session) and not await session.scalar(SEES_ALL_TENANTS):
                raise NotConfigured(
                    "only the tables' owner may list tenants: set PIE_ADMIN_DATABASE_URL "
                    "to the owner's URL"
                )
            rows = (await session.execute(select(TENANTS).order_by(TENANTS.c.name))).mappings()
            return [tenant_from_row(row) for row in rows]

    async def ids(self) -> Sequence[UUID]:
        """Every tenant's id, for jobs that visit each tenant (the stall check). The
        application role may not read the tenants table on PostgreSQL; migration
        0008_intel_settings gives it ``pie_tenant_ids()``, which returns the ids only."""
        async with self._session(None) as session:
            if await self._postgres(session):
                rows = await session.execute(text("SELECT id FROM pie_tenant_ids()"))
            else:
                rows = await session.execute(select(TENANTS.c.id).order_by(TENANTS.c.id))
            return [UUID(str(r[0])) for r in rows]

    async def rename(self, tenant_id: UUID, name: str) -> Tenant:
        name = name.strip()
        if not name:
            raise InvalidInput("a tenant needs a name", field="name")
        taken = await self.find_by_name(name)
        if taken is not None and taken.id != tenant_id:
            raise Conflict(f"a tenant named {name!r} exists already")
        async with self._session(tenant_id) as session:
            try:
                result = await session.execute(
                    update(TENANTS)
                    .where(TENANTS.c.id == tenant_id)
                    .values(name=name)
                    .returning(*TENANTS.c)
                )
                row = result.mappings().first()
                await session.commit()
            except IntegrityError as exc:
                raise Conflict(f"a tenant named {name!r} exists already") from exc
        if row is None:
            raise TenantNotFound(tenant_id)
        return tenant_from_row(row)

    async def list_keys(self, tenant_id: UUID) -> Sequence[ApiKey]:
        async with self._session(tenant_id) as session:
            if await self._get(session, tenant_id) is None:
                raise TenantNotFound(tenant_id)
            rows = await session.execute(
                select(API_KEYS.c.prefix, API_KEYS.c.created_at, API_KEYS.c.revoked_at)
                .where(API_KEYS.c.tenant_id == tenant_id)
                .order_by(API_KEYS.c.created_at, API_KEYS.c.prefix)
            )
            return [ApiKey(r.prefix, r.created_at, r.revoked_at) for r in rows]

    async def revoke_key(self, tenant_id: UUID, key_or_prefix: str) -> ApiKey:
        whole = len(key_or_prefix) > SHOWN_PREFIX_LENGTH
        match = (
            API_KEYS.c.key_hash == hash_key(key_or_prefix)
            if whole
            else API_KEYS.c.prefix == key_or_prefix
        )
        live = (API_KEYS.c.tenant_id == tenant_id, API_KEYS.c.revoked_at.is_(None), match)
        shown = key_or_prefix[:SHOWN_PREFIX_LENGTH] + ("…" if whole else "")
        async with self._session(tenant_id) as session:
            count = await session.scalar(select(func.count()).where(*live))
            if not count:
                raise ApiKeyNotFound(shown)
            if count > 1:
                raise Conflict(f"{count} live keys start with {shown}: give the whole key")
            result = await session.execute(
                update(API_KEYS)
                .where(*live)
                .values(revoked_at=_utcnow())
                .returning(API_KEYS.c.prefix, API_KEYS.c.created_at, API_KEYS.c.revoked_at)
            )
            row = result.one()
            await session.commit()
        return ApiKey(row.prefix, row.created_at, row.revoked_at)

    async def authenticate(self, api_key: str) -> UUID | None:
        if not api_key.startswith(KEY_PREFIX):
            return None
        digest = hash_key(api_key)
        async with self._session(None) as session:
            if await self._postgres(session):
                found = await session.scalar(text("SELECT pie_authenticate(:h)"), {"h": digest})
            else:
                found = await session.scalar(
                    select(API_KEYS.c.tenant_id).where(
                        API_KEYS.c.key_hash == digest, API_KEYS.c.revoked_at.is_(None)
                    )
                )
        return UUID(str(found)) if found is not None else None

    async def get(self, tenant_id: UUID) -> Tenant | None:
        async with self._session(tenant_id) as session:
            return await self._get(session, tenant_id)

    async def find_by_name(self, name: str) -> Tenant | None:
        async with self._session(None) as session:
            if await self._postgres(session):
                found = await session.scalar(text("SELECT pie_tenant_by_name(:n)"), {"n": name})
                if found is None:
                    return None
                tenant_id = UUID(str(found))
            else:
                row = await session.scalar(select(TENANTS.c.id).where(TENANTS.c.name == name))
                if row is None:
                    return None
                tenant_id = row
        return await self.get(tenant_id)

    @staticmethod
    async def _postgres(session: AsyncSession) -> bool:
        return (await session.connection()).dialect.name == "postgresql"

    @staticmethod
    async def _get(session: AsyncSession, tenant_id: UUID) -> Tenant | None:
        row = (
            (await session.execute(select(TENANTS).where(TENANTS.c.id == tenant_id)))
            .mappings()
            .first()
        )
        return tenant_from_row(row) if row else None

    @staticmethod
    async def _insert_key(session: AsyncSession, tenant_id: UUID, key: str) -> None:
        await session.execute(
            insert(API_KEYS).values(
                id=uuid4(),
                tenant_id=tenant_id,
                key_hash=hash_key(key),
                prefix=key[:SHOWN_PREFIX_LENGTH],
                created_at=_utcnow(),
            )
        )


__all__ = ["SqlTenantDirectory", "hash_key"]
