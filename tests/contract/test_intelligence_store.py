"""The intelligence store's contract (pie.ports.intelligence), run against the in-memory fake,
SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta

import pytest

from pie.domain.errors import StaleVersion
from pie.domain.model import Activity, Deal, Stakeholder
from pie.domain.political import (
    DECISION_POWER,
    Relationship,
    RelationshipKind,
    ScoreRecord,
    ScoreSource,
    StakeholderProfile,
    propose,
)
from pie.domain.progression import ProgressionSettings, StageRequirements
from pie.domain.stages import Stage
from pie.ports.intelligence import ActivityIntel, Narrative, PlanVersion, TransitionEvidence
from tests.contract import records as r
from tests.contract.test_repositories import Store
from tests.dbfixtures import Database
from tests.fakes.uow import FakeTenantDirectory, InMemoryStore, InMemoryUnitOfWork

T0 = r.T0


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> Store:
    if request.param == "memory":
        memory = InMemoryStore()
        return Store(FakeTenantDirectory(memory), lambda t: InMemoryUnitOfWork(t, memory))
    db: Database = request.getfixturevalue(f"{request.param.replace('postgresql', 'postgres')}_db")
    return Store(db.tenants, db.uow)


async def _world(store: Store) -> tuple[uuid.UUID, Deal, Activity, Stakeholder, Stakeholder]:
    t = await store.tenant()
    acc = r.account(t)
    c1, c2 = r.contact(t, acc.id), r.contact(t, acc.id, email="b@acme.test")
    deal = r.deal(t, acc.id)
    act = r.activity(t, deal.id, account_id=acc.id)
    s1 = r.stakeholder(t, c1.id, deal_id=None, account_id=acc.id)
    s2 = r.stakeholder(t, c2.id, deal_id=None, account_id=acc.id)
    async with store.uow(t) as uow:
        await uow.accounts.add(acc)
        await uow.contacts.add(c1)
        await uow.contacts.add(c2)
        await uow.deals.add(deal)
        await uow.activities.add(act)
        await uow.stakeholders.add(s1)
        await uow.stakeholders.add(s2)
        await uow.commit()
    return t, deal, act, s1, s2


async def test_activity_intel_is_one_row_per_activity_and_replaced(store: Store) -> None:
    t, _deal, act, _s1, _s2 = await _world(store)
    first = ActivityIntel(
        activity_id=act.id,
        digest="a" * 64,
        extractor="offline",
        extraction={"signals": [{"kind": "budget_mention", "confidence": 0.9}]},
        enrichment={"summary": "s"},
        processed_at=T0,
        warnings=("w",),
    )
    async with store.uow(t) as uow:
        assert await uow.intel.processed([act.id]) == {}
        await uow.intel.save_activity(first)
        await uow.commit()
    second = ActivityIntel(
        activity_id=act.id,
        digest="b" * 64,
        extractor="offline",
        extraction={},
        enrichment={"summary": "t"},
        processed_at=T0 + timedelta(hours=1),
    )
    async with store.uow(t) as uow:
        assert await uow.intel.get_activity(act.id) == first
        await uow.intel.save_activity(second)
        await uow.commit()
    async with store.uow(t) as uow:
        assert await uow.intel.processed([act.id, uuid.uuid4()]) == {act.id: "b" * 64}
        assert await uow.intel.for_activities([act.id]) == {act.id: second}
    other = await store.tenant()
    async with store.uow(other) as uow:
        assert await uow.intel.processed([act.id]) == {}


async def test_profiles_and_relationships_round_trip(store: Store) -> None:
    t, _deal, act, s1, s2 = await _world(store)
    prof = StakeholderProfile(stakeholder_id=s1.id, communication_style="direct")
    prof = propose(
        prof,
        DECISION_POWER,
        ScoreRecord(value=6, source=ScoreSource.HEURISTIC, evidence="title", at=T0),
    )
    prof = propose(
        prof,
        DECISION_POWER,
        ScoreRecord(
            value=8,
            source=ScoreSource.CONVERSATION_SIGNAL,
            evidence="I sign off on this",
            at=T0 + timedelta(days=1),
            activity_id=act.id,
        ),
    )
    rel = Relationship(
        id=uuid.uuid4(),
        from_id=s1.id,
        to_id=s2.id,
        kind=RelationshipKind.REPORTS_TO,
        source=ScoreSource.CONVERSATION_SIGNAL,
        evidence="I report to Bo",
        activity_id=act.id,
        at=T0,
    )
    async with store.uow(t) as uow:
        await uow.intel.save_profile(prof)
        stored = await uow.intel.save_relationship(rel)
        again = await uow.intel.save_relationship(
            Relationship(
                id=uuid.uuid4(),
                from_id=rel.from_id,
                to_id=rel.to_id,
                kind=rel.kind,
                source=ScoreSource.HUMAN_OVERRIDE,
                evidence="confirmed by ana",
                at=T0 + timedelta(days=2),
            )
        )
        await uow.commit()
    assert stored == rel and again.id == rel.id
    async with store.uow(t) as uow:
        got = await uow.intel.profiles([s1.id, s2.id])
        assert got == {s1.id: prof}
        assert got[s1.id].value(DECISION_POWER) == 8
        assert len(got[s1.id].history) == 1
        rels = await uow.intel.relationships([s2.id])
        assert [(x.id, x.source, x.evidence) for x in rels] == [
            (rel.id, ScoreSource.HUMAN_OVERRIDE, "confirmed by ana")
        ]
        assert await uow.intel.delete_relationship(rel.id)
        assert not await uow.intel.delete_relationship(rel.id)
        await uow.commit()
    async with store.uow(t) as uow:
        assert await uow.intel.relationships([s1.id]) == []


async def test_settings_evidence_narratives_and_plan_versions(store: Store) -> None:
    t, deal, act, _s1, _s2 = await _world(store)
    tr = r.transition(t, deal.id, trigger_activity_id=act.id)
    custom = ProgressionSettings(
        requirements={Stage.DEMO: StageRequirements(min_interactions=7)}, stalled_after_days=12
    )
    async with store.uow(t) as uow:
        assert await uow.intel.settings() == ProgressionSettings()
        await uow.transitions.add(tr)
        await uow.intel.save_settings(custom)
        await uow.intel.save_transition_evidence(
            TransitionEvidence(
                transition_id=tr.id,
                reason="requirements of demo are met",
                evidence=({"field": "budget", "quote": "we have 50k", "start": 3, "end": 14},),
            )
        )
        for v in (1, 2, 2):
            await uow.intel.save_plan_version(
                PlanVersion(kind="deal", owner_id=deal.id, version=v, data={"v": v}, saved_at=T0)
            )
        await uow.intel.save_narrative(
            Narrative(
                kind="deal",
                owner_id=deal.id,
                inputs_digest="x",
                writer="offline",
                text="t1",
                created_at=T0,
            )
        )
        await uow.intel.save_narrative(
            Narrative(
                kind="deal",
                owner_id=deal.id,
                inputs_digest="y",
                writer="offline",
                text="t2",
                created_at=T0,
            )
        )
        await uow.commit()
    async with store.uow(t) as uow:
        got = await uow.intel.settings()
        assert got.stalled_after_days == 12
        assert got.requirements[Stage.DEMO].min_interactions == 7
        ev = await uow.intel.transition_evidence([tr.id])
        assert ev[tr.id].evidence[0]["quote"] == "we have 50k"
        versions = await uow.intel.plan_versions("deal", deal.id)
        assert [v.version for v in versions] == [1, 2]
        narrative = await uow.intel.narrative("deal", deal.id)
        assert narrative is not None and narrative.text == "t2"


async def test_a_rolled_back_unit_leaves_nothing(store: Store) -> None:
    t, _deal, act, _s1, _s2 = await _world(store)
    async with store.uow(t) as uow:
        await uow.intel.save_activity(
            ActivityIntel(
                activity_id=act.id,
                digest="d",
                extractor="offline",
                extraction={},
                enrichment={},
                processed_at=T0,
            )
        )
    async with store.uow(t) as uow:
        assert await uow.intel.processed([act.id]) == {}


@pytest.mark.parametrize("days", [0, -1])
def test_settings_refuse_nonsense(days: int) -> None:
    from pie.domain.errors import InvalidInput

    with pytest.raises(InvalidInput):
        ProgressionSettings(stalled_after_days=days)


async def test_intelligence_goes_with_its_activity(store: Store) -> None:
    t, deal, act, _s1, _s2 = await _world(store)
    async with store.uow(t) as uow:
        await uow.intel.save_activity(
            ActivityIntel(
                activity_id=act.id,
                digest="d",
                extractor="offline",
                extraction={},
                enrichment={},
                processed_at=T0,
            )
        )
        await uow.commit()
    async with store.uow(t) as uow:
        assert await uow.deals.delete(deal.id)  # its activities go with it, and their intel
        await uow.commit()
    async with store.uow(t) as uow:
        assert await uow.intel.processed([act.id]) == {}


async def test_a_batch_reads_its_records_at_once_and_writes_in_bulk(store: Store) -> None:
    from pie.domain.ownership import HUMAN
    from pie.domain.plans import OpportunityPlanData
    from pie.domain.stages import Stage
    from pie.ports.intelligence import IntelWrites, PlanSave

    t, deal, act, s1, s2 = await _world(store)
    talk = r.activity(t, deal.id, account_id=deal.account_id, raw_content="Dana: we need it")
    elsewhere = r.deal(t, None)  # a deal of no account, asked for by id
    async with store.uow(t) as uow:
        since = await uow.changes.latest()
        await uow.activities.add(talk)
        await uow.deals.add(elsewhere)
        await uow.deals.update(
            dataclasses.replace(deal, stage=Stage.DEMO), origin=HUMAN, fields=frozenset({"stage"})
        )
        await uow.intel.save_activity(
            ActivityIntel(
                activity_id=act.id,
                digest="d" * 64,
                extractor="offline",
                extraction={
                    "detection": {
                        "signals": [{"kind": "budget_mention", "evidence": {"quote": "q"}}],
                        "competitors": ["Clari"],
                    },
                    "qualification": {"budget": {"value": "50k"}},
                },
                enrichment={"sentiment": 0.5, "summary": "long"},
                processed_at=T0,
            )
        )
        await uow.commit()
    async with store.uow(t) as uow:
        # what the import brought since the mark: the activity with content, once
        assert [a.id for a in await uow.intel.with_content_since(since)] == [talk.id]
        assert await uow.intel.with_content_since(await uow.changes.latest()) == []
        scope = await uow.intel.load(
            account_ids=[deal.account_id],  # type: ignore[list-item]
            deal_ids=[elsewhere.id],
            activity_ids=[talk.id],
            emails=["b@acme.test"],
        )
    assert set(scope.deals) == {deal.id, elsewhere.id}
    assert set(scope.activities) == {act.id, talk.id}
    assert set(scope.stakeholders) == {s1.id, s2.id}
    assert {s1.contact_id, s2.contact_id} <= set(scope.contacts)
    assert scope.provenance[deal.id]["stage"][0] == HUMAN
    light = scope.intel[act.id]  # not asked for: what a batch reads of it
    assert light.digest == "d" * 64
    assert [s["kind"] for s in light.extraction["detection"]["signals"]] == ["budget_mention"]
    assert light.extraction["detection"]["competitors"] == ["Clari"]
    assert light.enrichment["sentiment"] == 0.5
    assert scope.deal_plans == {} and scope.narratives == {}

    plan = OpportunityPlanData(narrative="first")
    async with store.uow(t) as uow:
        await uow.intel.save_many(
            IntelWrites(
                plans=[
                    PlanSave(kind="deal", owner_id=deal.id, data=plan, expected_version=0,
                             saved_at=T0)
                ],
                narratives=[
                    Narrative(kind="deal", owner_id=deal.id, inputs_digest="x", writer="offline",
                              text="first", created_at=T0)
                ],
            )
        )  # fmt: skip
        await uow.commit()
    async with store.uow(t) as uow:
        scope = await uow.intel.load(account_ids=[deal.account_id])  # type: ignore[list-item]
        stored = scope.deal_plans[deal.id]
        assert stored.version == 1 and stored.data.narrative == "first"
        assert scope.narratives[("deal", deal.id)].text == "first"
        again = plan.model_copy(update={"narrative": "second"})
        await uow.intel.save_many(
            IntelWrites(
                plans=[PlanSave(kind="deal", owner_id=deal.id, data=again, expected_version=1,
                                plan_id=stored.id, saved_at=T0)]
            )
        )  # fmt: skip
        await uow.commit()
    async with store.uow(t) as uow:
        got = await uow.plans.get_opportunity_plan(deal.id)
        assert got is not None and (got.version, got.data.narrative) == (2, "second")
        assert [v.version for v in await uow.intel.plan_versions("deal", deal.id)] == [1, 2]
        with pytest.raises(StaleVersion):  # someone else saved version 2 meanwhile
            await uow.intel.save_many(
                IntelWrites(
                    plans=[PlanSave(kind="deal", owner_id=deal.id, data=plan,
                                    expected_version=1, plan_id=stored.id, saved_at=T0)]
                )
            )  # fmt: skip
