"""Tenant and key management, run against the in-memory fake, SQLite and PostgreSQL (as the app
role, so row-level security applies, and as the owner where only the owner may)."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

import pytest

from pie.domain.errors import ApiKeyNotFound, Conflict, NotConfigured, TenantNotFound
from pie.ports.uow import TenantDirectory
from tests.dbfixtures import Database, open_database
from tests.fakes.uow import FakeTenantDirectory, InMemoryStore


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def tenants(request: pytest.FixtureRequest) -> TenantDirectory:
    if request.param == "memory":
        return FakeTenantDirectory(InMemoryStore())
    db: Database = request.getfixturevalue(f"{request.param.replace('postgresql', 'postgres')}_db")
    return db.tenants


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def test_rename_keeps_id_and_keys_and_refuses_a_taken_name(
    tenants: TenantDirectory,
) -> None:
    a = await tenants.create(unique("a"))
    b = await tenants.create(unique("b"))
    new_name = unique("renamed")
    renamed = await tenants.rename(a.tenant.id, new_name)
    assert (renamed.id, renamed.name, renamed.created_at) == (
        a.tenant.id,
        new_name,
        a.tenant.created_at,
    )
    assert await tenants.find_by_name(new_name) == renamed
    assert await tenants.find_by_name(a.tenant.name) is None
    assert await tenants.authenticate(a.api_key) == a.tenant.id
    with pytest.raises(Conflict, match=b.tenant.name):
        await tenants.rename(a.tenant.id, b.tenant.name)
    assert await tenants.rename(a.tenant.id, new_name) == renamed  # its own name: no conflict
    with pytest.raises(TenantNotFound):
        await tenants.rename(uuid.uuid4(), unique("ghost"))


async def test_keys_are_listed_by_prefix_and_date_and_revoked_ones_stop_working(
    tenants: TenantDirectory,
) -> None:
    made = await tenants.create(unique("keys"))
    other = await tenants.create(unique("other"))
    second = await tenants.issue_key(made.tenant.id)
    keys = await tenants.list_keys(made.tenant.id)
    assert sorted(k.prefix for k in keys) == sorted([made.api_key[:12], second[:12]])
    assert all(k.revoked_at is None for k in keys)
    assert [k.created_at for k in keys] == sorted(k.created_at for k in keys)
    assert all(k.prefix not in {made.api_key, second} for k in keys)  # never the whole key

    revoked = await tenants.revoke_key(made.tenant.id, second[:12])
    assert revoked.prefix == second[:12]
    assert revoked.revoked_at is not None
    assert revoked.revoked_at - revoked.created_at < timedelta(minutes=5)
    assert await tenants.authenticate(second) is None
    assert await tenants.authenticate(made.api_key) == made.tenant.id
    listed = {k.prefix: k.revoked_at for k in await tenants.list_keys(made.tenant.id)}
    assert listed[second[:12]] is not None
    assert listed[made.api_key[:12]] is None

    with pytest.raises(ApiKeyNotFound):  # already revoked
        await tenants.revoke_key(made.tenant.id, second[:12])
    with pytest.raises(ApiKeyNotFound):  # another tenant's key
        await tenants.revoke_key(made.tenant.id, other.api_key)
    assert await tenants.authenticate(other.api_key) == other.tenant.id
    await tenants.revoke_key(made.tenant.id, made.api_key)  # the whole key works too
    assert await tenants.authenticate(made.api_key) is None
    with pytest.raises(TenantNotFound):
        await tenants.list_keys(uuid.uuid4())


async def test_a_prefix_shared_by_two_live_keys_is_refused(
    tenants: TenantDirectory, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = await tenants.create(unique("twins"))
    real = secrets.token_urlsafe
    monkeypatch.setattr(secrets, "token_urlsafe", lambda n: "SAMEPREF" + real(n))
    one = await tenants.issue_key(made.tenant.id)
    two = await tenants.issue_key(made.tenant.id)
    assert one[:12] == two[:12]
    with pytest.raises(Conflict, match="give the whole key"):
        await tenants.revoke_key(made.tenant.id, one[:12])
    await tenants.revoke_key(made.tenant.id, one)
    assert await tenants.authenticate(one) is None
    assert await tenants.authenticate(two) == made.tenant.id
    with pytest.raises(ApiKeyNotFound):
        await tenants.revoke_key(made.tenant.id, "pie_nothing")
    with pytest.raises(ApiKeyNotFound):
        await tenants.revoke_key(made.tenant.id, two + "x")


@pytest.fixture(params=["memory", "sqlite"])
def listing(request: pytest.FixtureRequest) -> TenantDirectory:
    """A directory that may list tenants (PostgreSQL's owner: see the next test)."""
    if request.param == "memory":
        return FakeTenantDirectory(InMemoryStore())
    db: Database = request.getfixturevalue("sqlite_db")
    return db.tenants


async def test_list_shows_every_tenant_by_name(listing: TenantDirectory) -> None:
    tenants = listing
    names = [unique("z-list"), unique("a-list")]
    for name in names:
        await tenants.create(name)
    listed = [t.name for t in await tenants.list()]
    assert set(names) <= set(listed)
    assert listed == sorted(listed)


@pytest.mark.postgres
async def test_on_postgresql_only_the_owner_lists_tenants(postgres_db: Database) -> None:
    made = await postgres_db.new_tenant("listed")
    with pytest.raises(NotConfigured, match="PIE_ADMIN_DATABASE_URL"):
        await postgres_db.tenants.list()
    async with open_database("postgresql", postgres_db.admin_url, postgres_db.admin_url) as owner:
        listed = await owner.tenants.list()
    assert made.tenant in listed
    assert len(listed) > 1  # not just one tenant's row: row-level security is not in the way
