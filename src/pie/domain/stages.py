"""PIE's canonical stage taxonomy and the rules for moving between stages.

The open stages are ordered; a deal normally moves forward through them, may skip some,
may fall back (regression), may stall, and ends in ``closed_won`` or ``closed_lost``. A closed
deal can be re-opened. Seed vocabulary that is not canonical maps onto a canonical stage:
``prospecting`` is ``lead`` and ``evaluation`` is ``demo`` (see ``ALIASES``).
"""

from __future__ import annotations

from enum import StrEnum

from pie.domain.errors import InvalidInput


class Stage(StrEnum):
    LEAD = "lead"
    QUALIFICATION = "qualification"
    DISCOVERY = "discovery"
    DEMO = "demo"
    PROPOSAL = "proposal"
    NEGOTIATION = "negotiation"
    CLOSED_WON = "closed_won"
    CLOSED_LOST = "closed_lost"
    STALLED = "stalled"

    @property
    def is_closed(self) -> bool:
        return self in CLOSED_STAGES

    @property
    def is_open(self) -> bool:
        return not self.is_closed

    @property
    def rank(self) -> int:
        """Position in the open pipeline (0 = lead); closed stages rank after every open one;
        ``stalled`` has no rank of its own and returns -1."""
        if self is Stage.STALLED:
            return -1
        return STAGE_ORDER.index(self)


#: The pipeline in order. ``stalled`` is a side state, not a step of the pipeline.
STAGE_ORDER: tuple[Stage, ...] = (
    Stage.LEAD,
    Stage.QUALIFICATION,
    Stage.DISCOVERY,
    Stage.DEMO,
    Stage.PROPOSAL,
    Stage.NEGOTIATION,
    Stage.CLOSED_WON,
    Stage.CLOSED_LOST,
)
OPEN_PIPELINE: tuple[Stage, ...] = STAGE_ORDER[:6]
CLOSED_STAGES: frozenset[Stage] = frozenset({Stage.CLOSED_WON, Stage.CLOSED_LOST})
#: Every stage, in a fixed order used for array indices by mining and simulation.
ALL_STAGES: tuple[Stage, ...] = (*STAGE_ORDER, Stage.STALLED)

#: Seed and common vocabulary that names a canonical stage differently.
ALIASES: dict[str, Stage] = {
    "prospecting": Stage.LEAD,
    "prospect": Stage.LEAD,
    "new": Stage.LEAD,
    "evaluation": Stage.DEMO,
    "closed won": Stage.CLOSED_WON,
    "closed lost": Stage.CLOSED_LOST,
    "won": Stage.CLOSED_WON,
    "lost": Stage.CLOSED_LOST,
}

#: Win probability a stage implies when the source gives none (canonical defaults).
DEFAULT_PROBABILITY: dict[Stage, float] = {
    Stage.LEAD: 0.05,
    Stage.QUALIFICATION: 0.10,
    Stage.DISCOVERY: 0.20,
    Stage.DEMO: 0.35,
    Stage.PROPOSAL: 0.55,
    Stage.NEGOTIATION: 0.75,
    Stage.CLOSED_WON: 1.0,
    Stage.CLOSED_LOST: 0.0,
    Stage.STALLED: 0.05,
}


def parse_stage(name: str) -> Stage | None:
    """The canonical stage a name denotes (case, spaces and dashes ignored), or None."""
    key = name.strip().lower()
    if key in ALIASES:
        return ALIASES[key]
    key = key.replace("-", "_").replace(" ", "_")
    try:
        return Stage(key)
    except ValueError:
        return ALIASES.get(key.replace("_", " "))


class TransitionKind(StrEnum):
    ENTRY = "entry"  # the deal is created in a stage
    ADVANCE = "advance"  # to the next open stage
    SKIP = "skip"  # forward past one or more open stages
    REGRESSION = "regression"  # back to an earlier open stage
    STALL = "stall"  # an open deal goes quiet
    REVIVE = "revive"  # a stalled deal comes back to an open stage
    WIN = "win"
    LOSS = "loss"
    REOPEN = "reopen"  # a closed deal back to an open stage
    CORRECTION = "correction"  # closed_won <-> closed_lost, a correction of the record


class InvalidTransition(InvalidInput):
    """A stage move the taxonomy does not allow: bad input (422 in the API), not a crash."""

    def __init__(self, from_stage: Stage | None, to_stage: Stage, reason: str) -> None:
        self.from_stage, self.to_stage = from_stage, to_stage
        super().__init__(f"cannot move from {from_stage} to {to_stage}: {reason}")


def classify_transition(from_stage: Stage | None, to_stage: Stage) -> TransitionKind:
    """What kind of move ``from_stage -> to_stage`` is; raises InvalidTransition if none.

    Invalid moves: staying in the same stage, a closed or stalled deal stalling again,
    and creating a deal directly in ``stalled``.
    """
    if from_stage is None:
        if to_stage is Stage.STALLED:
            raise InvalidTransition(from_stage, to_stage, "a deal cannot start stalled")
        return TransitionKind.ENTRY
    if from_stage is to_stage:
        raise InvalidTransition(from_stage, to_stage, "the deal is already there")
    if to_stage is Stage.CLOSED_WON:
        return TransitionKind.CORRECTION if from_stage.is_closed else TransitionKind.WIN
    if to_stage is Stage.CLOSED_LOST:
        return TransitionKind.CORRECTION if from_stage.is_closed else TransitionKind.LOSS
    if to_stage is Stage.STALLED:
        if from_stage.is_closed:
            raise InvalidTransition(from_stage, to_stage, "a closed deal cannot stall")
        return TransitionKind.STALL
    # to_stage is an open pipeline stage
    if from_stage.is_closed:
        return TransitionKind.REOPEN
    if from_stage is Stage.STALLED:
        return TransitionKind.REVIVE
    step = to_stage.rank - from_stage.rank
    if step == 1:
        return TransitionKind.ADVANCE
    return TransitionKind.SKIP if step > 1 else TransitionKind.REGRESSION


def is_valid_transition(from_stage: Stage | None, to_stage: Stage) -> bool:
    try:
        classify_transition(from_stage, to_stage)
    except InvalidTransition:
        return False
    return True
