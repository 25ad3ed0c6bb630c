"""The intelligence workflow over the in-memory store: conversations in, the opportunity
handler, qualification, political scores, stage progression, plans, reprocessing and the
import hook."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from uuid import UUID
from xml.etree import ElementTree

import pytest

from pie.domain.errors import AccountNotFound, DealNotFound, InvalidInput
from pie.domain.intelligence import Conversation, DecisionAction, Extraction, QualificationField
from pie.domain.model import Account, Activity, ActivityType, Deal, EntityKind, derive_id
from pie.domain.ownership import HUMAN
from pie.domain.plans import MAX_INTERACTION_SUMMARIES
from pie.domain.political import DECISION_POWER, RelationshipKind, ScoreSource
from pie.domain.qualification import read_qualification, write_qualification
from pie.domain.stages import Stage
from pie.importing.report import ConversationCounts
from pie.ports.extractor import Extractor
from pie.services import plans_intel
from pie.services.conversations import (
    ImportHook,
    Processed,
    add_conversation,
    add_conversations,
    process_activities,
)
from pie.services.political_map import Override, political_map, set_override, to_dot, to_svg
from pie.services.progression import explain, stall_quiet_deals
from tests.fakes.uow import InMemoryStore
from tests.unit.services.intel_world import (
    BUYING,
    FOLLOW_UP,
    NOW,
    SELLER,
    SMALL_TALK,
    World,
    email,
    world,
)


async def add(
    w: World,
    text: str | bytes,
    *,
    fmt: str = "auto",
    account_id: UUID | None = None,
    deal_id: UUID | None = None,
) -> Processed:
    return await add_conversation(
        w.factory,
        w.extractor,
        text,
        fmt=fmt,
        account_id=account_id,
        deal_id=deal_id,
        seller_domains=(SELLER,),
        now=NOW,
    )


async def deals(w: World) -> list[Deal]:
    async with w.uow() as uow:
        return list(await uow.deals.list())


async def test_a_buying_conversation_creates_one_deal_and_a_repeat_changes_nothing() -> None:
    w = await world()
    first = await add(w, email(BUYING))
    assert first.applied.decision.action is DecisionAction.CREATE and first.applied.created_deal
    [deal] = await deals(w)
    assert deal.value is not None and int(deal.value) == 120_000
    q = read_qualification(deal.qualification)
    assert q.budget is not None and q.budget.evidence is not None
    text = first.conversation.text
    ev = q.budget.evidence
    assert text[ev.start : ev.end] == ev.quote and ev.activity_id == first.applied.activity_id
    again = await add(w, email(BUYING))
    assert again.applied.skipped and len(await deals(w)) == 1
    async with w.uow() as uow:
        changes = await uow.changes.latest()
    await add(w, email(BUYING))
    async with w.uow() as uow:
        assert await uow.changes.latest() == changes  # a repeat writes nothing


async def test_a_later_conversation_updates_the_deal_rather_than_creating_another() -> None:
    w = await world()
    await add(w, email(BUYING))
    second = await add(w, email(FOLLOW_UP, day="Mon, 9 Mar 2026 10:00:00 +0000"))
    assert second.applied.decision.action is DecisionAction.UPDATE
    [deal] = await deals(w)
    q = read_qualification(deal.qualification)
    assert q.champion is not None or q.decision_criteria is not None
    small = await add(w, email(SMALL_TALK, day="Tue, 10 Mar 2026 10:00:00 +0000"))
    assert small.applied.decision.action is DecisionAction.NONE
    assert len(await deals(w)) == 1


async def test_a_value_a_person_entered_is_never_overwritten() -> None:
    w = await world()
    await add(w, email(BUYING))
    [deal] = await deals(w)
    q = read_qualification(deal.qualification)
    human = q.model_copy(
        update={"budget": QualificationField(value="$50,000 (per Ana)", by_human=True)}
    )
    async with w.uow() as uow:
        await uow.deals.update(
            dataclasses.replace(deal, qualification=write_qualification(human)),
            origin=HUMAN,
            fields=frozenset({"qualification"}),
        )
        await uow.commit()
    await add(w, email(FOLLOW_UP, day="Mon, 9 Mar 2026 10:00:00 +0000"))
    [deal] = await deals(w)
    budget = read_qualification(deal.qualification).budget
    assert budget is not None and budget.value == "$50,000 (per Ana)"


async def test_bad_input_and_unknown_ids_store_nothing() -> None:
    w = await world()
    for bad in ("", "   \n", b"\x00\x01binary", b"\xff\xfe\xfa not utf-8", "{not json"):
        with pytest.raises(InvalidInput):
            await add(w, bad, fmt="json" if bad == "{not json" else "auto")
    with pytest.raises(InvalidInput):
        await add(w, "x" * (5 * 1024 * 1024 + 1))
    with pytest.raises(AccountNotFound):
        await add(w, email(BUYING), account_id=derive_id(w.tenant, "account", "nope"))
    with pytest.raises(DealNotFound):
        await add(w, email(BUYING), deal_id=derive_id(w.tenant, "deal", "nope"))
    async with w.uow() as uow:
        assert await uow.changes.latest() == 0


async def test_political_scores_rise_from_conversations_and_a_human_override_sticks() -> None:
    w = await world()
    first = await add(w, email(BUYING))
    assert first.applied.account_id is not None
    acc = first.applied.account_id
    async with w.uow() as uow:
        pm = await political_map(uow, acc)
    mark = next(e for e in pm.entries if e.contact.name == "Mark Lee")
    assert mark.profile.scores[DECISION_POWER].source in (
        ScoreSource.HEURISTIC,
        ScoreSource.CONVERSATION_SIGNAL,
    )
    async with w.uow() as uow:
        await set_override(
            uow,
            acc,
            "Mark Lee",
            Override(scores={DECISION_POWER: 2}, note="he delegates to Dana", by="ana"),
            now=NOW,
        )
        await set_override(
            uow,
            acc,
            "dana@globex.com",
            Override(
                add_roles=(),
                relationship=RelationshipKind.REPORTS_TO,
                other="Mark Lee",
            ),
            now=NOW,
        )
        await uow.commit()
    for day in (9, 10, 11):
        await add(w, email(FOLLOW_UP + f" Day {day}.", day=f"Mon, {day} Mar 2026 10:00:00 +0000"))
    async with w.uow() as uow:
        pm = await political_map(uow, acc)
        mark = next(e for e in pm.entries if e.contact.name == "Mark Lee")
        rec = mark.profile.scores[DECISION_POWER]
        assert (rec.value, rec.source, rec.evidence) == (
            2,
            ScoreSource.HUMAN_OVERRIDE,
            "he delegates to Dana",
        )
        assert mark.stakeholder.scores[DECISION_POWER] == 2
        assert [r.kind.value for r in pm.relationships] == ["reports_to"]
    dot, svg = to_dot(pm), to_svg(pm)
    assert "reports to" in dot and "Mark Lee" in dot
    ElementTree.fromstring(svg)  # well-formed


async def test_stages_advance_on_evidence_with_a_recorded_reason_and_respect_a_person() -> None:
    w = await world()
    first = await add(w, email(BUYING))
    async with w.uow() as uow:
        assert first.applied.deal_id is not None
        x = await explain(uow, first.applied.deal_id, now=NOW)
    assert (x.deal.stage, x.proposal.next_stage) == (Stage.LEAD, Stage.QUALIFICATION)
    assert "1 interactions, needs 2" in x.proposal.missing
    for i, day in enumerate((9, 16, 23)):
        await add(w, email(FOLLOW_UP + f" Note {i}.", day=f"Mon, {day} Mar 2026 10:00:00 +0000"))
    [deal] = await deals(w)
    assert deal.stage.rank > Stage.LEAD.rank
    async with w.uow() as uow:
        x = await explain(uow, deal.id, now=NOW)
    moved = [t for t, why in x.transitions if t.from_stage is not None]
    assert moved and all(t.trigger_activity_id is not None for t in moved)
    assert all(why is not None and why.evidence for t, why in x.transitions if t.from_stage)
    # a person moves it back: PIE keeps that, and says so
    async with w.uow() as uow:
        await uow.deals.update(
            dataclasses.replace(deal, stage=Stage.LEAD),
            origin=HUMAN,
            fields=frozenset({"stage"}),
        )
        await uow.commit()
    await add(w, email(FOLLOW_UP + " Again.", day="Mon, 30 Mar 2026 10:00:00 +0000"))
    [deal] = await deals(w)
    assert deal.stage is Stage.LEAD
    async with w.uow() as uow:
        x = await explain(uow, deal.id, now=NOW)
    assert x.stage_owner == HUMAN and not x.may_move
    assert first.applied.deal_id == deal.id


async def test_quiet_deals_stall_and_new_activity_revives_them() -> None:
    w = await world()
    await add(w, email(BUYING))
    [deal] = await deals(w)
    async with w.uow() as uow:
        assert await stall_quiet_deals(uow, now=deal.created_at + timedelta(days=10)) == []
        assert await stall_quiet_deals(uow, now=deal.created_at + timedelta(days=31)) == [deal.id]
        await uow.commit()
    [deal] = await deals(w)
    assert deal.stage is Stage.STALLED
    await add(w, email(FOLLOW_UP, day="Mon, 13 Apr 2026 10:00:00 +0000"))
    [deal] = await deals(w)
    assert deal.stage is not Stage.STALLED and deal.stage.is_open


async def test_plans_are_versioned_capped_and_their_narrative_cached() -> None:
    w = await world()
    await add(w, email(BUYING))
    for i in range(MAX_INTERACTION_SUMMARIES + 4):
        await add(
            w,
            email(
                f"Quick note number {i}. {FOLLOW_UP}", day=f"Wed, 1 Apr 2026 {i:02d}:00:00 +0000"
            ),
        )
    [deal] = await deals(w)
    async with w.uow() as uow:
        plan = await uow.plans.get_opportunity_plan(deal.id)
        assert plan is not None and plan.version > 1
        assert len(plan.data.interaction_summaries) == MAX_INTERACTION_SUMMARIES
        assert plan.data.earlier.startswith("Earlier: ")
        versions = await uow.intel.plan_versions("deal", deal.id)
        assert [v.version for v in versions] == list(range(1, plan.version + 1))
        assert plan.data.qualification_tracking.budget.evidence[0].activity_id is not None
        account_plan = await uow.plans.get_account_plan(deal.account_id)  # type: ignore[arg-type]
        assert (
            account_plan is not None
            and "Clari" in account_plan.data.strategic_positioning.competitors
        )
        narrative = await uow.intel.narrative("deal", deal.id)
        assert narrative is not None and narrative.text == plan.data.narrative

    calls: list[str] = []

    class Counting:
        name = "counting"

        async def write(self, kind: str, facts: str) -> str:
            calls.append(kind)
            return "written: " + facts

    async with w.uow() as uow:
        await plans_intel.update_opportunity_plan(uow, deal, now=NOW, writer=Counting())
        await plans_intel.update_opportunity_plan(uow, deal, now=NOW, writer=Counting())
        assert calls == ["deal"]  # inputs unchanged: the cached text is reused
        md = plans_intel.opportunity_markdown(
            deal,
            1,
            (await uow.plans.get_opportunity_plan(deal.id)).data,  # type: ignore[union-attr]
        )
    assert md.startswith("# Opportunity plan") and "## Qualification" in md


def globex(w: World) -> Account:
    """The buyer's account these tests' conversations come from."""
    return Account(
        id=derive_id(w.tenant, EntityKind.ACCOUNT, "t", "globex"),
        tenant_id=w.tenant,
        name="Globex",
        domain="globex.com",
        created_at=NOW,
        updated_at=NOW,
    )


async def test_pending_processing_reads_each_activity_version_once() -> None:
    w = await world()
    acc = globex(w)
    act = Activity(
        id=derive_id(w.tenant, EntityKind.ACTIVITY, "t", "a1"),
        tenant_id=w.tenant,
        deal_id=None,
        account_id=acc.id,
        type=ActivityType.EMAIL,
        occurred_at=NOW - timedelta(days=3),
        raw_content=email(BUYING),
    )
    async with w.uow() as uow:
        await uow.accounts.add(acc, origin="salesforce")
        await uow.activities.add(act, origin="salesforce")
        await uow.commit()
    first = await process_activities(w.factory, w.extractor, seller_domains=(SELLER,), now=NOW)
    assert (first.processed, first.deals_created) == (1, 1)
    again = await process_activities(w.factory, w.extractor, seller_domains=(SELLER,), now=NOW)
    assert (again.seen, again.processed) == (0, 0)
    # the same activity re-imported with new content is a new version: processed once more
    async with w.uow() as uow:
        await uow.activities.update(
            dataclasses.replace(act, raw_content=email(FOLLOW_UP)),
            origin="salesforce",
            fields=frozenset({"raw_content"}),
        )
        await uow.commit()
    third = await process_activities(w.factory, w.extractor, seller_domains=(SELLER,), now=NOW)
    assert (third.processed, third.deals_created) == (1, 0)
    # a replay after a rule change is idempotent
    async with w.uow() as uow:
        before = await uow.changes.latest()
    replay = await process_activities(
        w.factory, w.extractor, force=True, seller_domains=(SELLER,), now=NOW
    )
    assert replay.processed == 1 and replay.deals_created == 0
    async with w.uow() as uow:
        assert await uow.changes.latest() == before
    assert len(await deals(w)) == 1


async def test_stated_relationships_are_mapped_with_their_sentence() -> None:
    w = await world()
    text = email(BUYING + " I report to Mark Lee, and Mark Lee has a lot of influence on Dana.")
    done = await add(w, text)
    assert done.applied.account_id is not None
    async with w.uow() as uow:
        pm = await political_map(uow, done.applied.account_id)
    names = {e.stakeholder.id: e.contact.name for e in pm.entries}
    found = {(names[r.from_id], r.kind.value, names[r.to_id]): r for r in pm.relationships}
    rel = found[("Dana Reyes", "reports_to", "Mark Lee")]
    assert rel.evidence in done.conversation.text and rel.activity_id == done.applied.activity_id
    assert ("Mark Lee", "influences", "Dana Reyes") in found


async def test_a_conversation_lowers_a_score_only_with_counter_evidence() -> None:
    from pie.domain.intelligence import Evidence, InferredStakeholder, ScoreHint
    from pie.services.deal_intel import Applied, score_stakeholders
    from pie.services.intel_batch import Batch

    w = await world()
    done = await add(w, email(BUYING))
    async with w.uow() as uow:
        pm = await political_map(uow, done.applied.account_id)  # type: ignore[arg-type]
        mark = next(e for e in pm.entries if e.contact.name == "Mark Lee")
        before = mark.profile.value(DECISION_POWER)
        assert before is not None and before >= 8

        def hint(quote: str) -> InferredStakeholder:
            ev = Evidence(quote=quote, start=0, end=len(quote))
            return InferredStakeholder(
                name="Mark Lee", scores=(ScoreHint(score="decision_power", value=3, evidence=ev),)
            )

        applied = Applied(
            activity_id=done.applied.activity_id,
            account_id=None,
            deal_id=None,
            decision=done.applied.decision,
        )
        account = done.applied.account_id
        assert account is not None
        for quote, expected in (
            ("Mark is busy this week.", before),  # no counter-evidence: the score stays
            ("Mark no longer signs anything.", 3),
        ):
            batch = await Batch.open(uow, now=NOW, account_ids=[account])
            found = {mark.stakeholder.id: (mark.stakeholder, hint(quote))}
            score_stakeholders(batch, found, done.applied.activity_id, NOW, applied)
            await batch.flush()
            profiles = await uow.intel.profiles([mark.stakeholder.id])
            assert profiles[mark.stakeholder.id].value(DECISION_POWER) == expected


async def test_an_undated_conversation_added_twice_is_one_activity() -> None:
    w = await world()
    text = "Dana Reyes: " + BUYING + "\nSam Seller: Thanks, I will send the proposal.\n"
    first = await add(w, text)
    again = await add_conversation(
        w.factory, w.extractor, text, seller_domains=(SELLER,), now=NOW + timedelta(days=3)
    )
    assert again.applied.activity_id == first.applied.activity_id and again.applied.skipped


async def test_an_imported_activity_keeps_what_its_source_wrote() -> None:
    w = await world()
    acc = globex(w)
    act = Activity(
        id=derive_id(w.tenant, EntityKind.ACTIVITY, "t", "a1"),
        tenant_id=w.tenant,
        deal_id=None,
        account_id=acc.id,
        type=ActivityType.EMAIL,
        occurred_at=NOW - timedelta(days=3),
        summary="Logged by the rep in Salesforce",
        raw_content=email(BUYING),
    )
    async with w.uow() as uow:
        await uow.accounts.add(acc, origin="salesforce")
        await uow.activities.add(act, origin="salesforce")
        await uow.commit()
    await process_activities(w.factory, w.extractor, seller_domains=(SELLER,), now=NOW)
    async with w.uow() as uow:
        got = await uow.activities.get(act.id)
        intel = await uow.intel.get_activity(act.id)
    assert got is not None and got.summary == "Logged by the rep in Salesforce"
    assert got.deal_id is not None  # linked to the deal it opened
    assert intel is not None and intel.enrichment["summary"]  # PIE's own is kept beside it


class CountingExtractor:
    """The offline extractor, counting the conversations it reads (or failing)."""

    def __init__(self, inner: Extractor, *, fail: bool = False) -> None:
        self.inner, self.fail, self.calls = inner, fail, 0

    async def extract(self, conversation: Conversation) -> Extraction:
        self.calls += 1
        if self.fail:
            raise RuntimeError("the extractor broke")
        return await self.inner.extract(conversation)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _import(w: World, *activities: Activity, account: Account | None = None) -> None:
    """What an import does: upsert records as their source."""
    async with w.uow() as uow:
        if account is not None:
            await uow.accounts.upsert_many([account], origin="salesforce")
        await uow.activities.upsert_many(list(activities), origin="salesforce")
        await uow.commit()


async def test_the_import_hook_runs_once_per_activity_version_and_skips_empty_ones() -> None:
    w = await world()
    acc = globex(w)

    def activity(key: str, content: str | None) -> Activity:
        return Activity(
            id=derive_id(w.tenant, EntityKind.ACTIVITY, "t", key),
            tenant_id=w.tenant,
            deal_id=None,
            account_id=acc.id,
            type=ActivityType.EMAIL,
            occurred_at=NOW - timedelta(days=3),
            raw_content=content,
        )

    counting = CountingExtractor(w.extractor)
    hook = ImportHook(w.factory, counting, (SELLER,))
    mark = await hook.mark()
    await _import(w, activity("a1", email(BUYING)), activity("a2", None), account=acc)
    first = await hook.after(mark, now=NOW)
    assert (first.processed, first.deals_created, first.error) == (1, 1, None)
    assert counting.calls == 1  # the activity without content is never read
    mark = await hook.mark()
    await _import(w, activity("a1", email(BUYING)), activity("a2", None))  # the same again
    assert await hook.after(mark, now=NOW) == ConversationCounts()
    mark = await hook.mark()
    await _import(w, activity("a1", email(FOLLOW_UP)))  # a new version of the activity
    third = await hook.after(mark, now=NOW)
    assert (third.processed, third.deals_created) == (1, 0) and counting.calls == 2
    assert len(await deals(w)) == 1


async def test_a_failing_import_hook_leaves_the_import_and_says_how_to_resume() -> None:
    w = await world()
    hook = ImportHook(w.factory, CountingExtractor(w.extractor, fail=True), (SELLER,))
    mark = await hook.mark()
    act = Activity(
        id=derive_id(w.tenant, EntityKind.ACTIVITY, "t", "a1"),
        tenant_id=w.tenant,
        deal_id=None,
        account_id=None,
        type=ActivityType.EMAIL,
        occurred_at=NOW,
        raw_content=email(BUYING),
    )
    await _import(w, act)
    done = await hook.after(mark, now=NOW)
    assert done.processed == 0 and done.error is not None
    assert "reprocess --pending" in done.error and "the extractor broke" in done.error
    async with w.uow() as uow:
        assert await uow.activities.get(act.id) is not None  # the import stands
    later = await process_activities(w.factory, w.extractor, seller_domains=(SELLER,), now=NOW)
    assert later.processed == 1


async def test_a_batch_of_conversations_is_what_one_at_a_time_gives_with_fewer_versions() -> None:
    texts = [
        email(BUYING),
        email(FOLLOW_UP, day="Mon, 9 Mar 2026 10:00:00 +0000"),
        email(SMALL_TALK, day="Tue, 10 Mar 2026 10:00:00 +0000"),
        email(FOLLOW_UP + " Ravi Shah runs IT.", day="Wed, 11 Mar 2026 10:00:00 +0000"),
    ]
    one = await world()
    batch = World(InMemoryStore(), one.tenant, one.extractor)  # the same tenant: the same ids
    for text in texts:
        await add(one, text)
    done = await add_conversations(
        batch.factory,
        batch.extractor,
        [(f"c{i}", t) for i, t in enumerate(texts)],
        seller_domains=(SELLER,),
        now=NOW,
    )
    assert [d.applied.decision.action for d in done] == [
        DecisionAction.CREATE,
        DecisionAction.UPDATE,
        DecisionAction.NONE,
        DecisionAction.UPDATE,
    ]
    [a], [b] = await deals(one), await deals(batch)
    assert a.qualification == b.qualification
    assert (a.stage, a.value, a.expected_close) == (b.stage, b.value, b.expected_close)
    async with one.uow() as u1, batch.uow() as u2:
        pa, pb = await political_map(u1, a.account_id), await political_map(u2, b.account_id)  # type: ignore[arg-type]
        assert {e.contact.name: e.stakeholder.scores for e in pa.entries} == {
            e.contact.name: e.stakeholder.scores for e in pb.entries
        }
        plan_a = await u1.plans.get_opportunity_plan(a.id)
        plan_b = await u2.plans.get_opportunity_plan(b.id)
        assert plan_a is not None and plan_b is not None
        assert plan_b.version == 1 < plan_a.version  # the batch saved the plan once
        assert plan_a.data == plan_b.data
    # a replay of the batch's history changes nothing
    async with batch.uow() as uow:
        before = await uow.changes.latest()
    replay = await process_activities(
        batch.factory, batch.extractor, force=True, seller_domains=(SELLER,), now=NOW, stall=False
    )
    assert replay.processed == 4
    async with batch.uow() as uow:
        assert await uow.changes.latest() == before
