"""Evidence-based stage progression (seed 000 pattern 6).

Each open stage has requirements: a minimum share of BANT and of MEDDIC fields with evidence,
a minimum number of interactions and required signals. Requirements are cumulative: to be in
a stage a deal must meet its own and every earlier stage's. After a qualification update the
engine moves a deal to the furthest open stage whose requirements it meets, if that is ahead of
where it is (never backwards, never to a closed stage), and it can say what is missing for the
next stage.

Seed 000's table names four stages; PIE's pipeline is lead, qualification, discovery, demo,
proposal, negotiation. The seed's rows are attached by name (its ``evaluation`` is PIE's
``demo``, see ``pie.domain.stages.ALIASES``); ``proposal``, which the seed does not name, asks
for half of MEDDIC, four interactions and a known decision process. Because requirements are
cumulative, the seed's discovery row (weaker than its qualification row) changes nothing.

A signal is satisfied by a qualification field with evidence (``<field>_identified``, e.g.
``budget_identified``, ``pain_identified`` for MEDDIC's identify pain) or by a detected
opportunity signal of that kind (``budget_mention``, ``competitive_evaluation``, ...).

Everything here is pure.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pie.domain.errors import InvalidInput
from pie.domain.stages import OPEN_PIPELINE, Stage, parse_stage

BANT_FIELDS: tuple[str, ...] = ("budget", "authority", "need", "timeline")
MEDDIC_FIELDS: tuple[str, ...] = (
    "metrics",
    "economic_buyer",
    "decision_criteria",
    "decision_process",
    "identify_pain",
    "champion",
)
#: The signal name a qualification field with evidence satisfies.
FIELD_SIGNALS: Mapping[str, str] = {
    **{f: f"{f}_identified" for f in (*BANT_FIELDS, *MEDDIC_FIELDS)},
    "identify_pain": "pain_identified",
}
DEFAULT_STALLED_AFTER_DAYS = 30


@dataclass(frozen=True, slots=True, kw_only=True)
class StageRequirements:
    min_bant_completion: float = 0.0
    min_meddic_completion: float = 0.0
    min_interactions: int = 0
    required_signals: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("min_bant_completion", "min_meddic_completion"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InvalidInput(f"must be between 0 and 1, not {value}", field=name)
        if self.min_interactions < 0:
            raise InvalidInput("must be 0 or more", field="min_interactions")

    def to_json(self) -> dict[str, Any]:
        return {
            "min_bant_completion": self.min_bant_completion,
            "min_meddic_completion": self.min_meddic_completion,
            "min_interactions": self.min_interactions,
            "required_signals": list(self.required_signals),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> StageRequirements:
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise InvalidInput(f"unknown keys {sorted(unknown)}", field="stage_requirements")
        try:
            return cls(
                min_bant_completion=float(d.get("min_bant_completion", 0.0)),
                min_meddic_completion=float(d.get("min_meddic_completion", 0.0)),
                min_interactions=int(d.get("min_interactions", 0)),
                required_signals=tuple(str(s) for s in d.get("required_signals", ())),
            )
        except (TypeError, ValueError) as err:
            raise InvalidInput(str(err), field="stage_requirements") from None


#: Seed 000's table on PIE's stages (see the module docstring).
DEFAULT_REQUIREMENTS: Mapping[Stage, StageRequirements] = {
    Stage.QUALIFICATION: StageRequirements(
        min_bant_completion=0.25,
        min_meddic_completion=0.17,
        min_interactions=2,
        required_signals=("need_identified", "pain_identified"),
    ),
    Stage.DISCOVERY: StageRequirements(min_interactions=1, required_signals=("need_identified",)),
    Stage.DEMO: StageRequirements(
        min_bant_completion=0.50,
        min_meddic_completion=0.33,
        min_interactions=3,
        required_signals=("budget_identified", "authority_identified"),
    ),
    Stage.PROPOSAL: StageRequirements(
        min_bant_completion=0.50,
        min_meddic_completion=0.50,
        min_interactions=4,
        required_signals=("decision_process_identified",),
    ),
    Stage.NEGOTIATION: StageRequirements(
        min_bant_completion=0.75,
        min_meddic_completion=0.50,
        min_interactions=4,
        required_signals=("economic_buyer_identified", "decision_criteria_identified"),
    ),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ProgressionSettings:
    """A tenant's stage requirements (stages it does not name keep the default) and after how
    many days without activity an open deal is stalled."""

    requirements: Mapping[Stage, StageRequirements] = field(
        default_factory=lambda: dict(DEFAULT_REQUIREMENTS)
    )
    stalled_after_days: int = DEFAULT_STALLED_AFTER_DAYS

    def __post_init__(self) -> None:
        if self.stalled_after_days < 1:
            raise InvalidInput("must be 1 or more", field="stalled_after_days")
        for stage in self.requirements:
            if stage not in OPEN_PIPELINE or stage is Stage.LEAD:
                raise InvalidInput(
                    f"requirements can be set for qualification to negotiation, not {stage}",
                    field="stage_requirements",
                )

    def to_json(self) -> dict[str, Any]:
        return {
            "stage_requirements": {str(s): r.to_json() for s, r in self.requirements.items()},
            "stalled_after_days": self.stalled_after_days,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ProgressionSettings:
        """From ``{"stage_requirements": {"demo": {...}}, "stalled_after_days": 21}``; stages
        not named keep the default."""
        unknown = set(d) - {"stage_requirements", "stalled_after_days"}
        if unknown:
            raise InvalidInput(f"unknown keys {sorted(unknown)}", field="settings")
        reqs = dict(DEFAULT_REQUIREMENTS)
        raw = d.get("stage_requirements") or {}
        if not isinstance(raw, Mapping):
            raise InvalidInput("must be an object of stage -> requirements", field="stage")
        for name, body in raw.items():
            stage = parse_stage(str(name))
            if stage is None:
                raise InvalidInput(f"unknown stage {name!r}", field="stage_requirements")
            if not isinstance(body, Mapping):
                raise InvalidInput("must be an object", field=str(name))
            reqs[stage] = StageRequirements.from_json(body)
        days = d.get("stalled_after_days", DEFAULT_STALLED_AFTER_DAYS)
        if not isinstance(days, int) or isinstance(days, bool):
            raise InvalidInput("must be a whole number of days", field="stalled_after_days")
        return cls(requirements=reqs, stalled_after_days=days)


@dataclass(frozen=True, slots=True, kw_only=True)
class Evidence:
    """What a deal has: qualification fields with evidence, detected signal kinds, and how many
    interactions (conversations) it had."""

    fields: frozenset[str] = frozenset()
    signals: frozenset[str] = frozenset()
    interactions: int = 0

    @property
    def bant(self) -> float:
        return sum(f in self.fields for f in BANT_FIELDS) / len(BANT_FIELDS)

    @property
    def meddic(self) -> float:
        return sum(f in self.fields for f in MEDDIC_FIELDS) / len(MEDDIC_FIELDS)

    @property
    def satisfied(self) -> frozenset[str]:
        return frozenset(FIELD_SIGNALS[f] for f in self.fields if f in FIELD_SIGNALS) | set(
            self.signals
        )


def evidence_of(
    fields: Iterable[str], signals: Iterable[str] = (), interactions: int = 0
) -> Evidence:
    return Evidence(fields=frozenset(fields), signals=frozenset(signals), interactions=interactions)


def needed(share: float, total: int) -> int:
    """How many of ``total`` fields a share asks for: seed 000 writes 1/6 as 0.17 and 2/6 as
    0.33, so a share within 0.05 of a whole field counts as that field."""
    return max(0, math.ceil(share * total - 0.05))


def missing(req: StageRequirements, ev: Evidence) -> list[str]:
    """What ``ev`` lacks for ``req``, one readable line each (empty: met)."""
    out: list[str] = []
    for name, names, share in (
        ("BANT", BANT_FIELDS, req.min_bant_completion),
        ("MEDDIC", MEDDIC_FIELDS, req.min_meddic_completion),
    ):
        have = sum(f in ev.fields for f in names)
        need = needed(share, len(names))
        if have < need:
            lacking = ", ".join(f for f in names if f not in ev.fields)
            out.append(f"{name} {have}/{len(names)}, needs {need} (missing: {lacking})")
    if ev.interactions < req.min_interactions:
        out.append(f"{ev.interactions} interactions, needs {req.min_interactions}")
    for signal in req.required_signals:
        if signal not in ev.satisfied:
            out.append(f"signal {signal}")
    return out


def cumulative(settings: ProgressionSettings, stage: Stage) -> list[StageRequirements]:
    """The requirements a deal in ``stage`` must meet: that stage's and every earlier one's."""
    return [
        settings.requirements[s]
        for s in OPEN_PIPELINE[: stage.rank + 1]
        if s in settings.requirements
    ]


def missing_for(settings: ProgressionSettings, stage: Stage, ev: Evidence) -> list[str]:
    out: list[str] = []
    for req in cumulative(settings, stage):
        out.extend(m for m in missing(req, ev) if m not in out)
    return out


def furthest_stage(settings: ProgressionSettings, ev: Evidence) -> Stage:
    """The furthest open stage whose cumulative requirements ``ev`` meets (lead at least)."""
    reached = Stage.LEAD
    for stage in OPEN_PIPELINE[1:]:
        if missing_for(settings, stage, ev):
            break
        reached = stage
    return reached


@dataclass(frozen=True, slots=True, kw_only=True)
class Proposal:
    """What the engine would do with a deal: ``to_stage`` None means stay."""

    from_stage: Stage
    to_stage: Stage | None
    reason: str
    next_stage: Stage | None
    missing: tuple[str, ...]


def propose_stage(
    settings: ProgressionSettings,
    current: Stage,
    ev: Evidence,
    *,
    stage_owner: str | None = None,
    may_move: bool = True,
    stalled_from: Stage | None = None,
) -> Proposal:
    """Where the evidence puts a deal in ``current``. ``may_move`` False (a person or a CRM
    owns the stage) only explains. A stalled deal (``stalled_from``: the stage it stalled in)
    comes back to the furthest of that stage and what the evidence supports."""
    if current.is_closed:
        return Proposal(
            from_stage=current,
            to_stage=None,
            reason=f"the deal is {current}: PIE never moves a closed deal",
            next_stage=None,
            missing=(),
        )
    base = stalled_from if current is Stage.STALLED else current
    base = base or Stage.LEAD
    target = furthest_stage(settings, ev)
    if target.rank <= base.rank:
        target = base
    nxt = OPEN_PIPELINE[target.rank + 1] if target.rank + 1 < len(OPEN_PIPELINE) else None
    lacking = tuple(missing_for(settings, nxt, ev)) if nxt else ()
    if target is current:
        return Proposal(
            from_stage=current,
            to_stage=None,
            reason="the evidence does not support a later stage",
            next_stage=nxt,
            missing=lacking,
        )
    if not may_move:
        return Proposal(
            from_stage=current,
            to_stage=None,
            reason=(
                f"the evidence supports {target}, but the stage was set by {stage_owner}: "
                "PIE respects it"
            ),
            next_stage=nxt,
            missing=lacking,
        )
    reason = (
        f"new activity revives the deal ({current} -> {target})"
        if current is Stage.STALLED
        else f"requirements of {target} are met"
    )
    return Proposal(
        from_stage=current, to_stage=target, reason=reason, next_stage=nxt, missing=lacking
    )


def is_stalled(
    stage: Stage, last_activity: datetime | None, since: datetime, now: datetime, days: int
) -> bool:
    """An open deal (not already stalled) with no activity for ``days`` days; ``since`` is when
    the deal was created, used when it never had an activity."""
    if stage.is_closed or stage is Stage.STALLED:
        return False
    last = last_activity or since
    return now - last >= timedelta(days=days)


def completion(fields: Collection[str]) -> tuple[float, float]:
    ev = evidence_of(fields)
    return ev.bant, ev.meddic
