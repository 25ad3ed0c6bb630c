"""upsert_many (and a record batch) never writes over another tenant's record, even when given
its id."""

from __future__ import annotations

import dataclasses
from uuid import UUID

import pytest

from pie.domain.errors import Conflict
from pie.domain.model import Deal, EntityKind
from pie.ports.repositories import UpsertCounts
from tests.contract import records as r
from tests.dbfixtures import Database


async def _another_tenants_deal(db: Database) -> tuple[UUID, Deal]:
    """A tenant of one's own, and a deal stored by another tenant."""
    a = (await db.new_tenant()).tenant.id
    b = (await db.new_tenant()).tenant.id
    theirs = r.deal(b, None)
    async with db.uow(b) as uow:
        await uow.deals.add(theirs)
        await uow.commit()
    return a, theirs


async def test_upsert_with_another_tenants_id_is_refused_and_changes_nothing(db: Database) -> None:
    a, theirs = await _another_tenants_deal(db)
    async with db.uow(a) as uow:
        with pytest.raises(Conflict):
            await uow.deals.upsert_many([dataclasses.replace(theirs, tenant_id=a, name="mine")])
    async with db.uow(theirs.tenant_id) as uow:
        assert await uow.deals.get(theirs.id) == dataclasses.replace(theirs, version=1)


async def test_a_new_batch_with_another_tenants_id_is_refused_and_changes_nothing(
    db: Database,
) -> None:
    """A batch added as new (a first load) asks the store once whether it holds any of the
    batch's ids, among the tenant's rows only: another tenant's row under the same id is not
    merged into but refused as a duplicate, and nothing of the batch is stored."""
    a, theirs = await _another_tenants_deal(db)
    account = r.account(a)
    async with db.uow(a) as uow:
        batch = uow.batch(origin="crm-x")
        await batch.add(EntityKind.ACCOUNT, [account], new=True)
        await batch.add(
            EntityKind.DEAL, [dataclasses.replace(theirs, tenant_id=a, name="mine")], new=True
        )
        with pytest.raises(Conflict):
            await batch.store()
    async with db.uow(a) as uow:
        assert await uow.accounts.get(account.id) is None
        assert await uow.changes.list() == []
    async with db.uow(theirs.tenant_id) as uow:
        assert await uow.deals.get(theirs.id) == dataclasses.replace(theirs, version=1)


async def test_a_new_batch_merges_a_record_the_tenant_holds_and_creates_the_rest(
    db: Database,
) -> None:
    """When the store holds one of a new batch's ids (for this tenant), every kind of the batch
    is written as ``upsert_many`` would: the stored record merged, the others created, one
    change row each, numbered in the order the kinds were added."""
    a = (await db.new_tenant()).tenant.id
    b = (await db.new_tenant()).tenant.id
    stored = r.account(a)
    async with db.uow(a) as uow:
        await uow.accounts.add(stored)
        await uow.commit()
    fresh = r.account(a)
    deal = r.deal(a, fresh.id)
    for tenant, accounts, deals in (
        (a, [dataclasses.replace(stored, name="renamed"), fresh], [deal]),
        (b, [r.account(b)], [r.deal(b, None)]),
    ):
        async with db.uow(tenant) as uow:
            batch = uow.batch(origin="crm-x")
            await batch.add(EntityKind.ACCOUNT, accounts, new=True)
            await batch.add(EntityKind.DEAL, deals, new=True)
            counts = dict(await batch.store())
            await uow.commit()
        if tenant == a:
            assert counts[EntityKind.ACCOUNT] == UpsertCounts(created=1, updated=1)
            assert counts[EntityKind.DEAL] == UpsertCounts(created=1)
        else:  # nothing of b's stored yet: all created
            assert counts == {
                EntityKind.ACCOUNT: UpsertCounts(created=1),
                EntityKind.DEAL: UpsertCounts(created=1),
            }
    async with db.uow(a) as uow:
        account = await uow.accounts.get(stored.id)
        changes = await uow.changes.list()
    assert account is not None and (account.name, account.version) == ("renamed", 2)
    assert [(c.seq, c.entity_id, c.op) for c in changes] == [
        (1, stored.id, "create"),
        (2, stored.id, "update"),
        (3, fresh.id, "create"),
        (4, deal.id, "create"),
    ]
