import pytest

from pie.domain.stages import (
    OPEN_PIPELINE,
    InvalidTransition,
    Stage,
    TransitionKind,
    classify_transition,
    is_valid_transition,
    parse_stage,
)


@pytest.mark.parametrize(
    ("name", "stage"),
    [
        ("Prospecting", Stage.LEAD),
        ("lead", Stage.LEAD),
        ("Evaluation", Stage.DEMO),
        ("Closed Won", Stage.CLOSED_WON),
        ("closed-lost", Stage.CLOSED_LOST),
        ("  NEGOTIATION ", Stage.NEGOTIATION),
        ("stalled", Stage.STALLED),
    ],
)
def test_parses_canonical_names_and_seed_vocabulary(name: str, stage: Stage) -> None:
    assert parse_stage(name) is stage


def test_unknown_name_is_not_a_stage() -> None:
    assert parse_stage("Perception Analysis") is None


def test_open_pipeline_is_ordered_from_lead_to_negotiation() -> None:
    assert [s.rank for s in OPEN_PIPELINE] == list(range(6))
    assert OPEN_PIPELINE[0] is Stage.LEAD and OPEN_PIPELINE[-1] is Stage.NEGOTIATION


@pytest.mark.parametrize(
    ("frm", "to", "kind"),
    [
        (None, Stage.LEAD, TransitionKind.ENTRY),
        (Stage.LEAD, Stage.QUALIFICATION, TransitionKind.ADVANCE),
        (Stage.QUALIFICATION, Stage.DEMO, TransitionKind.SKIP),
        (Stage.PROPOSAL, Stage.DISCOVERY, TransitionKind.REGRESSION),
        (Stage.DEMO, Stage.STALLED, TransitionKind.STALL),
        (Stage.STALLED, Stage.DEMO, TransitionKind.REVIVE),
        (Stage.NEGOTIATION, Stage.CLOSED_WON, TransitionKind.WIN),
        (Stage.STALLED, Stage.CLOSED_LOST, TransitionKind.LOSS),
        (Stage.CLOSED_LOST, Stage.DISCOVERY, TransitionKind.REOPEN),
        (Stage.CLOSED_WON, Stage.CLOSED_LOST, TransitionKind.CORRECTION),
    ],
)
def test_classifies_every_kind_of_move(frm: Stage | None, to: Stage, kind: TransitionKind) -> None:
    assert classify_transition(frm, to) is kind


@pytest.mark.parametrize(
    ("frm", "to"),
    [
        (Stage.DEMO, Stage.DEMO),
        (Stage.CLOSED_WON, Stage.STALLED),
        (Stage.STALLED, Stage.STALLED),
        (None, Stage.STALLED),
    ],
)
def test_rejects_impossible_moves(frm: Stage | None, to: Stage) -> None:
    assert not is_valid_transition(frm, to)
    with pytest.raises(InvalidTransition, match="cannot move"):
        classify_transition(frm, to)
