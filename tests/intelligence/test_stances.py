"""One person is never champion and blocker at once without a word: the newer evidence wins,
the stronger within one conversation, and a tie leaves a `conflicted` note (the demo showed
"Champion: Susan Clark ... Blocker: Susan Clark")."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from pie.domain.model import StakeholderRole as R
from pie.domain.political import StanceHint, resolve_stance, settle_stances
from pie.services.conversations import add_conversation
from pie.services.political_map import one_per_contact, political_map
from tests.unit.services.intel_world import NOW, SELLER, email, world

T = datetime(2026, 3, 1, tzinfo=UTC)


def test_newer_evidence_replaces_the_opposite_stance_with_a_note() -> None:
    roles, note = resolve_stance(
        (R.CHAMPION, R.INFLUENCER), [StanceHint(R.BLOCKER, 0.5, "I won't approve this")], when="d"
    )
    assert roles == (R.INFLUENCER, R.BLOCKER)
    assert note is not None and "was champion" in note and "I won't approve this" in note


def test_in_one_conversation_the_stronger_wins_and_a_tie_is_conflicted() -> None:
    strong = [StanceHint(R.CHAMPION, 0.8, "I'll push for this"), StanceHint(R.BLOCKER, 0.5)]
    roles, note = resolve_stance((), strong, when="d")
    assert roles == (R.CHAMPION,) and note is not None and "outweighs blocker" in note
    tie = [StanceHint(R.CHAMPION, 0.55, "a"), StanceHint(R.BLOCKER, 0.5, "b")]
    roles, note = resolve_stance((R.BLOCKER,), tie, when="d")
    assert roles == (R.BLOCKER,)  # the stance stays what it was
    assert note is not None and note.startswith("conflicted")


def test_no_stance_evidence_changes_nothing() -> None:
    assert resolve_stance((R.CHAMPION,), [StanceHint(R.USER, 0.9)], when="d") == (
        (R.CHAMPION,),
        None,
    )


def test_records_that_disagree_settle_on_the_newest() -> None:
    older, newer = T, T + timedelta(days=3)
    assert settle_stances([((R.CHAMPION,), older), ((R.BLOCKER,), newer)])[0] is R.CHAMPION
    assert settle_stances([((R.CHAMPION,), newer), ((R.BLOCKER,), older)])[0] is R.BLOCKER
    drop, note = settle_stances([((R.CHAMPION, R.BLOCKER), older)])
    assert drop is None and note is not None and note.startswith("conflicted")
    assert settle_stances([((R.CHAMPION,), older)]) == (None, None)


CHAMPION = "Our forecast is off by twenty percent. I will push for this internally."
BLOCKER = (
    "I am not comfortable with the security terms and I won't approve this as it stands. "
    "Our reps still waste hours on spreadsheets."
)


async def test_a_champion_who_later_blocks_is_a_blocker_with_the_reason() -> None:
    w = await world()

    async def add(body: str, day: int) -> None:
        await add_conversation(
            w.factory,
            w.extractor,
            email(body, day=f"Mon, {day} Mar 2026 10:00:00 +0000"),
            seller_domains=(SELLER,),
            now=NOW,
        )

    await add(CHAMPION, 2)
    async with w.uow() as uow:
        (acc,) = await uow.accounts.list()
        pm = await political_map(uow, acc.id)
    (dana,) = [e for e in pm.entries if e.contact.name == "Dana Reyes"]
    assert R.CHAMPION in dana.stakeholder.roles and R.BLOCKER not in dana.stakeholder.roles
    await add(BLOCKER, 9)
    async with w.uow() as uow:
        pm = await political_map(uow, acc.id)
    (dana,) = [e for e in pm.entries if e.contact.name == "Dana Reyes"]
    assert R.BLOCKER in dana.stakeholder.roles and R.CHAMPION not in dana.stakeholder.roles
    assert dana.stakeholder.notes is not None and "was champion" in dana.stakeholder.notes


def test_an_account_record_and_a_deal_record_that_disagree_show_one_stance() -> None:
    from uuid import uuid4

    from pie.domain.model import Stakeholder

    contact = uuid4()
    base = Stakeholder(
        id=uuid4(),
        tenant_id=uuid4(),
        account_id=uuid4(),
        deal_id=None,
        contact_id=contact,
        roles=(R.CHAMPION,),
        created_at=T,
        updated_at=T,
    )
    deal_record = dataclasses.replace(
        base, id=uuid4(), deal_id=uuid4(), roles=(R.BLOCKER,), updated_at=T + timedelta(days=1)
    )
    (one,) = one_per_contact([base, deal_record])
    assert R.BLOCKER in one.roles and R.CHAMPION not in one.roles
    assert one.notes is not None and "older record says champion" in one.notes
