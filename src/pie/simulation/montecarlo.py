"""The Monte Carlo engine: every run of many deals at once, one vectorised step per jump.

Each path (deal x run) draws its dwell in the current stage from the mined piecewise-constant
hazards, conditioned on the days already spent there, then its next stage from the
cause-specific rates of the bin it leaves in. Paths are processed in chunks of whole deals
(all runs of a deal together) to bound memory.

Context arrives along a path (``MiningConfig.context_arrives``): during each visit, a path
without a champion gains one, and a path that never had a blocker gets one, at the mined rates
per stage and time in stage (``pie.mining.arrivals``), scaled per deal by
``DealState.arrival_scale``. As in the fit, where a visit's context is the one at its start, a
factor that arrives during a visit counts from the next visit on.

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
from pie.mining.calibration_map import group_of, logit
from pie.mining.context import factor_shape
from pie.mining.events import LOST, N_STAGES, STAGE_INDEX, WON
from pie.mining.model import ProcessModel

from .state import DealState
from .streams import STEPS_PER_RUN, deal_keys, identity_hash, stream_origin, uniforms

Float = NDArray[np.float64]
Int = NDArray[np.intp]

MAX_STEPS = 512  # jumps per path; a path still open after them (or after max_days) is open
ARRIVAL_STEP = MAX_STEPS  # counters MAX_STEPS + step draw the arrivals of step ``step``
#: the calibration map's uniform of a run is read at the run's origin with these bits flipped:
#: a point of the deal's stream no step reads
CALIBRATION_SALT = np.uint64(0xC0FFEE5A17C0FFEE)
_DEMO_ELIGIBLE = np.array(
    [s.is_open and s is not Stage.STALLED and s.rank <= Stage.DEMO.rank for s in STAGE_INDEX],
)
assert 2 * MAX_STEPS <= STEPS_PER_RUN


def new_key(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**63, dtype=np.int64))


def _calibration(model: ProcessModel) -> Float | None:
    cal = model.calibration
    if cal is None or cal.is_identity:
        return None
    coef = np.array(cal.coefficients, dtype=np.float64)
    return coef[[group_of(s) for s in STAGE_INDEX]]


def context_arrives(model: ProcessModel) -> bool:
    """Whether champions and blockers arrive along the model's simulated paths: switched on
    (``MiningConfig.context_arrives``), with context in the model and some arrival mined."""
    arrivals = model.arrivals
    return (
        model.config.context_arrives
        and model.config.use_context
        and arrivals is not None
        and bool(np.any(arrivals.rates[:2] > 0))
    )


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
    #: per (stage * bins + bin): the cumulative arrival hazard of a champion at the bin's left
    #: edge, its rate per day, and the same for a blocker; None when context is held fixed
    arrive: Float | None = None
    strides: tuple[int, int] = (0, 0)  # what a factor's arrival adds to the context index
    #: per stage index: (intercept, slope) of the calibration map; None: no map
    calibration: Float | None = None

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
        arrive = None
        if context_arrives(model) and model.arrivals is not None:
            r = model.arrivals.rates[:2]
            at = np.concatenate(
                [np.zeros((*r.shape[:2], 1)), np.cumsum(r[..., :-1] * widths, axis=-1)], -1
            )
            arrive = np.stack([at[0], r[0], at[1], r[1]], axis=-1).reshape(-1, 4)
        shape = factor_shape(model.config)
        return cls(
            left=left,
            right=np.append(left[1:], np.inf),
            total=flat,
            cum_dest=cum.reshape(-1, n_bins, N_STAGES).astype(np.float32),
            n_contexts=n_ctx,
            hazard_at=hazard_at,
            hazard_next=np.append(hazard_at[:, 1:], np.full((flat.shape[0], 1), np.inf), axis=1),
            arrive=arrive,
            strides=(int(np.prod(shape[1:])), int(np.prod(shape[2:]))),
            calibration=_calibration(model),
        )


@dataclass(frozen=True, slots=True)
class Starts:
    """Per deal arrays: stage index, days in stage, context index, demo credit, the hash
    of the deal's stream identity and the scale of each factor's arrival rate (0 where the
    deal has the factor already)."""

    stage: Int
    spent: Float
    context: Int
    credit: Float
    stream: NDArray[np.uint64]
    scale: Float  # (deals, 2): champion, blocker

    @classmethod
    def of(cls, model: ProcessModel, states: Sequence[DealState]) -> Starts:
        seen = [model.effective(s.context) for s in states]
        has = np.array([[c.has_champion, c.unresolved_blocker] for c in seen], dtype=np.bool_)
        scale = np.array([s.arrival_scale for s in states], dtype=np.float64).reshape(-1, 2)
        return cls(
            stage=np.array([STAGE_INDEX[s.stage] for s in states], dtype=np.intp),
            spent=np.array([s.days_in_stage for s in states], dtype=np.float64),
            context=np.array([model.context_index(s.context) for s in states], dtype=np.intp),
            credit=np.array([s.demo_credit for s in states], dtype=np.float64),
            stream=identity_hash([s.stream or str(s.deal_id) for s in states]),
            scale=np.where(has.reshape(-1, 2), 0.0, np.maximum(scale, 0.0)),
        )

    def pick(self, rows: Int) -> Starts:
        """The deals at ``rows``, in that order."""
        return Starts(
            self.stage[rows],
            self.spent[rows],
            self.context[rows],
            self.credit[rows],
            self.stream[rows],
            self.scale[rows],
        )

    def part(self, sl: slice) -> Starts:
        return Starts(
            self.stage[sl],
            self.spent[sl],
            self.context[sl],
            self.credit[sl],
            self.stream[sl],
            self.scale[sl],
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
    arriving = tables.arrive is not None and bool(starts.scale.any())
    scale = starts.scale[deal].T.copy() if arriving else np.zeros((2, 0))  # (factor, path)
    clock = np.zeros(n)
    won = np.zeros(n, dtype=np.bool_)
    days = np.full(n, np.nan)
    n_bins = tables.left.size
    cum_flat = tables.cum_dest.reshape(-1, N_STAGES)
    # np.take and np.compress rather than fancy and boolean indexing: the same values, faster
    for step in range(MAX_STEPS):
        if path.size == 0:
            break
        here = np.take(origin, path)
        u, v = uniforms(here, step)
        cell = stage * tables.n_contexts + ctx
        remaining, b = _dwell(tables, cell, spent if step == 0 else None, u)
        if credit.any():
            cut = np.where(_DEMO_ELIGIBLE[stage], np.minimum(credit, remaining), 0.0)
            remaining, credit = remaining - cut, credit - cut
            d_eff = remaining if step else spent + remaining
            moved = np.clip(np.searchsorted(tables.left, d_eff, side="right") - 1, 0, None)
            b = np.where(cut > 0, moved, b)  # a path without credit: as if none had any
        cum = np.take(cum_flat, cell * n_bins + b, axis=0)
        dest = np.argmax(cum >= v.astype(np.float32)[:, None], axis=1)  # first reaching v
        if arriving:
            _arrive(tables, here, step, stage, spent if step == 0 else None,
                    remaining, b, ctx, scale)  # fmt: skip
        clock = clock + remaining
        closed = (dest == WON) | (dest == LOST)
        ended = np.compress(closed, path)
        won[ended] = np.compress(closed, dest) == WON
        days[ended] = np.compress(closed, clock)
        keep = ~closed & (clock <= max_days)
        path, stage, clock = (np.compress(keep, x) for x in (path, dest, clock))
        ctx, credit = np.compress(keep, ctx), np.compress(keep, credit)
        if arriving:
            scale = np.compress(keep, scale, axis=1)
    by_run = Chunk(first_deal, won.reshape(runs, n_deals), days.reshape(runs, n_deals))
    if tables.calibration is not None:
        coef = tables.calibration[starts.stage]
        _calibrate(coef, origin.reshape(runs, n_deals), by_run.won, by_run.days)
    return by_run


def _calibrate(
    coef: Float, origin: NDArray[np.uint64], won: NDArray[np.bool_], days: Float
) -> None:
    """Apply the calibration map to each deal's runs (in place): with p its share of won runs
    and q = map(p), a deal whose q is below p keeps each won run with probability q / p (the
    others count as lost then); one whose q is above p turns each lost run into a won one with
    probability (q - p) / (share of lost runs). The uniform of each (deal, run) is drawn from
    the deal's own stream, so a baseline and a scenario of the deal are thinned alike."""
    p = won.mean(axis=0)
    z = coef[:, 0] + coef[:, 1] * logit(p)
    q = np.where((p <= 0) | (p >= 1), p, 1.0 / (1.0 + np.exp(-z)))
    lost = ~won & np.isfinite(days)
    u, _ = uniforms(origin ^ CALIBRATION_SALT)
    with np.errstate(divide="ignore", invalid="ignore"):
        keep = np.where(p > 0, q / p, 1.0)
        add = np.where(lost.any(axis=0), (q - p) / lost.mean(axis=0), 0.0)
    down = won & (u >= keep)
    up = lost & (u < add) & (q > p)
    won[down] = False
    won[up] = True


def _arrive(
    tables: Tables,
    origin: NDArray[np.uint64],
    step: int,
    stage: Int,
    spent: Float | None,
    remaining: Float,
    b: NDArray[np.intp],
    ctx: Int,
    scale: Float,
) -> None:
    """Draw, for the paths at risk, whether each factor arrives during this visit (from
    ``spent``, or 0, to the end of the visit, which ends in bin ``b``); where it does, switch it
    on in ``ctx`` for the next visit and end the path's risk of it (``scale``: (2, paths); both
    in place)."""
    assert tables.arrive is not None
    idx = np.flatnonzero((scale[0] > 0) | (scale[1] > 0))
    if idx.size == 0:
        return
    n_bins = tables.left.size
    w = uniforms(np.take(origin, idx), ARRIVAL_STEP + step)
    st = np.take(stage, idx) * n_bins
    bi = np.take(b, idx)
    offset = np.minimum(np.take(remaining, idx), 1e6)  # an endless visit: long, finite
    if spent is not None:
        start = np.take(spent, idx)
        b0 = np.searchsorted(tables.left, start, side="right") - 1
        at0 = np.take(tables.arrive, st + b0, axis=0)
        offset = offset + start
    at = np.take(tables.arrive, st + bi, axis=0)  # (paths, 4): champion at, rate, blocker ...
    into = offset - np.take(tables.left, bi)
    for f in range(2):
        hazard = at[:, 2 * f] + at[:, 2 * f + 1] * into
        if spent is not None:
            hazard -= at0[:, 2 * f] + at0[:, 2 * f + 1] * (start - np.take(tables.left, b0))
        hit = np.take(scale[f], idx) * hazard > -np.log(w[f])
        if hit.any():
            rows = idx[hit]
            ctx[rows] += tables.strides[f]
            scale[f, rows] = 0.0


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
        done = np.take(tables.hazard_at, flat0) + np.take(tables.total, flat0) * (
            spent - np.take(tables.left, b0)
        )
        target = target + done
    b = np.argmax(np.take(tables.hazard_next, cell, axis=0) > target[:, None], axis=1)
    flat = cell * n_bins + b
    exit_at = np.take(tables.left, b) + (target - np.take(tables.hazard_at, flat)) / np.take(
        tables.total, flat
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
