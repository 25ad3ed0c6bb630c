"""The Monte Carlo engine: every run of many deals at once, one vectorised step per jump.

Each path (deal x run) draws its dwell in the current stage from the mined piecewise-constant
hazards, conditioned on the days already spent there, then its next stage from the
cause-specific rates of the bin it leaves in. Paths are processed in chunks of whole deals
(all runs of a deal together) to bound memory, and a chunk in blocks of whole runs, a step
at a time (``walk``).

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

import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pie.domain.stages import Stage
from pie.mining.calibration_map import group_of, logit
from pie.mining.context import encode, factor_shape
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
    total: Float  # (cells, bins) total exit rate per day
    cum_dest: NDArray[np.float32]  # (cells, bins, stages) cumulative destination probabilities
    n_contexts: int
    hazard_at: Float  # (cells, bins): cumulative hazard at each bin's left edge
    #: (bins - 1, cells): the cumulative hazard at each bin's right edge but the last's
    #: (infinite), as a running maximum (``_rising``), a column of a cell's values per bin
    hazard_out: Float
    #: (cells * bins, 8): ``cum_dest`` but its last column (1.0), as a running maximum
    #: (``_rising``), padded with +inf
    dest_below: NDArray[np.float32]
    #: per (stage * bins + bin): the cumulative arrival hazard of a champion at the bin's left
    #: edge, its rate per day, and the same for a blocker; None when context is held fixed
    arrive: Float | None = None
    strides: tuple[int, int] = (0, 0)  # what a factor's arrival adds to the context index
    #: per stage index: (intercept, slope) of the calibration map; None: no map
    calibration: Float | None = None

    @classmethod
    def of(cls, model: ProcessModel) -> Tables:
        """The model's tables, laid out once per model (the last few models' are kept)."""
        with _LOCK:
            hit = _TABLES.get(id(model))
            if hit is not None and hit[0] is model:
                _TABLES.move_to_end(id(model))
                return hit[1]
        tables = cls._lay_out(model)
        with _LOCK:
            _TABLES[id(model)] = (model, tables)  # the model held: its id is not reused
            while len(_TABLES) > _KEEP_TABLES:
                _TABLES.popitem(last=False)
        return tables

    @classmethod
    def _lay_out(cls, model: ProcessModel) -> Tables:
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
        cum_dest = cum.reshape(-1, n_bins, N_STAGES).astype(np.float32)
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
            total=flat,
            cum_dest=cum_dest,
            n_contexts=n_ctx,
            hazard_at=hazard_at,
            hazard_out=_rising(hazard_at[:, 1:]).T.copy(),
            dest_below=_padded(_rising(cum_dest[..., :-1].reshape(-1, N_STAGES - 1))),
            arrive=arrive,
            strides=(int(np.prod(shape[1:])), int(np.prod(shape[2:]))),
            calibration=_calibration(model),
        )


def _rising(rows: NDArray[Any]) -> NDArray[Any]:
    """Each row's running maximum (NaN as below everything), so that the first value above a
    number (``_first_above``) is the count of values below it. The first value above a
    number is the same in a row and in its running maximum: a row's own, for any rates."""
    out: NDArray[Any] = np.fmax.accumulate(np.where(np.isnan(rows), -np.inf, rows), axis=1)
    return out


def _padded(rows: NDArray[np.float32]) -> NDArray[np.float32]:
    """``rows`` with +inf columns added up to a multiple of 8 (a flag per column fills whole
    8-byte words; +inf is below no draw)."""
    width = -(-rows.shape[1] // 8) * 8
    out = np.full((rows.shape[0], width), np.inf, dtype=np.float32)
    out[:, : rows.shape[1]] = rows
    return out


_KEEP_TABLES = 8
_TABLES: OrderedDict[int, tuple[ProcessModel, Tables]] = OrderedDict()
_LOCK = threading.Lock()


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
        has = np.array(
            [[c.has_champion, c.unresolved_blocker] for c in seen], dtype=np.bool_
        ).reshape(-1, 2)
        scale = np.array([s.arrival_scale for s in states], dtype=np.float64).reshape(-1, 2)
        context = encode(  # model.context_index of every state at once
            has[:, 0],
            has[:, 1],
            np.array([c.icp_match for c in seen], dtype=np.bool_),
            np.array([np.nan if c.size_ratio is None else c.size_ratio for c in seen],
                     dtype=np.float64),
            np.array([np.inf if c.days_since_activity is None else c.days_since_activity
                      for c in seen], dtype=np.float64),
            model.config,
        )  # fmt: skip
        return cls(
            stage=np.array([STAGE_INDEX[s.stage] for s in states], dtype=np.intp),
            spent=np.array([s.days_in_stage for s in states], dtype=np.float64),
            context=context,
            credit=np.array([s.demo_credit for s in states], dtype=np.float64),
            stream=identity_hash([s.stream or str(s.deal_id) for s in states]),
            scale=np.where(has, 0.0, np.maximum(scale, 0.0)),
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
    first_run: int = 0,
    calibrate: bool = True,
) -> Chunk:
    """Simulate ``runs`` paths of each deal in ``starts`` (one chunk: all in memory), runs
    ``first_run`` to ``first_run + runs`` of each deal's stream, with the model's calibration
    map applied (``calibrate``; else raw: see ``calibrated``).

    A path's numbers depend only on its deal's stream, its run and the step, never on the
    other paths walked with it. So the paths are walked in blocks of runs (about
    ``BLOCK_PATHS`` paths, all blocks a step at a time: a block's arrays stay in the
    processor's cache and the allocator reuses them instead of mapping fresh pages), merged
    into one once the paths still open fit in a block; and deals that share a stream (a
    deal's scenarios, walked together) share each run's uniforms: while there are more paths
    than (run, stream) slots, a step's uniforms are drawn once per slot and gathered."""
    n_deals = len(starts)
    streams, stream_of = np.unique(starts.stream, return_inverse=True)
    shared = streams.size < n_deals
    if not shared:  # a stream per deal: a path's slot is the path itself
        streams = starts.stream
    origin = stream_origin(deal_keys(key, streams)[None, :], _counter(first_run, runs)).ravel()
    first = _First.of(tables, starts)
    won = np.zeros(runs * n_deals, dtype=np.bool_)
    days = np.full(runs * n_deals, np.nan)
    blocks = _Paths.start(tables, starts, runs, stream_of if shared else None)
    for step in range(MAX_STEPS):
        alive = sum(len(b) for b in blocks)
        if alive == 0:
            break
        if step and len(blocks) > 1 and alive <= BLOCK_PATHS:
            blocks = [_Paths.merge(blocks)]
        draws = _Draws(origin, step, shared=alive > origin.size)
        blocks = [_step(tables, b, draws, first, won, days, max_days) for b in blocks]
    by_run = Chunk(first_deal, won.reshape(runs, n_deals), days.reshape(runs, n_deals))
    if calibrate and tables.calibration is not None:  # the origins drawn above, per slot
        by_stream = origin.reshape(runs, streams.size)
        _apply_map(tables, starts, by_run, by_stream, stream_of if shared else None)
    return by_run


def _counter(first_run: int, runs: int) -> NDArray[np.uint64]:
    """(runs, 1): where each run's counters start in a stream."""
    return np.arange(first_run, first_run + runs, dtype=np.uint64)[:, None] * np.uint64(
        STEPS_PER_RUN
    )


def calibrated(
    tables: Tables, starts: Starts, chunk: Chunk, *, key: int, first_run: int = 0
) -> None:
    """Apply the model's calibration map (if any) to ``chunk``, the raw runs of ``starts``
    from ``first_run`` on (in place): what ``walk`` does to its runs, so a walk's runs in
    parts, joined and then calibrated, equal those of one walk."""
    if tables.calibration is None:
        return
    streams, stream_of = np.unique(starts.stream, return_inverse=True)
    origin = stream_origin(
        deal_keys(key, streams)[None, :], _counter(first_run, chunk.won.shape[0])
    )
    _apply_map(tables, starts, chunk, origin, stream_of)


def _apply_map(
    tables: Tables, starts: Starts, chunk: Chunk, origin: NDArray[np.uint64], stream_of: Int | None
) -> None:
    """``_calibrate`` ``chunk`` with each run's uniform read at its stream's ``origin``
    ((runs, streams); ``stream_of``: each deal's stream, None: a stream per deal)."""
    assert tables.calibration is not None
    u, _ = uniforms(origin ^ CALIBRATION_SALT)
    _calibrate(tables.calibration[starts.stage], u if stream_of is None else u[:, stream_of], chunk)


#: paths walked at a time (see ``walk``)
BLOCK_PATHS = 32_768
_CLOSED = np.isin(np.arange(N_STAGES), [WON, LOST])


@dataclass(frozen=True, slots=True)
class _First:
    """Per deal, what its first visit starts from: the days already ``spent`` in it, the
    cumulative hazard of leaving done by then, and that of each factor's arrival (None: no
    arrivals)."""

    spent: Float
    done: Float
    arrived: Float | None  # (2, deals)

    @classmethod
    def of(cls, tables: Tables, starts: Starts) -> _First:
        spent, n_bins = starts.spent, tables.left.size
        b0 = np.searchsorted(tables.left, spent, side="right") - 1
        into = spent - np.take(tables.left, b0)
        flat0 = (starts.stage * tables.n_contexts + starts.context) * n_bins + b0
        done = np.take(tables.hazard_at, flat0) + np.take(tables.total, flat0) * into
        arrived = None
        if tables.arrive is not None:
            at0 = np.take(tables.arrive, starts.stage * n_bins + b0, axis=0)
            arrived = np.stack([at0[:, 2 * f] + at0[:, 2 * f + 1] * into for f in range(2)])
        return cls(spent, done, arrived)


@dataclass(frozen=True, slots=True)
class _Paths:
    """A block of open paths, one entry a path: its index in the chunk's (run, deal)
    outcomes (``path``, run-major), its (run, stream) slot (None: the path), stage, context
    index, days walked, demo credit (None: no deal has any), arrival scales ((2, paths); None:
    nothing arrives) and, before the first step only, its deal."""

    path: Int
    slot: Int | None
    stage: Int
    ctx: Int
    clock: Float
    credit: Float | None
    scale: Float | None
    deal: Int | None = None

    def __len__(self) -> int:
        return int(self.path.size)

    @classmethod
    def start(
        cls, tables: Tables, starts: Starts, runs: int, stream_of: Int | None
    ) -> list[_Paths]:
        """Every path at its deal's start, in blocks of whole runs."""
        n_deals = len(starts)
        arriving = tables.arrive is not None and bool(starts.scale.any())
        has_credit = bool(starts.credit.any())
        per = max(1, BLOCK_PATHS // max(n_deals, 1))
        if stream_of is not None:  # the first slot of each run
            slots = np.arange(runs)[:, None] * (int(stream_of.max()) + 1)
        out = []
        for lo in range(0, runs, per):
            hi = min(lo + per, runs)
            deal = np.tile(np.arange(n_deals, dtype=np.intp), hi - lo)
            out.append(
                cls(
                    path=np.arange(lo * n_deals, hi * n_deals, dtype=np.intp),
                    slot=None if stream_of is None else (slots[lo:hi] + stream_of).ravel(),
                    stage=np.take(starts.stage, deal),
                    ctx=np.take(starts.context, deal),
                    clock=np.zeros(deal.size),
                    credit=np.take(starts.credit, deal) if has_credit else None,
                    scale=np.take(starts.scale.T, deal, axis=1) if arriving else None,
                    deal=deal,
                )
            )
        return out

    def kept(self, keep: Int, stage: Int, clock: Float) -> _Paths:
        """The paths at rows ``keep``, in ``stage`` after ``clock`` days."""

        def cut(x: NDArray[Any] | None, axis: int = 0) -> Any:
            return None if x is None else np.take(x, keep, axis=axis)

        return _Paths(
            cut(self.path), cut(self.slot), cut(stage), cut(self.ctx), cut(clock),
            cut(self.credit), cut(self.scale, axis=1),
        )  # fmt: skip

    @staticmethod
    def merge(blocks: Sequence[_Paths]) -> _Paths:
        """The blocks' paths as one block (after the first step)."""

        def join(name: str, axis: int = 0) -> Any:
            parts = [getattr(b, name) for b in blocks]
            return None if parts[0] is None else np.concatenate(parts, axis=axis)

        return _Paths(
            join("path"), join("slot"), join("stage"), join("ctx"), join("clock"),
            join("credit"), join("scale", axis=1),
        )  # fmt: skip


class _Draws:
    """A step's uniforms: with ``shared``, drawn once for every (run, stream) slot of
    ``origin`` (when first asked for) and gathered for each path; else drawn for the paths
    asking, at their slots."""

    def __init__(self, origin: NDArray[np.uint64], step: int, *, shared: bool) -> None:
        self.origin, self.step, self.shared = origin, step, shared
        self._main: tuple[Float, NDArray[np.float32]] | None = None
        self._arrival: dict[int, Float] = {}

    def main(self, src: Int) -> tuple[Float, NDArray[np.float32]]:
        """Each path's dwell draw, -log(u), and destination draw, v (``src``: its slot)."""
        if not self.shared:
            u, v = uniforms(np.take(self.origin, src), self.step)
            return -np.log(u), v.astype(np.float32)
        if self._main is None:
            u, v = uniforms(self.origin, self.step)
            self._main = (-np.log(u), v.astype(np.float32))
        return np.take(self._main[0], src), np.take(self._main[1], src)

    def arrival(self, src: Int, factors: Sequence[int]) -> dict[int, Float]:
        """-log of each path's arrival uniform for each factor asked (0: champion, 1:
        blocker)."""
        step = ARRIVAL_STEP + self.step
        if not self.shared:
            drawn = uniforms(np.take(self.origin, src), step)
            return {f: -np.log(drawn[f]) for f in factors}
        if any(f not in self._arrival for f in factors):
            drawn = uniforms(self.origin, step)
            self._arrival = {f: -np.log(drawn[f]) for f in range(2)}
        return {f: np.take(self._arrival[f], src) for f in factors}


def _step(
    tables: Tables,
    paths: _Paths,
    draws: _Draws,
    first: _First,
    won: NDArray[np.bool_],
    days: Float,
    max_days: float,
) -> _Paths:
    """One jump of every path of a block: its dwell in the stage and next stage (and what
    arrives meanwhile); a closing path's outcome goes in ``won`` and ``days`` (by path), the
    others (closed neither by the walk nor by ``max_days``) are returned. At the first step
    (``paths.deal`` known) each visit starts ``first.spent`` days in."""
    src = paths.path if paths.slot is None else paths.slot
    target, v = draws.main(src)
    cell = paths.stage * tables.n_contexts + paths.ctx
    deal = paths.deal
    if deal is not None:
        target = target + np.take(first.done, deal)
    n_bins = tables.left.size
    b = _first_above(tables.hazard_out, cell, target)
    flat = cell * n_bins + b
    left = np.take(tables.left, b)
    remaining = left + (target - np.take(tables.hazard_at, flat)) / np.take(tables.total, flat)
    if deal is not None:
        remaining = remaining - np.take(first.spent, deal)
    if paths.credit is not None and paths.credit.any():
        at_start = None if deal is None else np.take(first.spent, deal)
        _use_credit(tables, paths.stage, remaining, b, paths.credit, at_start)
        flat = cell * n_bins + b  # the bin of a shortened visit
    dest = _destination(tables.dest_below, flat, v)
    clock = paths.clock + remaining
    closed = np.take(_CLOSED, dest)
    # rows picked by index, found once (np.compress finds a mask's rows anew at each call)
    ended = np.flatnonzero(closed)
    won[np.take(paths.path, ended)] = np.take(dest, ended) == WON
    days[np.take(paths.path, ended)] = np.take(clock, ended)
    keep = np.flatnonzero(~closed & (clock <= max_days))
    kept = paths.kept(keep, dest, clock)
    if kept.scale is not None and len(kept):  # what arrives only matters to the paths going on
        start = None
        if deal is not None and first.arrived is not None:
            d = np.take(deal, keep)
            start = (np.take(first.spent, d), np.take(first.arrived, d, axis=1))
        src = kept.path if kept.slot is None else kept.slot
        visit = (np.take(paths.stage, keep), np.take(b, keep), np.take(remaining, keep))
        _arrive(tables, draws, src, *visit, kept.ctx, kept.scale, start)
    return kept


def _first_above(columns: Float, index: Int, x: Float) -> NDArray[np.intp]:
    """For each path, the first k with ``columns[k, index]`` above ``x`` (each row
    ``columns[:, i]`` rising, see ``_rising``, with an implied last value above every finite
    number): the count of the values at or below ``x``."""
    out = np.zeros(index.size, dtype=np.intp)
    for column in columns:
        out += np.take(column, index) <= x
    return out


def _destination(below: NDArray[np.float32], index: Int, v: NDArray[np.float32]) -> Int:
    """For each path, the first destination whose cumulative probability in row ``index``
    reaches ``v``: the count of those below it (``below``: rising rows, the last, 1.0, left
    out, padded to whole 8-byte words), one byte a flag, eight flags counted at once."""
    flags = np.less(np.take(below, index, axis=0), v[:, None])
    words = np.bitwise_count(flags.view(np.uint64))
    return (words[:, 0] if words.shape[1] == 1 else words.sum(axis=1)).astype(np.intp)


def _use_credit(
    tables: Tables,
    stage: Int,
    remaining: Float,
    b: NDArray[np.intp],
    credit: Float,
    spent: Float | None,
) -> None:
    """accelerate_demo: take the paths' demo credit off the time left in a stage up to the
    demo (``remaining`` shrinks, ``b`` becomes the bin the shorter visit ends in; in place).
    ``spent``: each path's days already in the stage at the first step (None after it).
    Only paths with credit (or an exit a rounding before the visit's start) can change."""
    rows = np.flatnonzero((credit != 0) | (remaining < 0))
    left, c = np.take(remaining, rows), np.take(credit, rows)
    cut = np.where(_DEMO_ELIGIBLE[np.take(stage, rows)], np.minimum(c, left), 0.0)
    left, c = left - cut, c - cut
    d_eff = left if spent is None else np.take(spent, rows) + left
    moved = np.clip(np.searchsorted(tables.left, d_eff, side="right") - 1, 0, None)
    remaining[rows], credit[rows] = left, c
    b[rows] = np.where(cut > 0, moved, np.take(b, rows))


def _calibrate(coef: Float, u: Float, by_run: Chunk) -> None:
    """Apply the calibration map to each deal's runs (in place): with p its share of won runs
    and q = map(p), a deal whose q is below p keeps each won run with probability q / p (the
    others count as lost then); one whose q is above p turns each lost run into a won one with
    probability (q - p) / (share of lost runs). The uniform ``u`` of each (run, deal) is
    drawn from the deal's own stream, so a baseline and a scenario of the deal are thinned
    alike."""
    won, days = by_run.won, by_run.days
    p = won.mean(axis=0)
    z = coef[:, 0] + coef[:, 1] * logit(p)
    q = np.where((p <= 0) | (p >= 1), p, 1.0 / (1.0 + np.exp(-z)))
    lost = ~won & np.isfinite(days)
    with np.errstate(divide="ignore", invalid="ignore"):
        keep = np.where(p > 0, q / p, 1.0)
        add = np.where(lost.any(axis=0), (q - p) / lost.mean(axis=0), 0.0)
    down = won & (u >= keep)
    up = lost & (u < add) & (q > p)
    won[down] = False
    won[up] = True


def _arrive(
    tables: Tables,
    draws: _Draws,
    src: Int,
    stage: Int,
    b: NDArray[np.intp],
    remaining: Float,
    ctx: Int,
    scale: Float,
    start: tuple[Float, Float] | None,
) -> None:
    """Draw, for the paths at risk, whether each factor arrives during the visit of ``stage``
    just walked (from the days already spent at the first step, ``start``, or 0, to the
    visit's end, ``remaining`` days on, in bin ``b``); where it does, switch it on in ``ctx``
    for the next visit and end the path's risk of it (``scale``: (2, paths); both in place).
    ``start``: each path's days already spent and hazard of each factor done by then
    ((2, paths)). A path not at risk of a factor (scale 0) never draws it: 0 x hazard is
    never above -log(w) > 0."""
    assert tables.arrive is not None
    risky = [f for f in range(2) if scale[f].any()]
    if not risky:
        return
    w = draws.arrival(src, risky)
    at = np.take(tables.arrive, stage * tables.left.size + b, axis=0)  # (paths, 4)
    offset = np.minimum(remaining, 1e6)  # an endless visit: long, finite
    if start is not None:
        offset = offset + start[0]
    into = offset - np.take(tables.left, b)
    for f in risky:
        hazard = at[:, 2 * f] + at[:, 2 * f + 1] * into
        if start is not None:
            hazard -= start[1][f]
        hit = scale[f] * hazard > w[f]
        if hit.any():
            rows = np.flatnonzero(hit)
            ctx[rows] += tables.strides[f]
            scale[f, rows] = 0.0


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
