"""Two writers of the same record at the same time on PostgreSQL: one wins, the other gets one
clean StaleVersion (or Conflict for a simultaneous create), and the feed holds exactly the
winner's change."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from pie.domain.errors import Conflict, StaleVersion
from pie.domain.ownership import HUMAN
from tests.contract import records as r
from tests.dbfixtures import Database

pytestmark = pytest.mark.postgres


async def test_two_editors_of_one_deal_end_with_one_clean_conflict(postgres_db: Database) -> None:
    t = (await postgres_db.new_tenant()).tenant.id
    deal = r.deal(t, None)
    async with postgres_db.uow(t) as uow:
        await uow.deals.add(deal, origin="crm")
        await uow.commit()
    first_wrote = asyncio.Event()

    async def edit(name: str, *, wait: bool) -> str:
        async with postgres_db.uow(t) as uow:
            read = await uow.deals.get(deal.id)
            assert read is not None and read.version == 1
            if wait:
                await first_wrote.wait()
            await uow.deals.update(
                dataclasses.replace(read, name=name), origin=HUMAN, expected_version=read.version
            )
            if not wait:
                first_wrote.set()
                await asyncio.sleep(0.2)  # hold the row while the other writer tries
            await uow.commit()
        return name

    results = await asyncio.gather(
        edit("alice's name", wait=False), edit("bob's name", wait=True), return_exceptions=True
    )
    assert results[0] == "alice's name"
    assert isinstance(results[1], StaleVersion)
    assert (results[1].expected, results[1].actual) == (1, 2)
    async with postgres_db.uow(t) as uow:
        got = await uow.deals.get(deal.id)
        assert got is not None and got.name == "alice's name" and got.version == 2
        updates = [c for c in await uow.changes.list() if c.op == "update"]
        assert [c.fields["name"][1] for c in updates] == ["alice's name"]


async def test_two_imports_creating_the_same_records_do_not_duplicate(
    postgres_db: Database,
) -> None:
    t = (await postgres_db.new_tenant()).tenant.id
    deals = [r.deal(t, None, name=f"d{i}") for i in range(50)]
    first_wrote = asyncio.Event()

    async def load(wait: bool) -> int:
        async with postgres_db.uow(t) as uow:
            if wait:
                await first_wrote.wait()
            counts = await uow.deals.upsert_many(deals, origin="file")
            if not wait:
                first_wrote.set()
                await asyncio.sleep(0.2)
            await uow.commit()
        return counts.created

    results = await asyncio.gather(load(False), load(True), return_exceptions=True)
    assert results[0] == 50
    assert isinstance(results[1], Conflict)
    async with postgres_db.uow(t) as uow:
        assert await uow.deals.count() == 50
        assert len(await uow.changes.list(limit=1000)) == 50
        # run again: nothing new, nothing duplicated
        assert (await uow.deals.upsert_many(deals, origin="file")).unchanged == 50
