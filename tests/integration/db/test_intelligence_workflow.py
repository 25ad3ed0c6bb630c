"""The intelligence workflow on the real engines: conversations in, plans and maps stored,
and no duplicate deal when one account's conversations are processed concurrently
(PostgreSQL's advisory lock per tenant and account)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from pie.adapters.db.uow import SqlUnitOfWork
from pie.domain.intelligence import DecisionAction
from pie.domain.model import Account, EntityKind, derive_id
from pie.domain.political import DECISION_POWER, ScoreSource
from pie.domain.qualification import read_qualification
from pie.intelligence.lexicon import ExtractorConfig
from pie.intelligence.offline import OfflineExtractor
from pie.services.conversations import add_conversation, process_activities
from pie.services.political_map import Override, political_map, set_override
from pie.services.progression import explain
from tests.dbfixtures import Database
from tests.unit.services.intel_world import BUYING, FOLLOW_UP, SELLER, email

NOW = datetime(2026, 6, 1, tzinfo=UTC)
EXTRACTOR = OfflineExtractor(ExtractorConfig(seller_domains=(SELLER,)))


async def test_conversations_to_deal_map_plan_and_explanation(db: Database) -> None:
    tenant = (await db.new_tenant("intel")).tenant.id

    def uow() -> SqlUnitOfWork:
        return SqlUnitOfWork(db.sessions, tenant, writes=True)

    first = await add_conversation(uow, EXTRACTOR, email(BUYING), seller_domains=(SELLER,), now=NOW)
    assert first.applied.created_deal and first.applied.deal_id is not None
    second = await add_conversation(
        uow,
        EXTRACTOR,
        email(FOLLOW_UP, day="Mon, 9 Mar 2026 10:00:00 +0000"),
        seller_domains=(SELLER,),
        now=NOW,
    )
    assert second.applied.decision.action is DecisionAction.UPDATE
    assert second.applied.deal_id == first.applied.deal_id
    account = first.applied.account_id
    assert account is not None
    async with uow() as w:
        await set_override(
            w, account, "Mark Lee", Override(scores={DECISION_POWER: 4}, note="n"), now=NOW
        )
        await w.commit()
    report = await process_activities(
        uow, EXTRACTOR, force=True, seller_domains=(SELLER,), now=NOW, stall=False
    )
    assert report.processed == 2 and report.deals_created == 0
    async with db.uow(tenant) as r:
        deal = await r.deals.get(first.applied.deal_id)
        assert deal is not None
        q = read_qualification(deal.qualification)
        assert q.budget is not None and q.budget.evidence is not None
        activity = await r.activities.get(q.budget.evidence.activity_id)  # type: ignore[arg-type]
        assert activity is not None and activity.raw_content is not None
        ev = q.budget.evidence
        assert activity.raw_content[ev.start : ev.end] == ev.quote
        assert activity.summary  # the enrichment is on the activity
        plan = await r.plans.get_opportunity_plan(deal.id)
        assert plan is not None and plan.data.qualification_tracking.budget.status != "unknown"
        pm = await political_map(r, account)
        mark = next(e for e in pm.entries if e.contact.name == "Mark Lee")
        assert mark.profile.scores[DECISION_POWER].source is ScoreSource.HUMAN_OVERRIDE
        assert mark.profile.value(DECISION_POWER) == 4
        x = await explain(r, deal.id, now=NOW)
        assert x.evidence.interactions == 2


async def test_concurrent_conversations_of_one_account_make_exactly_one_deal(
    db: Database,
) -> None:
    """On PostgreSQL the advisory lock per tenant and account serialises them (without it this
    test finds several deals); on SQLite the writer lock every writing unit begins with."""
    tenant = (await db.new_tenant("race")).tenant.id
    account = Account(
        id=derive_id(tenant, EntityKind.ACCOUNT, "t", "globex"),
        tenant_id=tenant,
        name="Globex",
        domain="globex.com",
        created_at=NOW,
        updated_at=NOW,
    )
    async with db.uow(tenant) as w:
        await w.accounts.add(account, origin="salesforce")
        await w.commit()

    def uow() -> SqlUnitOfWork:
        return SqlUnitOfWork(db.sessions, tenant, writes=True)

    # 24 different conversations (different people, days) with the same buying signal
    texts = [
        email(
            BUYING + f" Reference {i}.",
            day=f"Mon, {1 + i % 28} Mar 2026 {i % 24:02d}:00:00 +0000",
            sender=f"Buyer {i} <buyer{i}@globex.com>",
        )
        for i in range(24)
    ]
    results = await asyncio.gather(
        *(add_conversation(uow, EXTRACTOR, t, seller_domains=(SELLER,), now=NOW) for t in texts)
    )
    assert sum(r.applied.created_deal for r in results) == 1
    async with db.uow(tenant) as r:
        deals = await r.deals.list()
        assert len(deals) == 1
        assert {res.applied.deal_id for res in results} == {deals[0].id}
        assert len(await r.activities.for_deal(deals[0].id)) == 24
