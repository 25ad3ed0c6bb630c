"""What-if scenarios (seed 004) and their simulated effect against the baseline.

A scenario changes a deal's state before it is simulated:

- ``add_champion``: a champion is known from now on (not for a deal that has one).
- ``remove_blocker``: the blocker or open objection is resolved (only if there is one).
- ``accelerate_demo[:days=7]``: the demo happens N days earlier: the time still to spend in the
  stages up to and including demo is cut by N days, and each visit's next stage is drawn with the
  odds of its shorter dwell (only before or in demo).
- ``increase_touchpoints[:factor=2]``: k x meeting frequency: the days since the last activity
  shrink by k, which moves the engagement bucket and, through the model, dwell and odds.
- ``custom:FACTOR=VALUE,...``: any context factor (has_champion, unresolved_blocker, icp_match,
  size_ratio, days_since_activity, engaged_recently); a champion or blocker set this way is
  held from now on (it neither arrives nor goes). ``champion_rate=k`` and ``blocker_rate=k``
  multiply the rate at which a champion or a first blocker arrives along the paths (0: never).

Context arrives along the paths (``montecarlo``): ``add_champion`` and ``remove_blocker`` set
the factor from now on (a resolved blocker is not followed by a first one: the deal has had
it).

Baseline and scenario use common random numbers (the same uniforms for the same run and step),
so the paired delta is not drowned in noise.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pie.domain.errors import InvalidInput
from pie.domain.stages import Stage
from pie.mining.model import ProcessModel

from .montecarlo import Chunk, Starts, Tables, new_key, walk
from .state import DealState
from .stats import Z95, confidence_level, mean_ci, wilson

Param = float | bool
NAMES = ("add_champion", "remove_blocker", "accelerate_demo", "increase_touchpoints", "custom")
DEFAULTS: dict[str, dict[str, Param]] = {
    "accelerate_demo": {"days": 7.0},
    "increase_touchpoints": {"factor": 2.0},
}
CUSTOM_FACTORS = (
    "has_champion",
    "unresolved_blocker",
    "icp_match",
    "size_ratio",
    "days_since_activity",
    "engaged_recently",
)
RATES = ("champion_rate", "blocker_rate")  # custom: multipliers of the arrival rates
_BOOLEAN = {"has_champion", "unresolved_blocker", "icp_match", "engaged_recently"}


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    params: tuple[tuple[str, Param], ...] = ()

    def param(self, key: str) -> Param:
        return dict(self.params)[key]

    def __str__(self) -> str:
        if not self.params:
            return self.name
        return self.name + ":" + ",".join(f"{k}={_fmt(v)}" for k, v in self.params)


def _fmt(v: Param) -> str:
    return str(v).lower() if isinstance(v, bool) else f"{v:g}"


#: The largest scenario parameter taken (days, factors, ratios); the API's bounds are tighter.
MAX_PARAM = 1e6


def _bad(problem: str, field: str = "scenario") -> InvalidInput:
    return InvalidInput(problem, source="simulation", field=field)


def _value(key: str, text: str) -> Param:
    low = text.strip().lower()
    if key in _BOOLEAN:
        if low in ("true", "yes", "1"):
            return True
        if low in ("false", "no", "0"):
            return False
        raise _bad(f"{key} must be true or false, not {text!r}", key)
    try:
        number = float(low)
    except ValueError:
        raise _bad(f"{key} must be a number, not {text!r}", key) from None
    if not math.isfinite(number) or abs(number) > MAX_PARAM:
        raise _bad(f"{key} must be a finite number up to {MAX_PARAM:g}, not {text!r}", key)
    return number


def parse_scenario(text: str) -> Scenario:
    """``NAME[:KEY=VALUE,...]``, e.g. ``accelerate_demo:days=7``, ``custom:has_champion=true``."""
    name, _, rest = text.strip().partition(":")
    name = name.strip().lower()
    if name not in NAMES:
        raise _bad(f"unknown scenario {name!r}; use one of {', '.join(NAMES)}")
    params = dict(DEFAULTS.get(name, {}))
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, val = item.partition("=")
        key = key.strip().lower()
        if not eq:
            raise _bad(f"scenario parameter {item!r} needs KEY=VALUE")
        allowed = CUSTOM_FACTORS + RATES if name == "custom" else tuple(DEFAULTS.get(name, {}))
        if key not in allowed:
            raise _bad(f"{name} takes {', '.join(allowed) or 'no parameters'}, not {key!r}", key)
        params[key] = _value(key, val)
    if name == "custom" and not params:
        raise _bad(f"custom needs at least one of {', '.join(CUSTOM_FACTORS + RATES)}")
    return Scenario(name, tuple(params.items()))


def apply(scenario: Scenario, state: DealState, model: ProcessModel) -> DealState:
    """The deal's state under the scenario; a scenario that does not apply raises InvalidInput."""
    ctx, name = state.context, scenario.name
    if name == "add_champion":
        if ctx.has_champion:
            raise _bad("add_champion: the deal already has a champion; try another scenario")
        return state.with_context(has_champion=True)
    if name == "remove_blocker":
        if not ctx.unresolved_blocker:
            raise _bad("remove_blocker: the deal has no unresolved blocker or objection")
        return state.with_context(unresolved_blocker=False).holding("unresolved_blocker")
    if name == "accelerate_demo":
        days = float(scenario.param("days"))
        if days <= 0:
            raise _bad("accelerate_demo: days must be positive", "days")
        if state.stage is Stage.STALLED or state.stage.rank > Stage.DEMO.rank:
            raise _bad(f"accelerate_demo: the deal is in {state.stage.value}, past the demo")
        return dataclasses.replace(state, demo_credit=state.demo_credit + days)
    if name == "increase_touchpoints":
        factor = float(scenario.param("factor"))
        if factor <= 1:
            raise _bad("increase_touchpoints: factor must be above 1", "factor")
        if ctx.days_since_activity is None:
            raise _bad(
                "increase_touchpoints: the deal has no activity to do more of; log its meetings "
                "or use custom:days_since_activity=N"
            )
        return state.with_context(days_since_activity=ctx.days_since_activity / factor)
    changes: dict[str, Any] = dict(scenario.params)
    state = _rescaled(state, changes)
    if "engaged_recently" in changes:
        engaged = changes.pop("engaged_recently")
        edges = model.config.recency_edges
        changes.setdefault("days_since_activity", 0.0 if engaged else edges[-1] + 1.0)
    if "size_ratio" in changes and float(changes["size_ratio"]) <= 0:
        raise _bad("custom: size_ratio must be positive", "size_ratio")
    held = [name for name in ("has_champion", "unresolved_blocker") if name in changes]
    state = state.with_context(**changes)
    for name in held:
        state = state.holding(name)
    return state


def _rescaled(state: DealState, changes: dict[str, Any]) -> DealState:
    """``state`` with the arrival rates multiplied as ``changes`` asks (popped from it)."""
    scale = list(state.arrival_scale)
    for i, key in enumerate(RATES):
        if key in changes:
            k = float(changes.pop(key))
            if not k >= 0:
                raise _bad(f"custom: {key} must be 0 or more", key)
            scale[i] *= k
    return dataclasses.replace(state, arrival_scale=(scale[0], scale[1]))


@dataclass(frozen=True, slots=True)
class Arm:
    p_win: float
    days: float
    p_win_ci: tuple[float, float]
    days_ci: tuple[float, float]

    def brief(self) -> dict[str, float]:
        return {"p_win": round(self.p_win, 4), "days": round(self.days, 1)}


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    """Seed 004's POST /api/simulate answer, plus 95% intervals (Wilson for p_win, normal for
    days; the delta's interval is over paired runs)."""

    scenario: str
    runs: int
    baseline: Arm
    modified: Arm
    delta: Arm
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "baseline": self.baseline.brief(),
            "modified": self.modified.brief(),
            "delta": self.delta.brief(),
            "confidence": self.confidence,
            "intervals": {
                name: {"p_win": list(arm.p_win_ci), "days": list(arm.days_ci)}
                for name, arm in (
                    ("baseline", self.baseline),
                    ("modified", self.modified),
                    ("delta", self.delta),
                )
            },
            "runs": self.runs,
        }


def arm(won: NDArray[np.bool_], days: NDArray[np.float64]) -> Arm:
    lo, hi = wilson(np.array([float(won.sum())]), np.array([float(won.size)]))
    mean, dlo, dhi = mean_ci(days)
    return Arm(
        float(won.mean()), float(mean), (float(lo[0]), float(hi[0])), (float(dlo), float(dhi))
    )


def paired_delta(base: Chunk, mod: Chunk) -> Arm:
    diff = mod.won[:, 0].astype(np.float64) - base.won[:, 0].astype(np.float64)
    p, plo, phi = mean_ci(diff)
    d, dlo, dhi = mean_ci(mod.days[:, 0] - base.days[:, 0])
    return Arm(float(p), float(d), (float(plo), float(phi)), (float(dlo), float(dhi)))


def run_pair(
    model: ProcessModel,
    base: DealState,
    modified: DealState,
    *,
    runs: int,
    key: int,
    common: bool = True,
) -> tuple[Chunk, Chunk]:
    """Both arms of one deal; ``common=False`` uses an independent stream for the scenario."""
    tables = Tables.of(model)
    a = walk(tables, Starts.of(model, [base]), runs=runs, key=key)
    other = key if common else (key * 6364136223846793005 + 1442695040888963407) % 2**63
    b = walk(tables, Starts.of(model, [modified]), runs=runs, key=other)
    return a, b


def simulate_scenario(
    model: ProcessModel,
    state: DealState,
    scenario: Scenario | str,
    *,
    runs: int,
    rng: np.random.Generator,
) -> ScenarioResult:
    sc = parse_scenario(scenario) if isinstance(scenario, str) else scenario
    modified = apply(sc, state, model)
    return compare(model, state, modified, label=str(sc), runs=runs, rng=rng)


def compare(
    model: ProcessModel,
    base: DealState,
    modified: DealState,
    *,
    label: str,
    runs: int,
    rng: np.random.Generator,
) -> ScenarioResult:
    a, b = run_pair(model, base, modified, runs=runs, key=new_key(rng))
    return ScenarioResult(
        scenario=label,
        runs=runs,
        baseline=arm(a.won[:, 0], a.days[:, 0]),
        modified=arm(b.won[:, 0], b.days[:, 0]),
        delta=paired_delta(a, b),
        confidence=confidence_level(Z95),
    )
