from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest

from pie.domain.stages import ALL_STAGES
from pie.mining.dfg import discover_dfg
from pie.mining.eventlog_arrays import EventLog, from_micros, to_micros

from .histories import T0, hand_built, random_histories

DAY = 86_400.0


def test_counts_durations_starts_and_ends_of_hand_built_deals() -> None:
    dfg = discover_dfg(EventLog.from_histories(hand_built()))

    assert dfg.counts() == {
        ("lead", "qualification"): 3,
        ("qualification", "closed_won"): 1,
        ("qualification", "closed_lost"): 1,
        ("qualification", "stalled"): 1,
        ("stalled", "qualification"): 1,
    }
    lead_qual = dfg.seconds("total")[("lead", "qualification")]
    assert lead_qual == pytest.approx((2 + 4 + 1) * DAY)
    assert dfg.seconds("mean")[("lead", "qualification")] == pytest.approx(7 / 3 * DAY)
    assert dfg.seconds("median")[("lead", "qualification")] == pytest.approx(2 * DAY)
    assert dfg.seconds("min")[("lead", "qualification")] == pytest.approx(1 * DAY)
    assert dfg.seconds("max")[("lead", "qualification")] == pytest.approx(4 * DAY)
    assert dfg.starts() == {"lead": 4}
    assert dfg.ends() == {"closed_won": 1, "closed_lost": 1, "qualification": 1, "lead": 1}
    matrix = dfg.matrix()
    assert matrix.shape == (len(ALL_STAGES), len(ALL_STAGES))
    assert matrix.sum() == 7


def test_median_of_an_even_number_of_steps_is_the_mean_of_the_middle_two() -> None:
    log = EventLog.from_columns(
        ["a", "a", "b", "b", "c", "c", "d", "d"],
        ["x", "y"] * 4,
        [0, 10, 0, 20, 0, 30, 0, 100],
    )
    dfg = discover_dfg(log)
    assert dfg.counts() == {("x", "y"): 4}
    assert dfg.median_seconds[0] == pytest.approx(25e-6)


def test_event_order_in_the_log_does_not_matter_but_ties_keep_it() -> None:
    histories = random_histories(200, seed=3)
    log = EventLog.from_histories(histories)
    shuffle = np.random.default_rng(0).permutation(len(log))
    shuffled = EventLog(
        case_ids=log.case_ids,
        activities=log.activities,
        case=log.case[shuffle],
        activity=log.activity[shuffle],
        time_us=log.time_us[shuffle],
    )
    a, b = discover_dfg(log), discover_dfg(shuffled)
    assert a.counts() == b.counts()
    np.testing.assert_allclose(a.median_seconds, b.median_seconds)
    np.testing.assert_array_equal(a.start_count, b.start_count)

    tied = EventLog.from_columns(["c", "c", "c"], ["x", "y", "z"], [5, 5, 5])
    assert discover_dfg(tied).counts() == {("x", "y"): 1, ("y", "z"): 1}


def test_counts_match_a_plain_python_count() -> None:
    histories = random_histories(300, seed=11)
    expected: Counter[tuple[str, str]] = Counter()
    for h in histories:
        stages = [str(t.to_stage) for t in h.transitions]
        expected.update(itertools.pairwise(stages))
    assert discover_dfg(EventLog.from_histories(histories)).counts() == dict(expected)


def test_empty_log_and_deals_without_transitions() -> None:
    dfg = discover_dfg(EventLog.from_histories([]))
    assert dfg.counts() == {}
    assert dfg.starts() == {}
    single = discover_dfg(EventLog.from_histories(hand_built()[3:]))
    assert single.counts() == {}
    assert single.starts() == {"lead": 1}
    assert single.ends() == {"lead": 1}


def test_rejects_codes_outside_the_name_tables() -> None:
    with pytest.raises(ValueError, match="activity codes"):
        EventLog(
            case_ids=("a",),
            activities=("x",),
            case=np.array([0]),
            activity=np.array([1]),
            time_us=np.array([0]),
        )


def test_micros_round_trip_exactly() -> None:
    at = T0.replace(microsecond=123_456)
    assert from_micros(to_micros(at)) == at
