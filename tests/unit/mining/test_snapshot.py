import dataclasses
from decimal import Decimal

import pytest

from pie.domain.errors import InvalidInput
from pie.domain.model import DealOutcome, StakeholderRole
from pie.domain.stages import Stage
from pie.mining.snapshot import as_of, outcomes_after
from tests.helpers_world import T0, day, deal_history

L, Q, D, P, N = Stage.LEAD, Stage.QUALIFICATION, Stage.DISCOVERY, Stage.PROPOSAL, Stage.NEGOTIATION
WON, LOST = Stage.CLOSED_WON, Stage.CLOSED_LOST


def test_a_deal_that_moved_on_after_the_cutoff_is_in_its_earlier_stage_with_earlier_values() -> (
    None
):
    h = deal_history("a", [(L, 0, 1000, 0.05), (D, 5, 1200, 0.2), (P, 20, 5000, 0.55)])
    assert h.deal.value == Decimal(5000)  # today's value

    (then,) = as_of([h], day(10))

    assert then.deal.stage is D
    assert then.deal.value == Decimal(1200)
    assert then.deal.probability == 0.2
    assert then.deal.expected_close == day(35).date()
    assert then.deal.updated_at == day(5)
    assert [t.to_stage for t in then.transitions] == [L, D]
    assert h.deal.stage is P  # the input is not changed


def test_a_deal_won_after_the_cutoff_is_open_at_it() -> None:
    h = deal_history("w", [(L, 0), (N, 5, 900, 0.75), (WON, 30, 950, 1.0)])
    (then,) = as_of([h], day(10))
    assert then.deal.is_open
    assert then.deal.stage is N
    assert then.deal.closed_at is None
    assert then.deal.probability == 0.75


def test_a_deal_lost_after_the_cutoff_forgets_its_lost_reason() -> None:
    h = deal_history("l", [(L, 0), (LOST, 30)], lost_reason="price")
    (then,) = as_of([h], day(10))
    assert then.deal.stage is L
    assert then.deal.lost_reason is None
    (later,) = as_of([h], day(31))
    assert later.deal.lost_reason == "price"
    assert later.deal.closed_at == day(30)


def test_deals_created_at_or_after_the_cutoff_are_not_in_the_world() -> None:
    early = deal_history("e", [(L, 0)])
    on_time = deal_history("o", [(L, 10)])
    late = deal_history("late", [(L, 12)])
    assert [h.deal.id for h in as_of([early, on_time, late], day(10))] == [early.deal.id]


def test_activities_and_stakeholders_dated_at_or_after_the_cutoff_are_dropped() -> None:
    h = deal_history(
        "s",
        [(L, 0), (Q, 4)],
        activities=[1, 9.9, 10, 11],
        stakeholders=[(StakeholderRole.CHAMPION, 3), (StakeholderRole.BLOCKER, 10)],
    )
    (then,) = as_of([h], day(10))
    assert [a.occurred_at for a in then.activities] == [day(1), day(9.9)]
    assert [s.roles for s in then.stakeholders] == [(StakeholderRole.CHAMPION,)]
    assert then.deal.updated_at == day(9.9)


def test_a_transition_exactly_at_the_cutoff_is_after_it() -> None:
    h = deal_history("x", [(L, 0), (WON, 10)])
    (then,) = as_of([h], day(10))
    assert then.deal.stage is L


def test_a_closed_deal_keeps_the_time_it_closed() -> None:
    # won, then corrected to lost: closed since the first close
    h = deal_history("c", [(L, 0), (WON, 4), (LOST, 6)])
    (then,) = as_of([h], day(10))
    assert then.deal.stage is LOST
    assert then.deal.closed_at == day(4)


def test_values_come_from_the_history_never_from_today() -> None:
    h = deal_history("v", [(L, 0, None, None), (Q, 20, 7000, 0.3)])
    (then,) = as_of([h], day(10))
    assert then.deal.value is None
    assert then.deal.probability is None


def test_a_deal_without_stage_history_is_kept_only_when_its_state_is_known() -> None:
    open_now = deal_history("n1", [(Q, 0, 10, 0.1)])
    closed_late = deal_history("n2", [(L, 0), (WON, 20)])
    closed_early = deal_history("n3", [(L, 0), (LOST, 5)])
    stripped = [
        dataclasses.replace(h, transitions=()) for h in (open_now, closed_late, closed_early)
    ]
    world = as_of(stripped, day(10))
    assert [(h.deal.name, h.deal.stage, h.deal.value) for h in world] == [
        ("Deal n1", Q, None),
        ("Deal n3", LOST, None),
    ]


def test_a_naive_cutoff_is_refused() -> None:
    with pytest.raises(InvalidInput, match="time zone"):
        as_of([], T0.replace(tzinfo=None))


def test_outcomes_after_reports_how_each_open_deal_ended() -> None:
    won = deal_history("w", [(L, 0), (N, 5), (WON, 30)])
    lost = deal_history("l", [(L, 0), (LOST, 15)])
    still_open = deal_history("o", [(L, 2), (Q, 40)])
    closed_before = deal_history("b", [(L, 0), (LOST, 3)])
    created_after = deal_history("c", [(L, 12), (WON, 20)])

    out = outcomes_after([won, lost, still_open, closed_before, created_after], day(10), None)

    assert [o.deal_id for o in out] == [won.deal.id, lost.deal.id, still_open.deal.id]
    w, lo, op = out
    assert (w.outcome, w.closed_at, w.won) == (DealOutcome.WON, day(30), True)
    assert w.days_to_close == pytest.approx(20.0)
    assert (lo.outcome, lo.won) == (DealOutcome.LOST, False)
    assert lo.days_to_close == pytest.approx(5.0)
    assert op.censored
    assert (op.outcome, op.closed_at, op.days_to_close, op.won) == (
        DealOutcome.OPEN,
        None,
        None,
        None,
    )


def test_with_a_horizon_late_wins_count_as_not_won_and_censoring_needs_the_whole_horizon() -> None:
    late_win = deal_history("w", [(L, 0), (WON, 40)])
    open_long = deal_history("o", [(L, 0), (Q, 5)])
    end = day(100)

    short = outcomes_after([late_win, open_long], day(10), 20, end=end)
    assert [o.won for o in short] == [False, False]  # won on day 40 > 10 + 20; seen open to 100
    assert short[1].censored

    long = outcomes_after([late_win, open_long], day(10), 95, end=end)
    assert [o.won for o in long] == [True, None]  # the data ends before day 105


def test_a_later_correction_is_the_final_outcome() -> None:
    h = deal_history("c", [(L, 0), (WON, 20), (LOST, 25)])
    (o,) = outcomes_after([h], day(10), None)
    assert (o.outcome, o.closed_at, o.won) == (DealOutcome.LOST, day(20), False)
