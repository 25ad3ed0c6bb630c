"""What SQLite does not do by itself: foreign keys, time zones, exact money."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from pie.domain.errors import Conflict
from tests.contract import records as r
from tests.dbfixtures import Database


async def test_foreign_keys_are_enforced(sqlite_db: Database) -> None:
    t = (await sqlite_db.new_tenant()).tenant.id
    async with sqlite_db.uow(t) as uow:
        with pytest.raises(Conflict):
            await uow.transitions.add(r.transition(t, deal_id=r.deal(t, None).id))
    async with sqlite_db.sessions() as session:
        assert (await session.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        with pytest.raises(IntegrityError):
            await session.execute(
                text("INSERT INTO api_keys VALUES ('x', 'no-such-tenant', 'h', 'p', '2026', NULL)")
            )


async def test_timestamps_come_back_aware_utc_and_money_exact(sqlite_db: Database) -> None:
    t = (await sqlite_db.new_tenant()).tenant.id
    plus_two = timezone(timedelta(hours=2))
    created = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=plus_two)
    deal = r.deal(t, None, created_at=created, value=Decimal("9999999999999999.99"))
    async with sqlite_db.uow(t) as uow:
        await uow.deals.add(deal)
        await uow.commit()
    async with sqlite_db.uow(t) as uow:
        got = await uow.deals.get(deal.id)
    assert got is not None
    assert got.created_at == created
    assert got.created_at.tzinfo is UTC
    assert got.value == Decimal("9999999999999999.99")


async def test_naive_timestamps_are_refused(sqlite_db: Database) -> None:
    t = (await sqlite_db.new_tenant()).tenant.id
    async with sqlite_db.uow(t) as uow:
        with pytest.raises(Exception, match="naive datetime"):
            await uow.deals.add(r.deal(t, None, created_at=datetime(2026, 1, 1)))
