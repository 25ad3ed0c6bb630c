"""The Monte Carlo engine: every run of many deals at once, one vectorised step per jump.

Each path (deal x run) draws its dwell in the current stage from the mined piecewise-constant
hazards, conditioned on the days already spent there, then its next stage from the
cause-specific rates of the bin it leaves in. Paths are processed in chunks of whole deals
(all runs of a deal together) to bound memory.

Random numbers are counter-based and per deal (``streams``): uniform (deal, run, step) comes
from the deal's own stream, keyed on ``key`` (drawn from the Generator passed in) and the
deal's stable identity. So the same seed gives the same result for a deal whichever deals are
simulated with it, and a baseline and a scenario simulated with the same key use the same
uniforms for the same run and step (common random numbers), however differently their paths
go.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pie.domain.stages import Stage
from pie.mining.events import LOST, N_STAGES, STAGE_INDEX, WON
from pie.mining.model import ProcessModel

from .state import DealState
from .streams import STEPS_PER_RUN, deal_keys, identity_hash, stream_origin, uniforms

Float = NDArray[np.float64]
Int = NDArray[np.intp]

MAX_STEPS = 512  # jumps per path; a path still open after them (or after max_days) is open
_DEMO_ELIGIBLE = np.array(
    [s.is_open and s is not Stage.STALLED and s.rank <= Stage.DEMO.rank for s in STAGE_INDEX],
)
assert MAX_STEPS <= STEPS_PER_RUN


def new_key(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**63, dtype=np.int64))


@dataclass(frozen=True, slots=True)
class Tables:
    """The model, laid out for gathering by cell = stage * contexts + context."""

    left: Float  # (bins,) left edges of the dwell bins
    right: Float
    total: Float  # (cells, bins) total exit rate per day
    cum_dest: NDArray[np.float32]  # (cells, bins, stages) cumulative destination probabilities
    n_contexts: int
    hazard_at: Float  # (cells, bins): cumulative hazard at each bin's left edge
    hazard_next: Float  # (cells, bins): ... at each bin's right edge (inf for the last)

    @classmethod
    def of(cls, model: ProcessModel) -> Tables:
        rates = model.rates
        n_ctx, n_bins = rates.shape[1], rates.shape[2]
        total = rates.sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(total[..., None] > 0, rates / total[..., None], 0.0)
        cum = np.cumsum(share, axis=-1)
        cum[..., -1] = 1.0
        left = model.edges
        flat = total.reshape(-1, n_bins)
        widths = np.diff(left)
        hazard_at = np.concatenate(
            [np.zeros((flat.shape[0], 1)), np.cumsum(flat[:, :-1] * widths, axis=1)], axis=1
        )
        return cls(
            left=left,
            right=np.append(left[1:], np.inf),
            total=flat,
            cum_dest=cum.reshape(-1, n_bins, N_STAGES).astype(np.float32),
            n_contexts=n_ctx,
            hazard_at=hazard_at,
            hazard_next=np.append(hazard_at[:, 1:], np.full((flat.shape[0], 1), np.inf), axis=1),
        )


@dataclass(frozen=True, slots=True)
class Starts:
    """Per deal arrays: stage index, days in stage, context index, demo credit and the hash
    of the deal's stream identity."""

    stage: Int
    spent: Float
    context: Int
    credit: Float
    stream: NDArray[np.uint64]

    @classmethod
    def of(cls, model: ProcessModel, states: Sequence[DealState]) -> Starts:
        return cls(
            stage=np.array([STAGE_INDEX[s.stage] for s in states], dtype=np.intp),
            spent=np.array([s.days_in_stage for s in states], dtype=np.float64),
            context=np.array([model.context_index(s.context) for s in states], dtype=np.intp),
            credit=np.array([s.demo_credit for s in states], dtype=np.float64),
            stream=identity_hash([s.stream or str(s.deal_id) for s in states]),
        )

    def part(self, sl: slice) -> Starts:
        return Starts(
            self.stage[sl], self.spent[sl], self.context[sl], self.credit[sl], self.stream[sl]
        )

    def __len__(self) -> int:
        return int(self.stage.size)


@dataclass(frozen=True, slots=True)
class Chunk:
    first_deal: int  # index of the chunk's first deal
    won: NDArray[np.bool_]  # (runs, deals)
    days: Float  # (runs, deals): days from now to close; NaN if not closed in the limits


def walk(
    tables: Tables,
    starts: Starts,
    *,
    runs: int,
    key: int,
    first_deal: int = 0,
    max_days: float = 3650.0,
) -> Chunk:
    """Simulate ``runs`` paths of each deal in ``starts`` (one chunk: all in memory)."""
    n_deals = len(starts)
    n = runs * n_deals
    path = np.arange(n, dtype=np.intp)  # run-major: path = run * n_deals + deal
    deal = path % n_deals
    counter = (path // n_deals).astype(np.uint64) * np.uint64(STEPS_PER_RUN)
    origin = stream_origin(deal_keys(key, starts.stream)[deal], counter)  # the deal's stream
    stage, spent = starts.stage[deal], starts.spent[deal]
    ctx, credit = starts.context[deal], starts.credit[deal]
    clock = np.zeros(n)
    won = np.zeros(n, dtype=np.bool_)
    days = np.full(n, np.nan)
    n_bins = tables.left.size
    cum_flat = tables.cum_dest.reshape(-1, N_STAGES)
    for step in range(MAX_STEPS):
        if path.size == 0:
            break
        u, v = uniforms(origin[path], step)
        cell = stage * tables.n_contexts + ctx
        remaining, b = _dwell(tables, cell, spent if step == 0 else None, u)
        if credit.any():
            cut = np.where(_DEMO_ELIGIBLE[stage], np.minimum(credit, remaining), 0.0)
            remaining, credit = remaining - cut, credit - cut
            d_eff = remaining if step else spent + remaining
            b = np.clip(np.searchsorted(tables.left, d_eff, side="right") - 1, 0, None)
        cum = cum_flat[cell * n_bins + b]
        dest = np.argmax(cum >= v.astype(np.float32)[:, None], axis=1)  # first reaching v
        clock = clock + remaining
        closed = (dest == WON) | (dest == LOST)
        won[path[closed]] = dest[closed] == WON
        days[path[closed]] = clock[closed]
        keep = ~closed & (clock <= max_days)
        path, stage, clock = path[keep], dest[keep], clock[keep]
        ctx, credit = ctx[keep], credit[keep]
    return Chunk(first_deal, won.reshape(runs, n_deals), days.reshape(runs, n_deals))


def _dwell(
    tables: Tables, cell: Int, spent: Float | None, u: Float
) -> tuple[Float, NDArray[np.intp]]:
    """Remaining days in the stage (inverting the cumulative hazard H, conditioned on ``spent``
    days already done) and the dwell bin the visit ends in."""
    n_bins = tables.left.size
    target = -np.log(u)
    if spent is not None:
        b0 = np.searchsorted(tables.left, spent, side="right") - 1
        flat0 = cell * n_bins + b0
        done = tables.hazard_at.ravel()[flat0] + tables.total.ravel()[flat0] * (
            spent - tables.left[b0]
        )
        target = target + done
    b = np.argmax(tables.hazard_next[cell] > target[:, None], axis=1)
    flat = cell * n_bins + b
    exit_at = (
        tables.left[b] + (target - tables.hazard_at.ravel()[flat]) / tables.total.ravel()[flat]
    )
    return (exit_at if spent is None else exit_at - spent), b


def chunks(
    model: ProcessModel,
    states: Sequence[DealState],
    *,
    runs: int,
    key: int,
    chunk_paths: int = 200_000,
    max_days: float = 3650.0,
) -> Iterator[Chunk]:
    """Walk the deals in chunks of at most ``chunk_paths`` paths (at least one deal)."""
    tables, starts = Tables.of(model), Starts.of(model, states)
    per = max(1, chunk_paths // max(runs, 1))
    for lo in range(0, len(starts), per):
        part = starts.part(slice(lo, lo + per))
        yield walk(tables, part, runs=runs, key=key, first_deal=lo, max_days=max_days)
