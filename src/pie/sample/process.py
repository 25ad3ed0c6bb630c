"""Runs the ground-truth process for one deal: its stage visits, contexts and touches.

Times are days relative to ``as_of`` (negative = before it). The whole life is drawn, then cut
at ``as_of``: nothing later is kept, so a deal still running then is open.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from pie.domain.stages import Stage
from pie.sample.draws import Draws
from pie.sample.ground_truth import (
    Context,
    GroundTruth,
    Move,
    dwell_distribution,
    move_probabilities,
    move_target,
)

#: Activity types of routine touches, by stage.
ROUTINE_KINDS: dict[Stage, tuple[str, ...]] = {
    Stage.LEAD: ("email", "email", "call", "follow_up"),
    Stage.QUALIFICATION: ("call", "email", "email", "meeting"),
    Stage.DISCOVERY: ("meeting", "call", "email", "email"),
    Stage.DEMO: ("demo", "meeting", "email", "email"),
    Stage.PROPOSAL: ("email", "call", "follow_up", "meeting"),
    Stage.NEGOTIATION: ("call", "email", "meeting", "email"),
    Stage.STALLED: ("follow_up", "email"),
}
#: The activity that moves a deal into a stage (the stage_history entry's trigger_activity).
TRIGGER_KIND: dict[Stage, str] = {
    Stage.QUALIFICATION: "call",
    Stage.DISCOVERY: "meeting",
    Stage.DEMO: "demo",
    Stage.PROPOSAL: "proposal",
    Stage.NEGOTIATION: "meeting",
    Stage.CLOSED_WON: "contract",
    Stage.CLOSED_LOST: "email",
    Stage.LEAD: "call",
}
_VALUE_CHANGE_STAGES = frozenset({Stage.DISCOVERY, Stage.PROPOSAL, Stage.NEGOTIATION})


@dataclass(slots=True)
class Touch:
    t: float
    kind: str  # an activity type
    stage: Stage  # the stage the deal was in
    purpose: str = "routine"  # routine, trigger, objection, resolution, champion, internal, intro


@dataclass(slots=True)
class Visit:
    stage: Stage
    enter: float
    ctx: Context
    dwell: float  # drawn days in stage; for the visit running at as_of, days so far
    move: Move | None  # None: still in this stage at as_of
    next: Stage | None
    value: float  # as of entering
    expected_close: float
    trigger: Touch | None  # the touch that moved the deal out of this stage, to ``next``


@dataclass(slots=True)
class DealPath:
    created: float
    visits: list[Visit] = field(default_factory=list)
    touches: list[Touch] = field(default_factory=list)
    champion_at: float | None = None
    blocker_at: float | None = None
    resolved_at: float | None = None

    @property
    def stage(self) -> Stage:
        last = self.visits[-1]
        return last.next if last.next is not None and last.next.is_closed else last.stage

    @property
    def closed_at(self) -> float | None:
        last = self.visits[-1]
        return last.enter + last.dwell if self.stage.is_closed else None


@dataclass(frozen=True, slots=True, kw_only=True)
class DealSeed:
    created: float
    value: float
    icp_match: bool
    responsiveness: float  # multiplies the activity rate
    champion_at_start: bool
    expected_cycle_days: float


def _engaged(gt: GroundTruth, touches: list[Touch], t: float) -> bool:
    since = t - gt.engagement_window_days
    n = 0
    for touch in reversed(touches):
        if touch.purpose != "internal" and since <= touch.t <= t:
            n += 1
    return n >= gt.engagement_min_activities


def _draw_move(draws: Draws, probs: dict[Move, float]) -> Move:
    u, acc, move = draws.uniform(), 0.0, Move.LOSE
    for move, p in probs.items():
        acc += p
        if u < acc:
            return move
    return move


def _update_terms(
    gt: GroundTruth, draws: Draws, stage: Stage, t: float, value: float, close: float
) -> tuple[float, float]:
    if stage in _VALUE_CHANGE_STAGES and draws.chance(gt.p_value_change):
        if stage is Stage.NEGOTIATION:
            value *= 0.85 + 0.13 * draws.uniform()  # discount
        else:
            value *= math.exp(0.25 * draws.normal())
        value = max(round(value, -2), 500.0)
    if close < t + 7.0:
        close = t + 14.0 + draws.gamma(2.0, 15.0)
    elif draws.chance(0.1):
        close += 30.0
    return value, close


def _arrival(draws: Draws, rate: float) -> float:
    """Days until the first event of a Poisson process with ``rate`` per day (inf if 0)."""
    u = draws.uniform()
    return -math.log1p(-u) / rate if rate > 0 else math.inf


def _visit_events(
    gt: GroundTruth, draws: Draws, seed: DealSeed, path: DealPath, stage: Stage, t: float, d: float
) -> None:
    p = gt.params(stage)
    if path.champion_at is None and (wait := _arrival(draws, p.champion_rate)) < d:
        path.champion_at = t + wait
        path.touches.append(Touch(path.champion_at, "call", stage, "champion"))
    if path.blocker_at is None:
        if (wait := _arrival(draws, p.blocker_rate)) < d:
            path.blocker_at = t + wait
            path.touches.append(Touch(path.blocker_at, "objection", stage, "objection"))
    elif path.resolved_at is None and path.blocker_at < t:
        chance = (
            gt.p_blocker_resolved_with_champion
            if path.champion_at is not None and path.champion_at < t
            else gt.p_blocker_resolved
        )
        if draws.chance(chance):
            path.resolved_at = t + d * draws.uniform()
            path.touches.append(Touch(path.resolved_at, "meeting", stage, "resolution"))
    rate = p.activity_rate * seed.responsiveness
    kinds = ROUTINE_KINDS[stage]
    for _ in range(draws.poisson(rate * d, 6)):
        path.touches.append(Touch(t + d * draws.uniform(), draws.pick(kinds), stage))
    if draws.chance(0.15):
        path.touches.append(Touch(t + d * draws.uniform(), "internal", stage, "internal"))


def simulate_deal(gt: GroundTruth, draws: Draws, seed: DealSeed) -> DealPath:
    """One deal's life from creation to close or ``as_of`` (time 0)."""
    path = DealPath(created=seed.created)
    t = seed.created
    if seed.champion_at_start:
        path.champion_at = t
    path.touches.append(Touch(t, draws.pick(("email", "call", "meeting")), Stage.LEAD, "intro"))
    stage = Stage.QUALIFICATION if draws.chance(gt.p_start_in_qualification) else Stage.LEAD
    stalled_from: Stage | None = None
    value, close = seed.value, seed.created + seed.expected_cycle_days
    for i in range(gt.max_visits):
        if stage is not Stage.STALLED:
            value, close = _update_terms(gt, draws, stage, t, value, close)
        ctx = Context(
            has_champion=path.champion_at is not None and path.champion_at <= t,
            unresolved_blocker=path.blocker_at is not None
            and path.blocker_at <= t
            and (path.resolved_at is None or path.resolved_at > t),
            icp_match=seed.icp_match,
            size_ratio=value / gt.reference_median_value,
            engaged_recently=_engaged(gt, path.touches, t),
        )
        shape, scale = dwell_distribution(gt, stage, ctx)
        d = draws.gamma(shape, scale)
        _visit_events(gt, draws, seed, path, stage, t, d)
        move = (
            Move.LOSE
            if i == gt.max_visits - 1
            else _draw_move(draws, move_probabilities(gt, stage, ctx, d))
        )
        nxt = move_target(stage, move, stalled_from)
        if t + d > 0.0:  # still in this stage at as_of
            path.visits.append(Visit(stage, t, ctx, -t, None, None, value, close, None))
            break
        trigger = None
        if move is not Move.STALL and (move is not Move.LOSE or draws.chance(0.5)):
            lead = min(0.08, d / 4.0) * (0.2 + 0.8 * draws.uniform())
            trigger = Touch(t + d - lead, TRIGGER_KIND[nxt], stage, "trigger")
            path.touches.append(trigger)
        path.visits.append(Visit(stage, t, ctx, d, move, nxt, value, close, trigger))
        t += d
        if nxt.is_closed:
            break
        if nxt is Stage.STALLED:
            stalled_from = stage
        elif stage is Stage.STALLED:
            stalled_from = None
        stage = nxt
    path.touches = sorted((x for x in path.touches if x.t <= 0.0), key=lambda x: x.t)
    if path.champion_at is not None and path.champion_at > 0.0:
        path.champion_at = None
    if path.blocker_at is not None and path.blocker_at > 0.0:
        path.blocker_at = None
    if path.resolved_at is not None and path.resolved_at > 0.0:
        path.resolved_at = None
    return path
