"""Simple forecasters that PIE's model has to beat in back-tests.

``StageDefaultForecaster`` says what the CRM says: the deal's own stage probability when the
source gives one, else PIE's canonical default for the stage. ``StageWinRateForecaster`` uses
the history: the smoothed win rate of past deals that passed through the deal's stage. Both
estimate days to close the same way: from how long past deals that were in the same stage
for at least as long still took to close (median and 10th/90th percentiles).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pie.domain.errors import InvalidInput
from pie.domain.stages import ALL_STAGES, DEFAULT_PROBABILITY, Stage
from pie.mining.columns import IS_OPEN, NO_TIME, DealColumns
from pie.mining.eventlog_arrays import to_micros
from pie.mining.events import N_STAGES, STAGE_INDEX
from pie.simulation.engine import IN_PROCESS, Engine
from pie.simulation.forecaster import (
    DealPrediction,
    Forecaster,
    PlainMarkovForecaster,
    require_open,
)
from pie.simulation.results import sorted_quantiles

#: Pseudo-deals at the stage's default probability added to each stage's win count.
WIN_RATE_PRIOR_WEIGHT = 5.0

FloatArray = NDArray[np.float64]
Int = NDArray[np.integer[Any]]


def _days_between(start_us: NDArray[np.int64], end_us: NDArray[np.int64] | int) -> FloatArray:
    """``snapshot.days_between`` of moments in microseconds (the same floats)."""
    out: FloatArray = (end_us - start_us) / 1e6 / 86400.0
    return out


@dataclass(frozen=True, slots=True)
class _Entries:
    """Every entry of each deal into a stage, oldest first per deal (the creation when the
    deal has no history): deal row, stage code, time."""

    deal: NDArray[np.int64]
    stage: NDArray[np.int64]
    at_us: NDArray[np.int64]

    @classmethod
    def of(cls, cols: DealColumns) -> _Entries:
        bare = np.ones(len(cols), dtype=np.bool_)
        bare[cols.t_deal] = False
        rows = np.flatnonzero(bare)
        deal = np.concatenate([cols.t_deal, rows])
        order = np.argsort(deal, kind="stable")
        return cls(
            deal[order],
            np.concatenate([cols.t_to, cols.stage[rows]])[order],
            np.concatenate([cols.t_us, cols.created_us[rows]])[order],
        )


def _stage_entered_us(cols: DealColumns) -> NDArray[np.int64]:
    """Per deal: its last transition's time, else its creation."""
    if not cols.t_us.size:  # no transitions at all (before the first, or a source without)
        return cols.created_us
    last = np.searchsorted(cols.t_deal, np.arange(len(cols)), side="right") - 1
    has = (last >= 0) & (cols.t_deal[np.maximum(last, 0)] == np.arange(len(cols)))
    out: NDArray[np.int64] = np.where(has, cols.t_us[np.maximum(last, 0)], cols.created_us)
    return out


def _closed_by(cols: DealColumns, as_of: datetime) -> NDArray[np.bool_]:
    closed_us = cols.closed_us
    out: NDArray[np.bool_] = (
        ~cols.is_open() & (closed_us != NO_TIME) & (closed_us <= to_micros(as_of))
    )
    return out


@dataclass(slots=True)
class _RemainingDays:
    """For each stage, the days from each entry into it until the deal closed, over deals
    closed by ``as_of``. A deal ``elapsed`` days into a stage is predicted from the entries
    that lasted longer than that (the residual life), or from all of them if none did."""

    by_stage: dict[Stage, FloatArray] = field(default_factory=dict)
    pooled: FloatArray = field(default_factory=lambda: np.zeros(0))

    @classmethod
    def fit(cls, cols: DealColumns, as_of: datetime) -> _RemainingDays:
        e = _Entries.of(cols)
        use = _closed_by(cols, as_of)[e.deal] & IS_OPEN[e.stage]
        spans = _days_between(e.at_us[use], cols.closed_us[e.deal[use]])
        stage = e.stage[use]
        by_stage = {
            s: np.sort(spans[stage == code])
            for code, s in enumerate(ALL_STAGES)
            if (stage == code).any()
        }
        pooled = np.sort(spans) if spans.size else np.zeros(0)
        return cls(by_stage=by_stage, pooled=pooled)

    def predict(self, stage: Int, elapsed: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Per deal (its stage code, its days in the stage): the median, 10th and 90th
        percentile of the remaining days of the entries into its stage that lasted longer
        than ``elapsed`` (all of them if none did; the pooled entries if the stage has none;
        NaN if no closed deal left a duration). A binary search and two values per
        percentile in the sorted spans (``sorted_quantiles``): ``numpy.quantile`` of the
        longer spans minus ``elapsed``, to the last bit, without copying them per deal."""
        q = np.full((stage.size, 3), np.nan)
        for code in np.unique(stage).tolist():
            spans = self.by_stage.get(ALL_STAGES[code], self.pooled)
            if spans.size == 0:
                spans = self.pooled
            if spans.size == 0:
                continue  # no closed deal left a duration
            rows = np.flatnonzero(stage == code)
            start = np.searchsorted(spans, elapsed[rows], side="right")  # first span longer
            longer = start < spans.size
            q[rows] = sorted_quantiles(
                spans,
                np.where(longer, start, 0),
                np.where(longer, spans.size - start, spans.size),
                np.where(longer, elapsed[rows], 0.0),  # x - 0.0 is x
            )
        return q[:, 1], q[:, 0], q[:, 2]


def _has_closed(cols: DealColumns, as_of: datetime, name: str) -> None:
    if not _closed_by(cols, as_of).any():
        raise InvalidInput(
            f"{name} needs deals that closed before {as_of.isoformat()} to learn from and "
            "there are none: choose a later cutoff"
        )


class StageDefaultForecaster:
    """The deal's own probability at ``as_of`` if it has one, else the stage's default."""

    name = "stage_default"

    def __init__(self) -> None:
        self._days: _RemainingDays | None = None

    def fit(self, world: DealColumns, *, as_of: datetime) -> None:
        _has_closed(world, as_of, self.name)
        self._days = _RemainingDays.fit(world, as_of)

    def predict(
        self, open_deals: DealColumns, *, as_of: datetime, horizon_days: int | None
    ) -> list[DealPrediction]:
        """``horizon_days`` is ignored: a stage probability is a chance of winning at all."""
        if self._days is None:
            raise RuntimeError("fit() before predict()")
        require_open(open_deals, self.name)
        elapsed = _days_between(_stage_entered_us(open_deals), to_micros(as_of))
        mid, lo, hi = (x.tolist() for x in self._days.predict(open_deals.stage, elapsed))
        out = []
        for i, deal_id in enumerate(open_deals.deal_ids()):
            stage, p = open_deals.stage_of(i), float(open_deals.probability[i])
            p_win = DEFAULT_PROBABILITY[stage] if np.isnan(p) else min(max(p, 0.0), 1.0)
            out.append(DealPrediction(deal_id, p_win, mid[i], lo[i], hi[i]))
        return out


@dataclass(frozen=True, slots=True)
class _Visits:
    """First entry of each deal into one stage: days before ``as_of``, days from the entry
    to the close (NaN if open at ``as_of``) and whether it was won."""

    age: FloatArray
    close_after: FloatArray
    won: NDArray[np.bool_]

    def rate(self, horizon_days: int | None, prior: float) -> float:
        closed = ~np.isnan(self.close_after)
        if horizon_days is None:
            known, wins = closed, self.won & closed
        else:
            in_time = closed & (self.close_after <= horizon_days)
            known = closed | (self.age >= horizon_days)
            wins = self.won & in_time
        n, k = float(known.sum()), float(wins.sum())
        return (k + WIN_RATE_PRIOR_WEIGHT * prior) / (n + WIN_RATE_PRIOR_WEIGHT)


class StageWinRateForecaster:
    """The smoothed share of past deals that passed through the deal's stage and were won.

    With a horizon, the share won within ``horizon_days`` of entering the stage, among the
    deals whose answer was known by ``as_of``; each rate is pulled towards the stage's default
    probability by ``WIN_RATE_PRIOR_WEIGHT`` pseudo-deals.
    """

    name = "stage_win_rate"

    def __init__(self) -> None:
        self._days: _RemainingDays | None = None
        self._visits: dict[Stage, _Visits] = {}

    def fit(self, world: DealColumns, *, as_of: datetime) -> None:
        _has_closed(world, as_of, self.name)
        self._days = _RemainingDays.fit(world, as_of)
        cut = to_micros(as_of)
        e = _Entries.of(world)
        use = np.flatnonzero(IS_OPEN[e.stage] & (e.at_us <= cut))
        # the first entry of each deal into each stage
        _, first = np.unique(e.deal[use] * N_STAGES + e.stage[use], return_index=True)
        use = use[np.sort(first)]
        deal, stage, at = e.deal[use], e.stage[use], e.at_us[use]
        is_open = world.is_open()[deal]
        closed_us = np.where(is_open, NO_TIME, world.closed_us[deal])
        after = np.where(closed_us == NO_TIME, np.nan, _days_between(at, closed_us))
        age = _days_between(at, cut)
        won = world.stage[deal] == STAGE_INDEX[Stage.CLOSED_WON]
        self._visits = {
            s: _Visits(
                age=age[stage == code], close_after=after[stage == code], won=won[stage == code]
            )
            for code, s in enumerate(ALL_STAGES)
        }

    def predict(
        self, open_deals: DealColumns, *, as_of: datetime, horizon_days: int | None
    ) -> list[DealPrediction]:
        if self._days is None:
            raise RuntimeError("fit() before predict()")
        require_open(open_deals, self.name)
        rates = {s: v.rate(horizon_days, DEFAULT_PROBABILITY[s]) for s, v in self._visits.items()}
        elapsed = _days_between(_stage_entered_us(open_deals), to_micros(as_of))
        mid, lo, hi = (x.tolist() for x in self._days.predict(open_deals.stage, elapsed))
        out = []
        for i, deal_id in enumerate(open_deals.deal_ids()):
            stage = open_deals.stage_of(i)
            out.append(DealPrediction(deal_id, rates[stage], mid[i], lo[i], hi[i]))
        return out


def default_baselines(engine: Engine = IN_PROCESS) -> dict[str, Forecaster]:
    """The baselines a back-test reports, under the keys its report uses."""
    return {
        "stage_default": StageDefaultForecaster(),
        "stage_win_rate": StageWinRateForecaster(),
        "markov": PlainMarkovForecaster(engine=engine),
    }
