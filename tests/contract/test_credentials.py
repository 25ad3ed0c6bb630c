"""The credential store's contract, on the fake, SQLite and PostgreSQL: values round-trip as
Secrets, per tenant, and what is stored is not readable without the key."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from uuid import UUID

import pytest
from sqlalchemy import text

from pie.adapters.db.credentials import SqlCredentialStore
from pie.adapters.secrets import SecretBox
from pie.domain.errors import InvalidInput, NotConfigured
from pie.ports.credentials import CredentialStore, Secret
from tests.dbfixtures import Database
from tests.fakes.credentials import TEST_KEY, InMemoryCredentials

TOKEN = "00Dxx0000001gPL!AQ4AQFake.RefreshToken-do-not-show"


@dataclass
class Vault:
    new_tenant: Callable[[], Awaitable[UUID]]
    store: Callable[[UUID, SecretBox], CredentialStore]
    raw: Callable[[], Awaitable[bytes]]  # every stored byte, as a reader of the database sees it


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def vault(request: pytest.FixtureRequest) -> Vault:
    if request.param == "memory":
        memory = InMemoryCredentials()

        async def tenant() -> UUID:
            return uuid.uuid4()

        def store(t: UUID, box: SecretBox) -> CredentialStore:
            memory.box = box
            return memory.store(t)

        async def raw() -> bytes:
            return b"".join(memory.rows.values())

        return Vault(tenant, store, raw)
    db: Database = request.getfixturevalue(f"{request.param.replace('postgresql', 'postgres')}_db")

    async def new_tenant() -> UUID:
        return (await db.new_tenant("cred")).tenant.id

    async def raw_rows() -> bytes:
        async with db.engine.connect() as conn:
            # the superuser would bypass RLS; the app role sees nothing without a tenant, so
            # read as the file/table owner sees it where possible
            if db.kind == "postgresql":
                from sqlalchemy.ext.asyncio import create_async_engine

                admin = create_async_engine(db.admin_url)
                try:
                    async with admin.connect() as c:
                        rows = (await c.execute(text("SELECT sealed FROM credentials"))).all()
                finally:
                    await admin.dispose()
            else:
                rows = (await conn.execute(text("SELECT sealed FROM credentials"))).all()
        return b"".join(bytes(r[0]) for r in rows)

    return Vault(new_tenant, lambda t, box: SqlCredentialStore(db.sessions, t, box), raw_rows)


BOX = SecretBox([TEST_KEY])


async def test_a_credential_round_trips_as_secrets_and_is_replaced(vault: Vault) -> None:
    t = await vault.new_tenant()
    store = vault.store(t, BOX)
    assert await store.get("salesforce") is None
    await store.put("salesforce", {"refresh_token": Secret(TOKEN), "client_secret": Secret("s")})
    got = await store.get("salesforce")
    assert got == {"refresh_token": Secret(TOKEN), "client_secret": Secret("s")}
    assert got is not None and got["refresh_token"].reveal() == TOKEN
    await store.put("salesforce", {"refresh_token": Secret("new")})
    assert await store.get("salesforce") == {"refresh_token": Secret("new")}
    await store.put("hubspot", {"token": Secret("h")})
    assert await store.names() == ["hubspot", "salesforce"]
    assert await store.delete("salesforce") is True
    assert await store.delete("salesforce") is False
    assert await store.names() == ["hubspot"]


async def test_tenants_see_only_their_own_credentials(vault: Vault) -> None:
    a, b = await vault.new_tenant(), await vault.new_tenant()
    await vault.store(a, BOX).put("notion", {"token": Secret("a-token")})
    assert await vault.store(b, BOX).get("notion") is None
    assert await vault.store(b, BOX).names() == []
    assert await vault.store(b, BOX).delete("notion") is False
    await vault.store(b, BOX).put("notion", {"token": Secret("b-token")})
    got = await vault.store(a, BOX).get("notion")
    assert got is not None and got["token"].reveal() == "a-token"


async def test_what_is_stored_is_encrypted(vault: Vault) -> None:
    t = await vault.new_tenant()
    await vault.store(t, BOX).put("salesforce", {"refresh_token": Secret(TOKEN)})
    raw = await vault.raw()
    assert raw
    assert TOKEN.encode() not in raw
    assert b"refresh_token" not in raw
    assert b"RefreshToken" not in raw


async def test_another_key_cannot_read_it_and_a_rotated_key_can(vault: Vault) -> None:
    t = await vault.new_tenant()
    await vault.store(t, BOX).put("pipedrive", {"api_token": Secret("p")})
    other = SecretBox([b"some-other-key-entirely-0123456789"])
    with pytest.raises(NotConfigured, match="PIE_SECRET_KEY") as err:
        await vault.store(t, other).get("pipedrive")
    assert "p" not in str(err.value).split(":")[-1].split()  # no value in the message
    rotated = SecretBox([b"the-new-key-after-rotation-0123", TEST_KEY])
    got = await vault.store(t, rotated).get("pipedrive")
    assert got == {"api_token": Secret("p")}
    await vault.store(t, rotated).put("pipedrive", {"api_token": Secret("p2")})
    with pytest.raises(NotConfigured):
        await vault.store(t, BOX).get("pipedrive")  # sealed with the new key now


async def test_names_and_values_are_checked(vault: Vault) -> None:
    store = vault.store(await vault.new_tenant(), BOX)
    with pytest.raises(InvalidInput):
        await store.put("", {"token": Secret("x")})
    with pytest.raises(TypeError):
        await store.put("x", {"token": "plain"})  # type: ignore[dict-item]
