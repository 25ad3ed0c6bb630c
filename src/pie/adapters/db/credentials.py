"""The SQL credential store (pie.ports.credentials.CredentialStore): one tenant's
credentials, each sealed with AES-GCM (pie.adapters.secrets) bound to tenant and name. Each
call is its own transaction; on PostgreSQL row-level security keys on the tenant."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Protocol
from uuid import UUID

import orjson
from sqlalchemy import Table, delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pie.adapters.db.bulk import upsert_rows
from pie.adapters.db.tables_connections import CredentialRow
from pie.adapters.db.uow import bind_tenant
from pie.domain.errors import InvalidInput
from pie.ports.credentials import Credential, Secret

CREDENTIALS: Table = CredentialRow.__table__  # type: ignore[assignment]


class Sealer(Protocol):
    def seal(self, plaintext: bytes, context: bytes) -> bytes: ...
    def open(self, sealed: bytes, context: bytes) -> bytes: ...


def check_name(name: str) -> str:
    if not name or len(name) > 200 or not name.isprintable():
        raise InvalidInput("must be 1 to 200 printable characters", field="credential name")
    return name


def context_of(tenant_id: UUID, name: str) -> bytes:
    """What a sealed credential is bound to: it opens only for this tenant and name."""
    return f"pie-credential\x00{tenant_id}\x00{name}".encode()


def seal_credential(box: Sealer, tenant_id: UUID, name: str, credential: Credential) -> bytes:
    plain = orjson.dumps({k: v.reveal() for k, v in credential.items()})
    return box.seal(plain, context_of(tenant_id, name))


def open_credential(box: Sealer, tenant_id: UUID, name: str, sealed: bytes) -> dict[str, Secret]:
    values = orjson.loads(box.open(sealed, context_of(tenant_id, name)))
    return {str(k): Secret(str(v)) for k, v in values.items()}


class SqlCredentialStore:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], tenant_id: UUID, box: Sealer
    ) -> None:
        self._sessions, self.tenant_id, self._box = sessions, tenant_id, box

    def __repr__(self) -> str:
        return f"SqlCredentialStore(tenant={self.tenant_id})"

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            bind_tenant(session, self.tenant_id)
            async with session.begin():
                yield session

    async def put(self, name: str, credential: Credential) -> None:
        check_name(name)
        for key, value in credential.items():
            if not isinstance(value, Secret):
                raise TypeError(f"credential field {key!r} must be a Secret")
        sealed = seal_credential(self._box, self.tenant_id, name, credential)
        row = {
            "tenant_id": self.tenant_id,
            "name": name,
            "sealed": sealed,
            "updated_at": datetime.now(UTC),
        }
        async with self._session() as session:
            await upsert_rows(session, CREDENTIALS, [row], key=("tenant_id", "name"))

    async def get(self, name: str) -> dict[str, Secret] | None:
        async with self._session() as session:
            sealed = (
                await session.execute(
                    select(CREDENTIALS.c.sealed).where(
                        CREDENTIALS.c.tenant_id == self.tenant_id, CREDENTIALS.c.name == name
                    )
                )
            ).scalar_one_or_none()
        if sealed is None:
            return None
        return open_credential(self._box, self.tenant_id, name, bytes(sealed))

    async def delete(self, name: str) -> bool:
        async with self._session() as session:
            result = await session.execute(
                delete(CREDENTIALS).where(
                    CREDENTIALS.c.tenant_id == self.tenant_id, CREDENTIALS.c.name == name
                )
            )
        return bool(getattr(result, "rowcount", 0))

    async def names(self) -> list[str]:
        async with self._session() as session:
            rows = await session.execute(
                select(CREDENTIALS.c.name)
                .where(CREDENTIALS.c.tenant_id == self.tenant_id)
                .order_by(CREDENTIALS.c.name)
            )
            return [str(n) for n in rows.scalars()]
