"""How fast context arrives: the rate (per day in a stage) at which deals without a champion
gain one and deals that never had a blocker get one, per stage and time in stage.

A visit that starts without the factor is at risk from its start until the factor arrives or
the visit ends (or ``as_of``, for a visit still going); an arrival inside the visit is an
event in the dwell bin of its time in stage. Rates are events / days at risk, shrunk like the
exit hazards (``hazards``): each (stage, bin) towards its stage, each stage towards the
factor's rate over every stage. A factor the miner ignores (``evidence``) arrives at rate 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .config import MiningConfig
from .events import N_STAGES, VisitTable
from .hazards import shrink, time_in_bins

Float = NDArray[np.float64]
#: Factors whose arrival is mined, in the order of the arrays' first axis.
ARRIVING: tuple[str, ...] = ("has_champion", "unresolved_blocker")
Z95 = 1.959963984540054


@dataclass(frozen=True, slots=True, eq=False)
class ArrivalRates:
    """Per factor (``ARRIVING``), stage and dwell bin: ``rates`` per day (shrunk), and the raw
    ``events`` and ``exposure`` (days at risk) behind them."""

    rates: Float  # (factor, stage, bin)
    events: Float
    exposure: Float

    def stage_rate(self, factor: str, stage: int) -> tuple[float, tuple[float, float]]:
        """The raw rate over all time in ``stage`` with a 95% interval (log scale; with no
        arrival, the upper end is 3 / exposure, the rule of three)."""
        f = ARRIVING.index(factor)
        ev, ex = float(self.events[f, stage].sum()), float(self.exposure[f, stage].sum())
        if ex <= 0:
            return 0.0, (0.0, math.inf)
        rate = ev / ex
        if ev == 0:
            return 0.0, (0.0, 3.0 / ex)
        half = Z95 / math.sqrt(ev)
        return rate, (rate * math.exp(-half), rate * math.exp(half))


def fit_arrivals(
    table: VisitTable, config: MiningConfig, ignored: frozenset[str] = frozenset()
) -> ArrivalRates:
    left = np.asarray(config.dwell_edges, dtype=np.float64)
    n_bins = left.size
    shape = (len(ARRIVING), N_STAGES, n_bins)
    events, exposure, at_risk = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    for f, arrives in enumerate((table.champion_at, table.blocker_at)):
        ev, ex, ar = _count(table, arrives, left, n_bins)
        events[f], exposure[f], at_risk[f] = ev, ex, ar
    rates = np.zeros(shape)
    for f, name in enumerate(ARRIVING):
        if name in ignored:
            continue
        ev, ex, ar = events[f][..., None], exposure[f], at_risk[f]
        total = ev.sum() / max(ex.sum(), 1e-9)
        stage = shrink(
            ev.sum(axis=1), ex.sum(axis=1), ar[:, 0], np.full((N_STAGES, 1), total), 1.0
        )  # (stage, 1)
        by_bin = shrink(ev, ex, ar, stage[:, None, :], config.prior_strength)
        rates[f] = by_bin[..., 0]
    return ArrivalRates(rates=rates, events=events, exposure=exposure)


def _count(
    table: VisitTable, arrives: Float, left: Float, n_bins: int
) -> tuple[Float, Float, Float]:
    """(events, exposure, at risk) per (stage, bin) for visits starting without the factor."""
    risk = arrives > table.start
    offset = np.minimum(table.dwell, arrives - table.start)[risk]  # days at risk in the visit
    stage = table.stage[risk]
    event = (arrives[risk] - table.start[risk]) <= table.dwell[risk]
    size = N_STAGES * n_bins
    exposure, at_risk = time_in_bins(stage, offset, left, N_STAGES)
    ev_bin = np.clip(np.searchsorted(left, offset[event], side="right") - 1, 0, n_bins - 1)
    events = np.bincount(stage[event] * n_bins + ev_bin, minlength=size).astype(np.float64)
    grid = (N_STAGES, n_bins)
    return (
        events.reshape(grid),
        exposure.reshape(grid).astype(np.float64),
        at_risk.reshape(grid).astype(np.float64),
    )
