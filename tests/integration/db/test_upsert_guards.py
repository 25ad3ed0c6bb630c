"""upsert_many never writes over another tenant's record, even when given its id."""

from __future__ import annotations

import dataclasses

import pytest

from pie.domain.errors import Conflict
from tests.contract import records as r
from tests.dbfixtures import Database


async def test_upsert_with_another_tenants_id_is_refused_and_changes_nothing(db: Database) -> None:
    a = (await db.new_tenant()).tenant.id
    b = (await db.new_tenant()).tenant.id
    theirs = r.deal(b, None)
    async with db.uow(b) as uow:
        await uow.deals.add(theirs)
        await uow.commit()
    async with db.uow(a) as uow:
        with pytest.raises(Conflict):
            await uow.deals.upsert_many([dataclasses.replace(theirs, tenant_id=a, name="mine")])
    async with db.uow(b) as uow:
        assert await uow.deals.get(theirs.id) == dataclasses.replace(theirs, version=1)
