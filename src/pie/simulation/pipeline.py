"""The pipeline's won value by period: every open deal simulated together, per run.

For each run, the won value of a period is the sum of the values of the deals won with a close
date inside it; across runs this gives its distribution (P10/P50/P90), its mean (the expected
won value) and the expected number of wins.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from uuid import UUID

import numpy as np
from numpy.typing import NDArray

from pie.domain.errors import InvalidInput
from pie.mining.model import ProcessModel

from . import heap
from .engine import IN_PROCESS, PART_DEALS, Engine, parts
from .montecarlo import chunks, new_key
from .state import DealState

_QUARTER = re.compile(r"^(\d{4})-?Q([1-4])$", re.IGNORECASE)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_YEAR = re.compile(r"^(\d{4})$")


@dataclass(frozen=True, slots=True)
class Period:
    label: str
    start: date  # first day
    end: date  # last day, inclusive


def parse_period(text: str) -> Period:
    """``2026Q1`` (or ``2026-Q1``), ``2026-03`` or ``2026``."""
    t = text.strip()
    if m := _QUARTER.match(t):
        year, q = int(m[1]), int(m[2])
        first = date(year, 3 * q - 2, 1)
        last_month = 3 * q
        return Period(f"{year}Q{q}", first, date(year, last_month, _days_in(year, last_month)))
    if (m := _MONTH.match(t)) and 1 <= int(m[2]) <= 12:
        year, month = int(m[1]), int(m[2])
        return Period(t, date(year, month, 1), date(year, month, _days_in(year, month)))
    if m := _YEAR.match(t):
        return Period(t, date(int(m[1]), 1, 1), date(int(m[1]), 12, 31))
    raise InvalidInput(
        f"unknown period {text!r}; use 2026Q1, 2026-03 or 2026", source="forecast", field="period"
    )


def _days_in(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


@dataclass(frozen=True, slots=True)
class PeriodForecast:
    period: Period
    p10: float
    p50: float
    p90: float
    expected_value: float
    expected_wins: float
    open_deals: int
    histogram_edges: tuple[float, ...]  # won value bins across runs
    histogram_counts: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class DealContribution:
    """One open deal's part in the pipeline forecast, from the same runs."""

    deal_id: UUID
    value: float
    p_win: float  # won at all
    median_days_to_win: float  # over the runs it is won; NaN when it never is
    p_win_in: tuple[float, ...]  # per period: won with a close date inside it


HISTOGRAM_BINS = 24


def pipeline_forecast(
    model: ProcessModel,
    states: Sequence[DealState],
    periods: Sequence[Period],
    *,
    as_of: datetime,
    runs: int,
    rng: np.random.Generator,
    chunk_paths: int = 200_000,
) -> list[PeriodForecast]:
    """Won value per period across all open deals (close date = as_of + simulated days)."""
    forecasts, _ = pipeline_forecast_by_deal(
        model, states, periods, as_of=as_of, runs=runs, rng=rng, chunk_paths=chunk_paths
    )
    return forecasts


def _median_won_days(won: NDArray[np.bool_], days: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per deal (column), the median of ``days`` over the runs it is won; NaN if none."""
    ordered = np.sort(np.where(won, days, np.inf), axis=0)
    k = won.sum(axis=0)
    cols = np.arange(won.shape[1])
    lo, hi = np.maximum((k - 1) // 2, 0), np.maximum(k // 2, 0)
    out: NDArray[np.float64] = np.where(k > 0, (ordered[lo, cols] + ordered[hi, cols]) / 2, np.nan)
    return out


@dataclass(frozen=True, slots=True)
class _Part:
    """What one consecutive run of deals adds to the pipeline forecast, chunk by chunk."""

    first: int
    value: list[NDArray[np.float64]]  # per chunk: (periods, runs) won value
    wins: list[NDArray[np.float64]]  # per chunk: (periods, runs) wins
    p_win: NDArray[np.float64]  # per deal of the part
    median_days: NDArray[np.float64]
    p_in: NDArray[np.float64]  # (periods, deals of the part)


@dataclass(frozen=True, slots=True)
class _Job:
    """Everything a worker needs to simulate a part of the deals (picklable)."""

    model: ProcessModel
    bounds: NDArray[np.float64]
    offset_days: float
    runs: int
    key: int
    chunk_paths: int


def _simulate_part(job: _Job, first: int, states: Sequence[DealState]) -> _Part:
    heap.settle()  # in the process that runs the part (a Dask worker's too)
    n_periods = job.bounds.shape[0]
    values = np.array([s.value for s in states], dtype=np.float64)
    p_win = np.zeros(len(states))
    median_days = np.full(len(states), np.nan)
    p_in = np.zeros((n_periods, len(states)))
    value_parts, win_parts = [], []
    for chunk in chunks(job.model, states, runs=job.runs, key=job.key, chunk_paths=job.chunk_paths):
        n = chunk.won.shape[1]
        close = np.where(chunk.won, chunk.days, np.nan) + job.offset_days  # days from origin
        cols = slice(chunk.first_deal, chunk.first_deal + n)
        v = values[cols]
        p_win[cols] = chunk.won.mean(axis=0)
        median_days[cols] = _median_won_days(chunk.won, chunk.days)
        value = np.zeros((n_periods, job.runs))
        wins = np.zeros((n_periods, job.runs))
        for k, (lo, hi) in enumerate(job.bounds):
            with np.errstate(invalid="ignore"):
                inside = (close >= lo) & (close < hi)
            value[k] = inside @ v
            wins[k] = inside.sum(axis=1)
            p_in[k, cols] = inside.mean(axis=0)
        value_parts.append(value)
        win_parts.append(wins)
    return _Part(first, value_parts, win_parts, p_win, median_days, p_in)


def _run_part(args: tuple[_Job, int, Sequence[DealState]]) -> _Part:
    return _simulate_part(*args)


def pipeline_forecast_by_deal(
    model: ProcessModel,
    states: Sequence[DealState],
    periods: Sequence[Period],
    *,
    as_of: datetime,
    runs: int,
    rng: np.random.Generator,
    chunk_paths: int = 200_000,
    engine: Engine = IN_PROCESS,
    part_deals: int = PART_DEALS,
) -> tuple[list[PeriodForecast], list[DealContribution]]:
    """``pipeline_forecast`` and, from the same runs, each deal's contribution to it. With an
    ``engine``, the deals are simulated in parts of about ``part_deals`` where it runs them;
    the numbers are the same (each part is a whole number of chunks, added up in order)."""
    origin = as_of.date()
    bounds = np.array(
        [[(p.start - origin).days, (p.end + timedelta(days=1) - origin).days] for p in periods],
        dtype=np.float64,
    ).reshape(-1, 2)
    offset = (as_of - datetime.combine(origin, datetime.min.time(), as_of.tzinfo)).total_seconds()
    job = _Job(model, bounds, offset / 86400.0, runs, new_key(rng), chunk_paths)
    per_chunk = max(1, chunk_paths // max(runs, 1))
    size = max(per_chunk, part_deals // per_chunk * per_chunk)  # whole chunks per part
    split = parts(len(states), size) if states else []
    done = engine.map(_run_part, [(job, sl.start, list(states[sl])) for sl in split])
    value = np.zeros((len(periods), runs))
    wins = np.zeros((len(periods), runs))
    values = np.array([s.value for s in states], dtype=np.float64)
    p_win = np.zeros(len(states))
    median_days = np.full(len(states), np.nan)
    p_in = np.zeros((len(periods), len(states)))
    for part in done:
        for v_k, w_k in zip(part.value, part.wins, strict=True):
            value += v_k
            wins += w_k
        cols = slice(part.first, part.first + part.p_win.size)
        p_win[cols], median_days[cols], p_in[:, cols] = part.p_win, part.median_days, part.p_in
    out = []
    for k, p in enumerate(periods):
        q10, q50, q90 = np.quantile(value[k], (0.1, 0.5, 0.9))
        counts, edges = np.histogram(value[k], bins=HISTOGRAM_BINS)
        out.append(
            PeriodForecast(
                period=p,
                p10=float(q10),
                p50=float(q50),
                p90=float(q90),
                expected_value=float(value[k].mean()),
                expected_wins=float(wins[k].mean()),
                open_deals=len(states),
                histogram_edges=tuple(float(e) for e in edges),
                histogram_counts=tuple(int(c) for c in counts),
            )
        )
    deals = [
        DealContribution(
            deal_id=st.deal_id, value=v, p_win=p, median_days_to_win=d, p_win_in=tuple(p_k)
        )
        for st, v, p, d, p_k in zip(
            states,
            values.tolist(),
            p_win.tolist(),
            median_days.tolist(),
            p_in.T.tolist(),
            strict=True,
        )
    ]
    return out, deals
