"""The pure rules: political score precedence (seed 000 pitfall 5) and stage progression
(pattern 6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pie.domain.errors import InvalidInput
from pie.domain.model import StakeholderRole as R
from pie.domain.political import (
    DECISION_POWER,
    SENTIMENT,
    ScoreRecord,
    ScoreSource,
    StakeholderProfile,
    apply_score,
    guess_from_title,
    main_roles,
    merge_roles,
    propose,
)
from pie.domain.progression import (
    DEFAULT_REQUIREMENTS,
    ProgressionSettings,
    StageRequirements,
    evidence_of,
    furthest_stage,
    is_stalled,
    missing_for,
    propose_stage,
)
from pie.domain.stages import Stage

T = datetime(2026, 3, 1, tzinfo=UTC)


def rec(value: float, source: ScoreSource, at: int = 0) -> ScoreRecord:
    return ScoreRecord(value=value, source=source, evidence="e", at=T + timedelta(days=at))


H, C, HO = ScoreSource.HEURISTIC, ScoreSource.CONVERSATION_SIGNAL, ScoreSource.HUMAN_OVERRIDE


def test_a_human_override_always_wins_and_is_never_reverted() -> None:
    human = rec(3, HO)
    assert apply_score(DECISION_POWER, rec(9, C), human) == human
    for later in (rec(10, C, 5), rec(0, C, 5), rec(8, H, 5)):
        assert apply_score(DECISION_POWER, human, later) is None
        assert apply_score(DECISION_POWER, human, later, counter_evidence=True) is None
    assert apply_score(DECISION_POWER, human, rec(5, HO, 6)) == rec(5, HO, 6)


def test_conversations_raise_scores_and_lower_them_only_with_counter_evidence() -> None:
    assert apply_score(DECISION_POWER, rec(4, H), rec(7, C)) == rec(7, C)
    assert apply_score(DECISION_POWER, rec(7, C), rec(5, C, 2)) is None
    assert apply_score(DECISION_POWER, rec(7, C), rec(5, C, 2), counter_evidence=True) == rec(
        5, C, 2
    )
    # a measurement follows the latest conversation either way
    assert apply_score(SENTIMENT, rec(0.5, C), rec(-0.4, C, 1)) == rec(-0.4, C, 1)
    # a heuristic never replaces what a conversation found
    assert apply_score(DECISION_POWER, rec(7, C), rec(9, H, 3)) is None


def test_scores_out_of_range_are_refused() -> None:
    with pytest.raises(InvalidInput):
        apply_score(DECISION_POWER, None, rec(11, C))
    with pytest.raises(InvalidInput):
        apply_score("charisma", None, rec(1, C))


def test_profile_keeps_the_replaced_record() -> None:
    p = StakeholderProfile(stakeholder_id=__import__("uuid").uuid4())
    p = propose(p, DECISION_POWER, rec(4, H))
    p = propose(p, DECISION_POWER, rec(8, C, 1))
    assert p.value(DECISION_POWER) == 8
    assert [r.value for _, r in p.history] == [4]
    assert propose(p, DECISION_POWER, rec(2, C, 2)) is p


@pytest.mark.parametrize(
    ("title", "roles", "power"),
    [
        ("Chief Financial Officer", (R.DECISION_MAKER, R.ECONOMIC_BUYER), 9),
        ("VP Engineering", (R.DECISION_MAKER, R.TECHNICAL_BUYER), 8),
        ("Head of Procurement", (R.GATEKEEPER, R.PROCUREMENT), 4),
        ("General Counsel", (R.GATEKEEPER, R.LEGAL), 4),
        ("Sales Operations Analyst", (R.USER, R.END_USER), 2),
    ],
)
def test_titles_suggest_roles_and_power(title: str, roles: tuple[R, ...], power: float) -> None:
    guess = guess_from_title(title)
    assert guess is not None and guess.roles == roles and guess.decision_power == power
    assert guess_from_title("") is None


def test_sub_roles_imply_their_main_role() -> None:
    merged = merge_roles([R.CHAMPION], [R.ECONOMIC_BUYER, R.LEGAL])
    assert main_roles(merged) == (R.DECISION_MAKER, R.CHAMPION, R.GATEKEEPER)
    assert R.ECONOMIC_BUYER in merged and R.LEGAL in merged


def test_seed_table_requirements_are_cumulative_and_explained() -> None:
    s = ProgressionSettings()
    ev = evidence_of({"need", "identify_pain"}, interactions=1)
    assert furthest_stage(s, ev) is Stage.LEAD
    assert missing_for(s, Stage.QUALIFICATION, ev) == ["1 interactions, needs 2"]
    ev = evidence_of({"need", "identify_pain", "budget"}, interactions=2)
    # qualification met; discovery (weaker in the seed) follows from it
    assert furthest_stage(s, ev) is Stage.DISCOVERY
    ev = evidence_of(
        {"need", "identify_pain", "budget", "authority", "economic_buyer"}, interactions=3
    )
    assert furthest_stage(s, ev) is Stage.DEMO
    lacking = missing_for(s, Stage.PROPOSAL, ev)
    assert any(m.startswith("MEDDIC 2/6, needs 3") for m in lacking)
    assert "signal decision_process_identified" in lacking


def test_propose_never_moves_back_closed_or_against_the_owner() -> None:
    s = ProgressionSettings()
    rich = evidence_of(
        {
            "need",
            "identify_pain",
            "budget",
            "authority",
            "timeline",
            "economic_buyer",
            "decision_criteria",
            "decision_process",
        },
        interactions=5,
    )
    assert propose_stage(s, Stage.LEAD, rich).to_stage is Stage.NEGOTIATION
    poor = evidence_of({"need"}, interactions=1)
    assert propose_stage(s, Stage.PROPOSAL, poor).to_stage is None
    assert propose_stage(s, Stage.CLOSED_WON, rich).to_stage is None
    held = propose_stage(s, Stage.LEAD, rich, stage_owner="human", may_move=False)
    assert held.to_stage is None and "human" in held.reason
    revived = propose_stage(s, Stage.STALLED, poor, stalled_from=Stage.DEMO)
    assert revived.to_stage is Stage.DEMO


def test_stalled_after_n_days() -> None:
    assert is_stalled(Stage.DEMO, T, T, T + timedelta(days=30), 30)
    assert not is_stalled(Stage.DEMO, T, T, T + timedelta(days=29), 30)
    assert not is_stalled(Stage.CLOSED_WON, T, T, T + timedelta(days=99), 30)
    assert not is_stalled(Stage.STALLED, T, T, T + timedelta(days=99), 30)


def test_settings_round_trip_and_refuse_bad_documents() -> None:
    s = ProgressionSettings.from_json(
        {"stage_requirements": {"evaluation": {"min_interactions": 9}}, "stalled_after_days": 7}
    )
    assert s.requirements[Stage.DEMO] == StageRequirements(min_interactions=9)
    assert s.requirements[Stage.NEGOTIATION] == DEFAULT_REQUIREMENTS[Stage.NEGOTIATION]
    assert ProgressionSettings.from_json(s.to_json()) == s
    bads: list[dict[str, object]] = [
        {"stage_requirements": {"nowhere": {}}},
        {"stage_requirements": {"demo": {"min_bant_completion": 2}}},
        {"stalled_after_days": "soon"},
        {"colour": "red"},
        {"stage_requirements": {"lead": {}}},
    ]
    for bad in bads:
        with pytest.raises(InvalidInput):
            ProgressionSettings.from_json(bad)
