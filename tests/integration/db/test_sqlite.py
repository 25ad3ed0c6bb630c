"""What SQLite does not do by itself: foreign keys, time zones, exact money; and how the store
keeps its write-ahead log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import bindparam, text
from sqlalchemy.exc import IntegrityError

from pie.adapters.db.engine import SQLITE_WAL_CHECKPOINT_PAGES, SQLITE_WAL_KEEP_BYTES
from pie.adapters.db.tables import HAS_OBJECTIONS
from pie.adapters.db.types import UtcDateTime
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


async def test_the_wal_is_checkpointed_in_large_steps_and_cut_back_after(
    sqlite_db: Database,
) -> None:
    """Readers never wait for the writer (WAL), a commit is durable against a crash of the
    process (synchronous NORMAL), and a sync's batches are copied into the database every
    ``SQLITE_WAL_CHECKPOINT_PAGES`` pages, not after every commit."""
    async with sqlite_db.sessions() as session:

        async def pragma(name: str) -> object:
            return (await session.execute(text(f"PRAGMA {name}"))).scalar()

        assert await pragma("journal_mode") == "wal"
        assert await pragma("synchronous") == 1  # NORMAL
        assert await pragma("wal_autocheckpoint") == SQLITE_WAL_CHECKPOINT_PAGES
        assert await pragma("journal_size_limit") == SQLITE_WAL_KEEP_BYTES


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


async def test_times_written_in_bulk_are_the_text_sqlalchemy_writes(sqlite_db: Database) -> None:
    """A batch's times are converted a column at a time (``bulk._sqlite_datetimes``): stored as
    the same naive-UTC text as one value bound through SQLAlchemy's own type (text order is
    time order), and read back as the same instants, empty ones empty."""
    t = (await sqlite_db.new_tenant()).tenant.id
    zones = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-9, minutes=-30))]
    times = [
        datetime(2026, 3, 29, 1, 59, 59, 999_999, tzinfo=zones[n % 3]) + timedelta(hours=7 * n)
        for n in range(7)
    ] + [datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC), datetime(999, 1, 1, tzinfo=UTC)]
    closed = [None if n % 2 else when for n, when in enumerate(times)]
    deals = [r.deal(t, None, created_at=c, closed_at=d) for c, d in zip(times, closed, strict=True)]
    async with sqlite_db.uow(t) as uow:
        await uow.deals.upsert_many(deals)
        await uow.commit()
    async with sqlite_db.sessions() as session:
        stored = {
            row[0]: (row[1], row[2])
            for row in await session.execute(
                text("SELECT id, created_at, closed_at FROM deals WHERE tenant_id = :t"),
                {"t": t.hex},
            )
        }
        one = text("SELECT :v").bindparams(bindparam("v", type_=UtcDateTime()))
        for deal in deals:
            alone = (await session.execute(one, {"v": deal.created_at})).scalar()
            assert stored[deal.id.hex][0] == alone
            assert stored[deal.id.hex][1] == (None if deal.closed_at is None else alone)
    async with sqlite_db.uow(t) as uow:
        for deal in deals:
            got = await uow.deals.get(deal.id)
            assert got is not None
            assert (got.created_at, got.closed_at) == (deal.created_at, deal.closed_at)


async def test_naive_timestamps_are_refused(sqlite_db: Database) -> None:
    t = (await sqlite_db.new_tenant()).tenant.id
    async with sqlite_db.uow(t) as uow:
        with pytest.raises(Exception, match="naive datetime"):
            await uow.deals.add(r.deal(t, None, created_at=datetime(2026, 1, 1)))


async def test_activities_are_read_as_columns_without_their_table_rows(sqlite_db: Database) -> None:
    """The columns' reads of activities touch no table row (a page read each at 1,000,000
    deals): deal and time from their index alone, the deals with objections from the partial
    index, whose predicate the reader must repeat word for word to get it."""
    where = "tenant_id = 'x' AND deal_id IS NOT NULL"
    times = (
        f"SELECT deal_id, occurred_at FROM activities WHERE {where} ORDER BY deal_id, occurred_at"
    )
    objected = (
        f"SELECT DISTINCT deal_id FROM activities WHERE {where} AND {HAS_OBJECTIONS['sqlite']}"
    )
    async with sqlite_db.sessions() as session:
        plans = [
            " ".join(row[-1] for row in await session.execute(text(f"EXPLAIN QUERY PLAN {q}")))
            for q in (times, objected)
        ]
    assert "COVERING INDEX ix_activities_tenant_id_deal_id_occurred_at" in plans[0]
    assert "TEMP B-TREE" not in plans[0]
    assert "INDEX ix_activities_objections" in plans[1]
