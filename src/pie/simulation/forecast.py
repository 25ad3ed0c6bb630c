"""A deal's forecast (seed 004's GET /api/deals/{id}/forecast): three trajectories and the
recommendations the data supports, ranked by their simulated impact.

- current_trajectory: the deal as it is.
- best_case: the most favourable feasible change: of every combination of the favourable
  changes that apply (add a champion, resolve the blocker, demo 7 days earlier, double the
  meeting frequency) and no change at all, the one with the highest simulated P(win).
- worst_case: the least favourable feasible change: of every combination of the unfavourable
  ones (the champion is lost, or for a deal without one, no champion is found from now on
  while context arrives along the paths; a blocker appears; the deal goes cold) and no change,
  the one with the lowest simulated P(win).

Every candidate is simulated with the deal's own random stream (common random numbers), and
"no change" is among them, so best_case >= current_trajectory >= worst_case always holds.
With more than ``2 * SCREEN_RUNS`` runs, the candidates are first screened on their first
``SCREEN_RUNS`` runs (the first runs of a full simulation, before any calibration map); only the
finalists are simulated in full: no change, each single favourable change (the
recommendations) and the ``FINALISTS`` leading candidates at each end. The best and worst
cases are chosen among them on their full runs, so every figure shown is a full simulation's.
With common random numbers the screening ranks candidates far more precisely than their own
intervals suggest: where it picks another candidate than simulating all of them in full would,
the two are a near tie (docs/benchmarks.md, "Screening a deal's candidates").

A recommendation is one favourable change, simulated against the current trajectory. It is
made only when the data supports it: the factor it acts on has enough closed deals with and
without it and an effect whose interval excludes none (``pie.mining.evidence``), and the
simulated gain's own interval is above zero. Otherwise the forecast says why in ``notes``.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pie.domain.errors import InvalidInput
from pie.domain.stages import Stage
from pie.mining.events import STAGE_INDEX
from pie.mining.evidence import Evidence
from pie.mining.model import ProcessModel

from .montecarlo import Chunk, Starts, Tables, calibrated, context_arrives, new_key, walk
from .scenarios import Arm, Scenario, ScenarioResult, apply, arm, paired_delta
from .state import DealState
from .stats import Z95, confidence_level

FAVOURABLE: tuple[tuple[str, Scenario], ...] = (
    ("Identify a champion", Scenario("add_champion")),
    ("Resolve the blocker", Scenario("remove_blocker")),
    ("Hold the demo 7 days earlier", Scenario("accelerate_demo", (("days", 7.0),))),
    ("Double the meeting frequency", Scenario("increase_touchpoints", (("factor", 2.0),))),
)
#: The context factor each favourable scenario acts on (None: acts on time, not context).
_CHAMP = "has_champion"
FACTOR_OF: dict[str, str | None] = {
    "add_champion": "has_champion",
    "remove_blocker": "unresolved_blocker",
    "accelerate_demo": None,
    "increase_touchpoints": "engaged_recently",
}


@dataclass(frozen=True, slots=True)
class Trajectory:
    name: str
    p_win: float
    days: float
    p_win_ci: tuple[float, float]
    days_ci: tuple[float, float]
    changes: tuple[str, ...] = ()  # the scenario's changes to the deal (none: as it is)


@dataclass(frozen=True, slots=True)
class Recommendation:
    action: str
    scenario: str
    impact: str
    result: ScenarioResult  # the simulated delta and its interval
    evidence: Evidence | None = None  # what the data says about the factor acted on
    evidence_count: int = 0  # closed deals (or stage visits, for timing) behind it


@dataclass(frozen=True, slots=True)
class DealForecast:
    scenarios: tuple[Trajectory, ...]
    recommendations: tuple[Recommendation, ...]
    notes: tuple[str, ...] = ()  # why a change was not recommended

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenarios": [
                {"name": t.name, "p_win": round(t.p_win, 4), "days": round(t.days, 1),
                 "p_win_ci": list(t.p_win_ci), "days_ci": list(t.days_ci),
                 "changes": list(t.changes)}
                for t in self.scenarios
            ],
            "recommendations": [
                {"action": r.action, "impact": r.impact, "scenario": r.scenario,
                 "delta": r.result.delta.brief(),
                 "delta_ci": {"p_win": list(r.result.delta.p_win_ci),
                              "days": list(r.result.delta.days_ci)},
                 "evidence_count": r.evidence_count,
                 "evidence": r.evidence.to_dict() if r.evidence else None}
                for r in self.recommendations
            ],
            "notes": list(self.notes),
        }  # fmt: skip


def impact_text(result: ScenarioResult) -> str:
    dp, dd = result.delta.p_win, result.delta.days
    lo, hi = result.delta.p_win_ci
    points = f"{dp * 100:+.0f} point{'' if round(abs(dp * 100)) == 1 else 's'}"
    parts = [f"{points} win rate [{lo * 100:+.0f}, {hi * 100:+.0f}]"]  # percentage points
    if np.isfinite(dd) and abs(dd) >= 0.5:
        parts.append(f"{dd:+.0f} days cycle time")
    return ", ".join(parts)


def _applicable(state: DealState, model: ProcessModel) -> list[tuple[str, Scenario, DealState]]:
    out = []
    for action, sc in FAVOURABLE:
        try:
            out.append((action, sc, apply(sc, state, model)))
        except InvalidInput:
            continue
    return out


def _favourable(sc: Scenario, state: DealState) -> DealState:
    """One favourable change applied on top of ``state`` (already known to apply)."""
    ctx = state.context
    if sc.name == "add_champion":
        return state.with_context(has_champion=True)
    if sc.name == "remove_blocker":
        return state.with_context(unresolved_blocker=False).holding("unresolved_blocker")
    if sc.name == "accelerate_demo":
        return dataclasses.replace(state, demo_credit=state.demo_credit + float(sc.param("days")))
    days = ctx.days_since_activity
    factor = float(sc.param("factor"))
    return state.with_context(days_since_activity=None if days is None else days / factor)


Change = Callable[[DealState], DealState]


def _unfavourable(state: DealState, model: ProcessModel) -> list[tuple[str, Change]]:
    """The unfavourable changes that are feasible for the deal."""
    ctx, out = state.context, list[tuple[str, Change]]()
    if ctx.has_champion:
        out.append(
            ("the champion is lost", lambda s: s.with_context(has_champion=False).holding(_CHAMP))
        )
    elif state.arrival_scale[0] > 0 and context_arrives(model):
        out.append(("no champion is found", lambda s: s.holding(_CHAMP)))
    if not ctx.unresolved_blocker:
        out.append(("a blocker appears", lambda s: s.with_context(unresolved_blocker=True)))
    if ctx.days_since_activity is not None:
        out.append(("the deal goes cold", lambda s: s.with_context(days_since_activity=None)))
    return out


def best_case_candidates(
    state: DealState, model: ProcessModel
) -> list[tuple[tuple[str, ...], DealState]]:
    steps = _applicable(state, model)
    out: list[tuple[tuple[str, ...], DealState]] = []
    for k in range(len(steps) + 1):
        for combo in itertools.combinations(steps, k):
            s = state
            for _, sc, _ in combo:
                s = _favourable(sc, s)
            out.append((tuple(str(sc) for _, sc, _ in combo), s))
    return out


def worst_case_candidates(
    state: DealState, model: ProcessModel
) -> list[tuple[tuple[str, ...], DealState]]:
    steps = _unfavourable(state, model)
    out: list[tuple[tuple[str, ...], DealState]] = []
    for k in range(len(steps) + 1):
        for combo in itertools.combinations(steps, k):
            s = state
            for _, change in combo:
                s = change(s)
            out.append((tuple(name for name, _ in combo), s))
    return out


def _trajectory(name: str, a: Arm, changes: tuple[str, ...]) -> Trajectory:
    return Trajectory(name, a.p_win, a.days, a.p_win_ci, a.days_ci, changes)


def _rank(item: tuple[tuple[str, ...], Chunk], *, best: bool) -> tuple[float, float, int]:
    """Highest (best) or lowest P(win) first; ties go to the faster (best) or slower close,
    then to fewer changes."""
    changes, c = item
    p = float(c.won.mean())
    days = float(np.nanmean(c.days)) if np.isfinite(c.days).any() else np.inf
    return (-p, days, len(changes)) if best else (p, -days, len(changes))


def _extreme(
    sims: Sequence[tuple[tuple[str, ...], Chunk]], *, best: bool
) -> tuple[tuple[str, ...], Chunk]:
    """The candidate with the highest (best) or lowest P(win) (see ``_rank``; the days are
    summed only where P(win) ties)."""
    p = [float(c.won.mean()) for _, c in sims]
    top = max(p) if best else min(p)
    tied = [item for item, q in zip(sims, p, strict=True) if q == top]
    return tied[0] if len(tied) == 1 else min(tied, key=lambda item: _rank(item, best=best))


def _walk_each(
    model: ProcessModel,
    states: Sequence[DealState],
    *,
    runs: int,
    key: int,
    first_run: int = 0,
    calibrate: bool = True,
) -> list[Chunk]:
    """Each candidate state's runs (``first_run`` on), as if it were walked alone: all in one
    walk (a path's numbers depend only on its deal's stream, run and step, never on the
    other paths walked with it), then each candidate's column copied out contiguous, so every
    sum over it is the one a walk of that candidate alone gives. Candidates that start the
    walk alike (the same stage, days, context as the model sees it, credit, stream and arrival
    scales: e.g. a change to a factor the model ignores) are walked once: their runs are
    the same numbers."""
    starts = Starts.of(model, states)
    rows = zip(
        starts.stage.tolist(),
        starts.spent.tolist(),
        starts.context.tolist(),
        starts.credit.tolist(),
        starts.stream.tolist(),
        map(tuple, starts.scale.tolist()),
        strict=True,
    )
    column: dict[tuple[object, ...], int] = {}
    which = [column.setdefault(row, len(column)) for row in rows]
    first = np.unique(which, return_index=True)[1]
    both = walk(
        Tables.of(model),
        starts.pick(first),
        runs=runs,
        key=key,
        first_run=first_run,
        calibrate=calibrate,
    )
    return [_column(both, i) for i in which]


def _column(chunk: Chunk, i: int) -> Chunk:
    return Chunk(
        0,
        np.ascontiguousarray(chunk.won[:, i : i + 1]),
        np.ascontiguousarray(chunk.days[:, i : i + 1]),
    )


#: runs each candidate is screened on before the finalists are simulated in full
SCREEN_RUNS = 1_000
#: candidates at each end (best, worst) that go on from the screening
FINALISTS = 2

Candidate = tuple[tuple[str, ...], DealState]


def _finalists(
    best_cases: Sequence[Candidate], worst_cases: Sequence[Candidate], screened: Sequence[Chunk]
) -> list[int]:
    """The candidates (indexes into ``best_cases + worst_cases``) simulated in full after the
    screening: no change, every single favourable change (a recommendation each) and the
    ``FINALISTS`` leaders at each end."""
    n_best = len(best_cases)
    best = [(i, (best_cases[i][0], screened[i])) for i in range(n_best)]
    worst = [(0, ((), screened[0]))] + [
        (n_best + i, (changes, screened[n_best + i])) for i, (changes, _) in enumerate(worst_cases)
    ]
    keep = {0} | {i for i, (changes, _) in enumerate(best_cases) if len(changes) == 1}
    keep |= {i for i, _ in sorted(best, key=lambda c: _rank(c[1], best=True))[:FINALISTS]}
    keep |= {i for i, _ in sorted(worst, key=lambda c: _rank(c[1], best=False))[:FINALISTS]}
    return sorted(keep)


def _simulated(
    model: ProcessModel,
    best_cases: Sequence[Candidate],
    worst_cases: Sequence[Candidate],
    *,
    runs: int,
    key: int,
) -> dict[int, Chunk]:
    """Each candidate simulated in full (by its index into ``best_cases + worst_cases``): all
    of them when ``runs`` is not well above ``SCREEN_RUNS``; else the finalists of a screening
    on every candidate's first ``SCREEN_RUNS`` runs, their other runs walked on from there
    (the same numbers as one walk of all their runs)."""
    states = [s for _, s in best_cases] + [s for _, s in worst_cases]
    if runs <= 2 * SCREEN_RUNS:
        return dict(enumerate(_walk_each(model, states, runs=runs, key=key)))
    screened = _walk_each(model, states, runs=SCREEN_RUNS, key=key, calibrate=False)
    chosen = _finalists(best_cases, worst_cases, screened)
    finalists = [states[i] for i in chosen]
    rest = _walk_each(
        model, finalists, runs=runs - SCREEN_RUNS, key=key, first_run=SCREEN_RUNS, calibrate=False
    )
    joined = Chunk(
        0,
        np.concatenate(
            [np.hstack([screened[i].won for i in chosen]), np.hstack([r.won for r in rest])]
        ),
        np.concatenate(
            [np.hstack([screened[i].days for i in chosen]), np.hstack([r.days for r in rest])]
        ),
    )
    calibrated(Tables.of(model), Starts.of(model, finalists), joined, key=key)
    return {i: _column(joined, k) for k, i in enumerate(chosen)}


def deal_forecast(
    model: ProcessModel, state: DealState, *, runs: int, rng: np.random.Generator
) -> DealForecast:
    best_cases = best_case_candidates(state, model)
    worst_cases = worst_case_candidates(state, model)[1:]  # the first: no change, as best's
    sims = _simulated(model, best_cases, worst_cases, runs=runs, key=new_key(rng))
    n_best = len(best_cases)
    best_sims = [(best_cases[i][0], c) for i, c in sims.items() if i < n_best]
    base = sims[0]  # no change
    worst_sims = [((), base)] + [
        (worst_cases[i - n_best][0], c) for i, c in sims.items() if i >= n_best
    ]
    best_changes, best = _extreme(best_sims, best=True)
    worst_changes, worst = _extreme(worst_sims, best=False)
    arms: dict[int, Arm] = {}  # each candidate's summary, made once

    def arm_of(c: Chunk) -> Arm:
        if id(c) not in arms:
            arms[id(c)] = arm(c.won[:, 0], c.days[:, 0])
        return arms[id(c)]

    trajectories = (
        _trajectory("current_trajectory", arm_of(base), ()),
        _trajectory("best_case", arm_of(best), best_changes),
        _trajectory("worst_case", arm_of(worst), worst_changes),
    )
    single = {changes[0]: c for changes, c in best_sims if len(changes) == 1}
    recs, notes = [], []
    for action, sc, _ in _applicable(state, model):
        result = ScenarioResult(
            scenario=str(sc),
            runs=runs,
            baseline=arm_of(base),
            modified=arm_of(single[str(sc)]),
            delta=paired_delta(base, single[str(sc)]),
            confidence=confidence_level(Z95),
        )
        rec, note = _recommendation(model, state, action, sc, result)
        if rec is not None:
            recs.append(rec)
        if note:
            notes.append(note)
    recs.sort(key=lambda r: (-r.result.delta.p_win, np.nan_to_num(r.result.delta.days)))
    return DealForecast(trajectories, tuple(recs), tuple(notes))


def _recommendation(
    model: ProcessModel, state: DealState, action: str, sc: Scenario, result: ScenarioResult
) -> tuple[Recommendation | None, str]:
    """The recommendation when the data supports it, else None and the reason."""
    factor = FACTOR_OF[sc.name]
    found = model.evidence.get(factor) if factor else None
    if factor is not None:
        if found is None or not found.supported:
            why = found.message() if found else f"no evidence on {factor}"
            return None, f"{action}: not recommended, {why}"
        count = found.deals
    else:
        count = _timing_evidence(model, state.stage)
        if count < model.config.min_evidence_deals:
            return None, (
                f"{action}: not recommended, only {count} finished stage visits up to the demo "
                f"(needs {model.config.min_evidence_deals})"
            )
    gain = result.delta.p_win_ci[0] > 0 or (result.delta.p_win >= 0 and result.delta.days_ci[1] < 0)
    if not gain:
        return None, f"{action}: no simulated gain for this deal ({impact_text(result)})"
    rec = Recommendation(action, str(sc), impact_text(result), result, found, count)
    return rec, ""


def _timing_evidence(model: ProcessModel, stage: Stage) -> int:
    """Finished visits of the stages ``accelerate_demo`` shortens, from the deal's stage on."""
    wanted = [
        i
        for s, i in STAGE_INDEX.items()
        if s.is_open and s is not Stage.STALLED and stage.rank <= s.rank <= Stage.DEMO.rank
    ]
    events = model.counts.events
    return int(events[wanted].sum()) if wanted else 0
