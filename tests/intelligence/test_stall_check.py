"""Stalling on a schedule, on SQLite and PostgreSQL: the stall check stalls every quiet deal
PIE may move (and reports it), keeps a stage a person set (and reports that), runs for every
tenant from the job queue's periodic task, and new activity revives a stalled deal."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

from pie.adapters.db.uow import SqlUnitOfWork
from pie.domain.model import Deal
from pie.domain.ownership import HUMAN
from pie.domain.progression import ProgressionSettings
from pie.domain.stages import Stage
from pie.intelligence.lexicon import ExtractorConfig
from pie.intelligence.offline import OfflineExtractor
from pie.services.conversations import add_conversation
from pie.services.stalling import check_all, check_tenant
from tests.dbfixtures import Database
from tests.unit.services.intel_world import BUYING, FOLLOW_UP, SELLER, email

EXTRACTOR = OfflineExtractor(ExtractorConfig(seller_domains=(SELLER,)))
MARCH = datetime(2026, 3, 2, 10, tzinfo=UTC)


async def _deal(db: Database, tenant: UUID, sender: str) -> Deal:
    def uow() -> SqlUnitOfWork:
        return SqlUnitOfWork(db.sessions, tenant, writes=True)

    done = await add_conversation(
        uow, EXTRACTOR, email(BUYING, sender=sender), seller_domains=(SELLER,), now=MARCH
    )
    assert done.applied.deal_id is not None
    async with db.uow(tenant) as r:
        deal = await r.deals.get(done.applied.deal_id)
    assert deal is not None
    return deal


async def test_quiet_deals_stall_a_person_s_stage_stays_and_both_are_reported(
    db: Database,
) -> None:
    tenant = (await db.new_tenant("stall")).tenant.id
    other = (await db.new_tenant("stall-other")).tenant.id
    quiet = await _deal(db, tenant, "Dana Reyes <dana@globex.com>")
    held = await _deal(db, tenant, "Ravi Shah <ravi@initech.com>")
    elsewhere = await _deal(db, other, "Li Wei <li@umbrella.com>")
    async with db.uow(tenant) as w:
        await w.deals.update(
            dataclasses.replace(held, stage=Stage.DEMO), origin=HUMAN, fields=frozenset({"stage"})
        )
        await w.intel.save_settings(ProgressionSettings(stalled_after_days=20))
        await w.commit()

    def uow(t: UUID) -> SqlUnitOfWork:
        return SqlUnitOfWork(db.sessions, t, writes=True)

    early = await check_tenant(uow(tenant), now=MARCH + timedelta(days=10))
    assert early.stalled == () and early.kept == () and early.open_deals == 2
    later = MARCH + timedelta(days=21)
    reports = await check_all(db.tenants.ids, uow, now=later)
    mine = reports[tenant]
    assert [d.deal_id for d in mine.stalled] == [quiet.id]
    assert mine.stalled[0].stage is Stage.LEAD and mine.stalled_after_days == 20
    assert [(d.deal_id, d.stage_owner) for d in mine.kept] == [(held.id, HUMAN)]
    assert reports[other].stalled == ()  # its default is 30 days
    async with db.uow(tenant) as r:
        got = {d.id: d.stage for d in await r.deals.list()}
        (tr,) = [t for t in await r.transitions.for_deal(quiet.id) if t.to_stage is Stage.STALLED]
        why = await r.intel.transition_evidence([tr.id])
    assert got == {quiet.id: Stage.STALLED, held.id: Stage.DEMO}
    assert "no activity for 20 days" in why[tr.id].reason
    again = await check_tenant(uow(tenant), now=later + timedelta(days=1))
    assert again.stalled == ()  # a stalled deal is not stalled twice
    # new activity revives it
    await add_conversation(
        lambda: uow(tenant),
        EXTRACTOR,
        email(FOLLOW_UP, day="Mon, 30 Mar 2026 10:00:00 +0000"),
        seller_domains=(SELLER,),
        now=later,
    )
    async with db.uow(tenant) as r:
        revived = await r.deals.get(quiet.id)
    assert revived is not None and revived.stage.is_open and revived.stage is not Stage.STALLED
    assert elsewhere.stage is not Stage.STALLED


async def test_the_worker_runs_the_stall_check_periodically(db: Database, tmp_path: Path) -> None:
    """`pie worker`: on PostgreSQL the Procrastinate periodic task (every second here), on
    SQLite the in-process loop (at start, then hourly)."""
    from email.utils import format_datetime

    from pie.bootstrap import build
    from pie.config import Settings

    tenant = (await db.new_tenant("stall-job")).tenant.id
    long_ago = datetime.now(UTC) - timedelta(days=60)

    def uow() -> SqlUnitOfWork:
        return SqlUnitOfWork(db.sessions, tenant, writes=True)

    done = await add_conversation(
        uow,
        EXTRACTOR,
        email(BUYING, day=format_datetime(long_ago)),
        seller_domains=(SELLER,),
        now=long_ago,
    )
    assert done.applied.deal_id is not None
    container = build(Settings(database_url=db.url, data_dir=tmp_path))
    worker = asyncio.create_task(
        container.run_worker(
            install_signal_handlers=False, every=0.05, stall_cron="* * * * * *", name="stall-test"
        )
    )
    try:
        for _ in range(300):
            await asyncio.sleep(0.1)
            async with db.uow(tenant) as r:
                deal = await r.deals.get(done.applied.deal_id)
            if deal is not None and deal.stage is Stage.STALLED:
                break
        assert deal is not None and deal.stage is Stage.STALLED
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(worker, timeout=10)
        await container.aclose()
