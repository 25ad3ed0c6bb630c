"""The ground-truth sales process the sample world is drawn from (docs/sample-world.md).

A semi-Markov process over the canonical stages. On entering a stage the deal's ``Context`` is
evaluated; the deal then dwells for a gamma-distributed number of days whose scale depends on
the context; at the end of the dwell the next stage is drawn from a multinomial logit over the
moves {advance, skip, regress, stall, lose} (from ``stalled``: {revive, lose}).

The logit of *advance* (or *revive*) is the stage's base logit plus the context score

    + champion_effect * has_champion
    - blocker_effect * unresolved_blocker
    + icp_effect * icp_match
    - size_effect * log(size_ratio)
    + engagement_effect * engaged_recently
    - dwell_decay * log1p(days_in_stage / stage mean dwell)

and the logit of *lose* is its base logit minus the same score (mirrored effects). Skip,
regress and stall keep their base logits. Everything here is pure: the sampler and the process
miner's checks both call ``next_stage_probabilities`` and ``dwell_distribution``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pie.domain.stages import OPEN_PIPELINE, STAGE_ORDER, Stage

#: size_ratio is clipped to this range before it enters any formula.
SIZE_RATIO_RANGE = (0.05, 20.0)


class Move(StrEnum):
    ADVANCE = "advance"  # to the next stage; from negotiation, to closed_won
    SKIP = "skip"  # one stage forward past the next
    REGRESS = "regress"  # back one stage
    STALL = "stall"
    LOSE = "lose"
    REVIVE = "revive"  # from stalled, back to the stage the deal stalled from


@dataclass(frozen=True, slots=True, kw_only=True)
class StageParams:
    """One stage's parameters. Base logits of moves that are impossible are ``None``."""

    stage: Stage
    mean_dwell_days: float
    dwell_shape: float
    advance: float  # from stalled: the revive logit
    lose: float
    skip: float | None
    regress: float | None
    stall: float | None
    champion_rate: float  # per day in the stage: a champion is found (if the deal has none)
    blocker_rate: float  # per day in the stage: a blocker appears (if the deal never had one)
    activity_rate: float  # buyer-facing activities per day, for an average deal


def _default_stages() -> tuple[StageParams, ...]:
    s = StageParams
    return (
        s(stage=Stage.LEAD, mean_dwell_days=7.0, dwell_shape=1.5, advance=1.1, lose=0.0,
          skip=-1.3, regress=None, stall=-1.0, champion_rate=0.0071, blocker_rate=0.0029,
          activity_rate=0.35),
        s(stage=Stage.QUALIFICATION, mean_dwell_days=10.0, dwell_shape=2.0, advance=1.0,
          lose=0.0, skip=-1.6, regress=-2.2, stall=-1.2, champion_rate=0.0150,
          blocker_rate=0.0040, activity_rate=0.30),
        s(stage=Stage.DISCOVERY, mean_dwell_days=14.0, dwell_shape=2.0, advance=1.2, lose=0.0,
          skip=-1.4, regress=-1.8, stall=-1.1, champion_rate=0.0179, blocker_rate=0.0057,
          activity_rate=0.25),
        s(stage=Stage.DEMO, mean_dwell_days=12.0, dwell_shape=2.5, advance=1.2, lose=0.0,
          skip=-1.8, regress=-1.5, stall=-1.1, champion_rate=0.0167, blocker_rate=0.0083,
          activity_rate=0.25),
        s(stage=Stage.PROPOSAL, mean_dwell_days=16.0, dwell_shape=2.0, advance=1.3, lose=0.0,
          skip=-2.5, regress=-1.5, stall=-1.0, champion_rate=0.0063, blocker_rate=0.0075,
          activity_rate=0.22),
        s(stage=Stage.NEGOTIATION, mean_dwell_days=18.0, dwell_shape=2.5, advance=1.2,
          lose=0.0, skip=None, regress=-1.6, stall=-1.3, champion_rate=0.0028,
          blocker_rate=0.0044, activity_rate=0.25),
        s(stage=Stage.STALLED, mean_dwell_days=40.0, dwell_shape=1.5, advance=0.0, lose=0.0,
          skip=None, regress=None, stall=None, champion_rate=0.0005, blocker_rate=0.0,
          activity_rate=0.03),
    )  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class GroundTruth:
    """Every parameter of the sample world's process. Logit effects are in log-odds."""

    as_of: datetime = datetime(2026, 10, 1, tzinfo=UTC)
    history_days: float = 730.0  # deals are created over this many days before as_of
    arrival_growth: float = 0.3  # the arrival rate at as_of is (1 + growth) x the first day's
    icp_industries: tuple[str, ...] = ("Software", "Financial Services", "Healthcare")
    stages: tuple[StageParams, ...] = field(default_factory=_default_stages)
    champion_effect: float = 0.6
    blocker_effect: float = 0.7
    icp_effect: float = 0.4
    size_effect: float = 0.25  # per unit of log(size_ratio)
    engagement_effect: float = 0.5
    dwell_decay: float = 0.9  # per unit of log1p(days / stage mean dwell)
    engaged_dwell_factor: float = 0.7  # mean dwell x this when engaged recently
    size_dwell_exponent: float = 0.15  # mean dwell x size_ratio ** this
    engagement_window_days: float = 14.0
    engagement_min_activities: int = 2  # buyer-facing activities in the window => engaged
    reference_median_value: float = 24_000.0  # the "historical median" of size_ratio
    value_sigma: float = 0.9  # log-normal spread of deal values
    p_start_in_qualification: float = 0.2  # else deals are created in lead
    p_champion_at_start: float = 0.08
    p_blocker_resolved: float = 0.30  # per visit while a blocker is unresolved
    p_blocker_resolved_with_champion: float = 0.50
    p_value_change: float = 0.3  # on entering discovery, proposal or negotiation
    p_competitor: float = 0.35
    deals_per_account: float = 2.5
    max_visits: int = 40  # a deal still open after this many visits is lost

    def params(self, stage: Stage) -> StageParams:
        for p in self.stages:
            if p.stage is stage:
                return p
        raise KeyError(stage)


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    """What the process knows about a deal when it enters a stage."""

    has_champion: bool
    unresolved_blocker: bool
    icp_match: bool
    size_ratio: float  # deal value / reference median value
    engaged_recently: bool


def clip_size_ratio(ratio: float) -> float:
    lo, hi = SIZE_RATIO_RANGE
    return min(max(ratio, lo), hi)


def context_score(gt: GroundTruth, ctx: Context) -> float:
    """The context part of the advance logit (without the dwell decay)."""
    return (
        gt.champion_effect * ctx.has_champion
        - gt.blocker_effect * ctx.unresolved_blocker
        + gt.icp_effect * ctx.icp_match
        - gt.size_effect * math.log(clip_size_ratio(ctx.size_ratio))
        + gt.engagement_effect * ctx.engaged_recently
    )


def dwell_distribution(gt: GroundTruth, stage: Stage, ctx: Context) -> tuple[float, float]:
    """(shape, scale) of the gamma distribution of days in ``stage`` for ``ctx``."""
    p = gt.params(stage)
    mean = p.mean_dwell_days * clip_size_ratio(ctx.size_ratio) ** gt.size_dwell_exponent
    if ctx.engaged_recently:
        mean *= gt.engaged_dwell_factor
    return p.dwell_shape, mean / p.dwell_shape


def move_target(stage: Stage, move: Move, stalled_from: Stage | None = None) -> Stage:
    """The stage a move leads to from ``stage``."""
    if move is Move.LOSE:
        return Stage.CLOSED_LOST
    if move is Move.STALL:
        return Stage.STALLED
    if move is Move.REVIVE:
        if stalled_from is None:
            raise ValueError("reviving needs the stage the deal stalled from")
        return stalled_from
    step = {Move.ADVANCE: 1, Move.SKIP: 2, Move.REGRESS: -1}[move]
    return STAGE_ORDER[stage.rank + step]


def move_logits(
    gt: GroundTruth, stage: Stage, ctx: Context, days_in_stage: float
) -> dict[Move, float]:
    """The logit of every possible move out of ``stage`` after ``days_in_stage`` days."""
    p = gt.params(stage)
    score = context_score(gt, ctx) - gt.dwell_decay * math.log1p(
        max(days_in_stage, 0.0) / p.mean_dwell_days
    )
    if stage is Stage.STALLED:
        return {Move.REVIVE: p.advance + score, Move.LOSE: p.lose - score}
    logits = {Move.ADVANCE: p.advance + score, Move.LOSE: p.lose - score}
    for move, base in ((Move.SKIP, p.skip), (Move.REGRESS, p.regress), (Move.STALL, p.stall)):
        if base is not None:
            logits[move] = base
    return logits


def move_probabilities(
    gt: GroundTruth, stage: Stage, ctx: Context, days_in_stage: float
) -> dict[Move, float]:
    logits = move_logits(gt, stage, ctx, days_in_stage)
    top = max(logits.values())
    weights = {m: math.exp(v - top) for m, v in logits.items()}
    total = sum(weights.values())
    return {m: w / total for m, w in weights.items()}


def next_stage_probabilities(
    gt: GroundTruth,
    stage: Stage,
    ctx: Context,
    days_in_stage: float,
    *,
    stalled_from: Stage | None = None,
) -> dict[Stage, float]:
    """The exact probability of each next stage after ``days_in_stage`` days in ``stage``.

    ``stage`` is an open pipeline stage or ``stalled``; for ``stalled``, ``stalled_from`` names
    the stage a revived deal returns to. The probabilities sum to 1.
    """
    if stage not in OPEN_PIPELINE and stage is not Stage.STALLED:
        raise ValueError(f"{stage} is closed: no next stage")
    out: dict[Stage, float] = {}
    for move, prob in move_probabilities(gt, stage, ctx, days_in_stage).items():
        target = move_target(stage, move, stalled_from)
        out[target] = out.get(target, 0.0) + prob
    return out


def to_json_dict(gt: GroundTruth) -> dict[str, Any]:
    """Every parameter, JSON-ready (stages as a list of objects, as_of as ISO 8601)."""
    out = asdict(gt)
    out["as_of"] = gt.as_of.strftime("%Y-%m-%dT%H:%M:%SZ")
    out["icp_industries"] = list(gt.icp_industries)
    out["stages"] = [{**asdict(p), "stage": p.stage.value} for p in gt.stages]
    return out


def from_json_dict(data: dict[str, Any]) -> GroundTruth:
    """The inverse of ``to_json_dict``."""
    known = {f.name for f in fields(GroundTruth)}
    kwargs = {k: v for k, v in data.items() if k in known}
    kwargs["as_of"] = datetime.fromisoformat(data["as_of"].replace("Z", "+00:00"))
    kwargs["icp_industries"] = tuple(data["icp_industries"])
    kwargs["stages"] = tuple(
        StageParams(**{**s, "stage": Stage(s["stage"])}) for s in data["stages"]
    )
    return GroundTruth(**kwargs)
