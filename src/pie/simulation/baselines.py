"""Simple forecasters that PIE's model has to beat in back-tests.

``StageDefaultForecaster`` says what the CRM says: the deal's own stage probability when the
source gives one, else PIE's canonical default for the stage. ``StageWinRateForecaster`` uses
the history: the smoothed win rate of past deals that passed through the deal's stage. Both
estimate days to close the same way: from how long past deals that were in the same stage
for at least as long still took to close (median and 10th/90th percentiles).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from pie.domain.errors import InvalidInput
from pie.domain.history import DealHistory
from pie.domain.stages import ALL_STAGES, DEFAULT_PROBABILITY, Stage
from pie.mining.snapshot import days_between
from pie.simulation.forecaster import DealPrediction, Forecaster, PlainMarkovForecaster

#: Pseudo-deals at the stage's default probability added to each stage's win count.
WIN_RATE_PRIOR_WEIGHT = 5.0

FloatArray = NDArray[np.float64]


def _entries(h: DealHistory) -> list[tuple[Stage, datetime]]:
    """Every entry of the deal into a stage, oldest first (the creation when no history)."""
    if h.transitions:
        return [(t.to_stage, t.at) for t in h.transitions]
    return [(h.deal.stage, h.deal.created_at)]


def _stage_entered_at(h: DealHistory) -> datetime:
    return h.transitions[-1].at if h.transitions else h.deal.created_at


def _require_open(deals: Sequence[DealHistory], name: str) -> None:
    for h in deals:
        if not h.deal.is_open:
            raise InvalidInput(
                f"{name} forecasts open deals only; this deal is {h.deal.stage}",
                record=str(h.deal.id),
                field="stage",
            )


@dataclass(slots=True)
class _RemainingDays:
    """For each stage, the days from each entry into it until the deal closed, over deals
    closed by ``as_of``. A deal ``elapsed`` days into a stage is predicted from the entries
    that lasted longer than that (the residual life), or from all of them if none did."""

    by_stage: dict[Stage, FloatArray] = field(default_factory=dict)
    pooled: FloatArray = field(default_factory=lambda: np.zeros(0))

    @classmethod
    def fit(cls, histories: Sequence[DealHistory], as_of: datetime) -> _RemainingDays:
        spans: dict[Stage, list[float]] = {s: [] for s in ALL_STAGES}
        for h in histories:
            closed_at = h.deal.closed_at
            if h.deal.is_open or closed_at is None or closed_at > as_of:
                continue
            for stage, at in _entries(h):
                if stage.is_open:
                    spans[stage].append(days_between(at, closed_at))
        by_stage = {s: np.sort(np.asarray(v, dtype=np.float64)) for s, v in spans.items() if v}
        pooled = np.sort(np.concatenate(list(by_stage.values()))) if by_stage else np.zeros(0)
        return cls(by_stage=by_stage, pooled=pooled)

    def predict(self, stage: Stage, elapsed: float) -> tuple[float, float, float]:
        spans = self.by_stage.get(stage, self.pooled)
        if spans.size == 0:
            spans = self.pooled
        if spans.size == 0:
            return float("nan"), float("nan"), float("nan")  # no closed deal left a duration
        longer = spans[spans > elapsed]
        remaining = longer - elapsed if longer.size else spans
        p10, p50, p90 = np.quantile(remaining, [0.1, 0.5, 0.9])
        return float(p50), float(p10), float(p90)


def _has_closed(histories: Sequence[DealHistory], as_of: datetime, name: str) -> None:
    if not any(
        not h.deal.is_open and h.deal.closed_at is not None and h.deal.closed_at <= as_of
        for h in histories
    ):
        raise InvalidInput(
            f"{name} needs deals that closed before {as_of.isoformat()} to learn from and "
            "there are none: choose a later cutoff"
        )


class StageDefaultForecaster:
    """The deal's own probability at ``as_of`` if it has one, else the stage's default."""

    name = "stage_default"

    def __init__(self) -> None:
        self._days: _RemainingDays | None = None

    def fit(self, histories: Sequence[DealHistory], *, as_of: datetime) -> None:
        _has_closed(histories, as_of, self.name)
        self._days = _RemainingDays.fit(histories, as_of)

    def predict(
        self, open_deals: Sequence[DealHistory], *, as_of: datetime, horizon_days: int | None
    ) -> list[DealPrediction]:
        """``horizon_days`` is ignored: a stage probability is a chance of winning at all."""
        if self._days is None:
            raise RuntimeError("fit() before predict()")
        _require_open(open_deals, self.name)
        out = []
        for h in open_deals:
            deal = h.deal
            p = deal.probability
            p_win = DEFAULT_PROBABILITY[deal.stage] if p is None else min(max(p, 0.0), 1.0)
            elapsed = days_between(_stage_entered_at(h), as_of)
            mid, lo, hi = self._days.predict(deal.stage, elapsed)
            out.append(DealPrediction(deal.id, p_win, mid, lo, hi))
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

    def fit(self, histories: Sequence[DealHistory], *, as_of: datetime) -> None:
        _has_closed(histories, as_of, self.name)
        self._days = _RemainingDays.fit(histories, as_of)
        rows: dict[Stage, list[tuple[float, float, bool]]] = {s: [] for s in ALL_STAGES}
        for h in histories:
            deal = h.deal
            closed_at = deal.closed_at if not deal.is_open else None
            won = deal.stage is Stage.CLOSED_WON
            seen: set[Stage] = set()
            for stage, at in _entries(h):
                if stage.is_closed or stage in seen or at > as_of:
                    continue
                seen.add(stage)
                after = np.nan if closed_at is None else days_between(at, closed_at)
                rows[stage].append((days_between(at, as_of), after, won))
        self._visits = {
            s: _Visits(
                age=np.array([r[0] for r in v], dtype=np.float64),
                close_after=np.array([r[1] for r in v], dtype=np.float64),
                won=np.array([r[2] for r in v], dtype=np.bool_),
            )
            for s, v in rows.items()
        }

    def predict(
        self, open_deals: Sequence[DealHistory], *, as_of: datetime, horizon_days: int | None
    ) -> list[DealPrediction]:
        if self._days is None:
            raise RuntimeError("fit() before predict()")
        _require_open(open_deals, self.name)
        rates = {s: v.rate(horizon_days, DEFAULT_PROBABILITY[s]) for s, v in self._visits.items()}
        out = []
        for h in open_deals:
            deal = h.deal
            elapsed = days_between(_stage_entered_at(h), as_of)
            mid, lo, hi = self._days.predict(deal.stage, elapsed)
            out.append(DealPrediction(deal.id, rates[deal.stage], mid, lo, hi))
        return out


def default_baselines() -> dict[str, Forecaster]:
    """The baselines a back-test reports, under the keys its report uses."""
    return {
        "stage_default": StageDefaultForecaster(),
        "stage_win_rate": StageWinRateForecaster(),
        "markov": PlainMarkovForecaster(),
    }
