"""A deal's forecast (seed 004's GET /api/deals/{id}/forecast): three trajectories and
recommendations ranked by their simulated impact.

- current_trajectory: the deal as it is.
- best_case: every favourable scenario that applies, together (add a champion, resolve the
  blocker, demo 7 days earlier, double the meeting frequency).
- worst_case: the champion is lost, a blocker appears and the deal goes cold (no activity).
Recommendations are the favourable scenarios one at a time, each simulated against the
baseline with common random numbers; ranked by the gain in win rate, then days saved.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from pie.domain.errors import InvalidInput
from pie.mining.model import ProcessModel

from .scenarios import Scenario, ScenarioResult, apply, compare
from .state import DealState

FAVOURABLE: tuple[tuple[str, Scenario], ...] = (
    ("Identify a champion", Scenario("add_champion")),
    ("Resolve the blocker", Scenario("remove_blocker")),
    ("Hold the demo 7 days earlier", Scenario("accelerate_demo", (("days", 7.0),))),
    ("Double the meeting frequency", Scenario("increase_touchpoints", (("factor", 2.0),))),
)


@dataclass(frozen=True, slots=True)
class Trajectory:
    name: str
    p_win: float
    days: float
    p_win_ci: tuple[float, float]
    days_ci: tuple[float, float]


@dataclass(frozen=True, slots=True)
class Recommendation:
    action: str
    scenario: str
    impact: str
    result: ScenarioResult  # the simulated delta and its interval


@dataclass(frozen=True, slots=True)
class DealForecast:
    scenarios: tuple[Trajectory, ...]
    recommendations: tuple[Recommendation, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenarios": [
                {"name": t.name, "p_win": round(t.p_win, 4), "days": round(t.days, 1),
                 "p_win_ci": list(t.p_win_ci), "days_ci": list(t.days_ci)}
                for t in self.scenarios
            ],
            "recommendations": [
                {"action": r.action, "impact": r.impact, "scenario": r.scenario,
                 "delta": r.result.delta.brief(),
                 "delta_ci": {"p_win": list(r.result.delta.p_win_ci),
                              "days": list(r.result.delta.days_ci)}}
                for r in self.recommendations
            ],
        }  # fmt: skip


def impact_text(result: ScenarioResult) -> str:
    dp, dd = result.delta.p_win, result.delta.days
    parts = [f"{dp * 100:+.0f}% win rate"]
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


def _combine(state: DealState, steps: list[tuple[str, Scenario, DealState]]) -> DealState:
    best = state
    for _, sc, _ in steps:
        best = dataclasses.replace(_apply_quiet(sc, best), deal_id=state.deal_id)
    return best


def _apply_quiet(sc: Scenario, state: DealState) -> DealState:
    ctx = state.context
    if sc.name == "add_champion":
        return state.with_context(has_champion=True)
    if sc.name == "remove_blocker":
        return state.with_context(unresolved_blocker=False)
    if sc.name == "accelerate_demo":
        return dataclasses.replace(state, demo_credit=state.demo_credit + float(sc.param("days")))
    days = ctx.days_since_activity
    factor = float(sc.param("factor"))
    return state.with_context(days_since_activity=None if days is None else days / factor)


def worst_case(state: DealState) -> DealState:
    return state.with_context(has_champion=False, unresolved_blocker=True, days_since_activity=None)


def deal_forecast(
    model: ProcessModel, state: DealState, *, runs: int, rng: np.random.Generator
) -> DealForecast:
    steps = _applicable(state, model)
    best = compare(model, state, _combine(state, steps), label="best_case", runs=runs, rng=rng)
    worst = compare(model, state, worst_case(state), label="worst_case", runs=runs, rng=rng)
    base = best.baseline
    trajectories = (
        Trajectory("current_trajectory", base.p_win, base.days, base.p_win_ci, base.days_ci),
        Trajectory("best_case", best.modified.p_win, best.modified.days,
                   best.modified.p_win_ci, best.modified.days_ci),
        Trajectory("worst_case", worst.modified.p_win, worst.modified.days,
                   worst.modified.p_win_ci, worst.modified.days_ci),
    )  # fmt: skip
    recs = []
    for action, sc, modified in steps:
        result = compare(model, state, modified, label=str(sc), runs=runs, rng=rng)
        recs.append(Recommendation(action, str(sc), impact_text(result), result))
    recs.sort(key=lambda r: (-r.result.delta.p_win, np.nan_to_num(r.result.delta.days)))
    return DealForecast(trajectories, tuple(recs))
