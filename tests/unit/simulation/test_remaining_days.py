"""A baseline's days to close for many open deals at once (a binary search in each stage's
sorted spans) equal the plain way, one deal at a time: ``numpy.quantile`` of the spans that
lasted longer than the deal has been in its stage, minus that time (all spans if none did;
the pooled spans if the stage has none), bit for bit."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pie.domain.stages import ALL_STAGES
from pie.simulation.baselines import _RemainingDays

spans_st = st.lists(
    st.sampled_from([0.0, 0.5, 1.0, 3.25, 7.0, 30.0, 91.7]) | st.floats(0, 400), max_size=12
)


def plain(days: _RemainingDays, code: int, elapsed: float) -> tuple[float, float, float]:
    spans = days.by_stage.get(ALL_STAGES[code], days.pooled)
    if spans.size == 0:
        spans = days.pooled
    if spans.size == 0:
        return float("nan"), float("nan"), float("nan")
    longer = spans[spans > elapsed]
    remaining = longer - elapsed if longer.size else spans
    p10, p50, p90 = np.quantile(remaining, [0.1, 0.5, 0.9])
    return float(p50), float(p10), float(p90)


@settings(max_examples=200, deadline=None)
@given(
    by_stage=st.dictionaries(st.integers(0, 3), spans_st, max_size=3),
    pooled=spans_st,
    queries=st.lists(
        st.tuples(st.integers(0, 4), st.sampled_from([0.0, 1.0, 7.0, 500.0]) | st.floats(0, 450)),
        min_size=1,
        max_size=20,
    ),
)
def test_days_to_close_of_many_deals_equal_each_deal_alone(
    by_stage: dict[int, list[float]], pooled: list[float], queries: list[tuple[int, float]]
) -> None:
    days = _RemainingDays(
        by_stage={ALL_STAGES[c]: np.sort(np.array(v)) for c, v in by_stage.items()},
        pooled=np.sort(np.array(pooled)),
    )
    stage = np.array([c for c, _ in queries], dtype=np.int8)
    elapsed = np.array([e for _, e in queries])
    mid, lo, hi = days.predict(stage, elapsed)
    got = list(zip(mid.tolist(), lo.tolist(), hi.tolist(), strict=True))
    want = [plain(days, c, e) for c, e in queries]
    assert np.array_equal(np.array(got), np.array(want), equal_nan=True)
