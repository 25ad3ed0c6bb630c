"""Where an open deal stands at ``as_of``: its stage, days in it, context and value."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from pie.domain.errors import InvalidInput
from pie.domain.history import DealHistory
from pie.domain.stages import Stage
from pie.mining.context import Context, arrival_times, to_days
from pie.mining.model import ProcessModel

from .streams import stream_identity


@dataclass(frozen=True, slots=True, kw_only=True)
class DealState:
    deal_id: UUID
    stage: Stage
    days_in_stage: float
    context: Context
    value: float = 0.0
    #: accelerate_demo: days taken off the time to reach and finish the demo stage
    demo_credit: float = 0.0
    #: the deal's stable identity, which keys its random stream (``streams``); "" is its id
    stream: str = ""
    #: multipliers of the mined arrival rates of a champion and of a blocker along a path
    #: (``pie.mining.arrivals.ARRIVING``); 0 holds the factor as it is from now on. A deal that
    #: has had a blocker is no longer at risk of a first one.
    arrival_scale: tuple[float, float] = (1.0, 1.0)

    def with_context(self, **changes: object) -> DealState:
        return dataclasses.replace(self, context=dataclasses.replace(self.context, **changes))  # type: ignore[arg-type]

    def holding(self, factor: str) -> DealState:
        """The state with ``factor`` (has_champion or unresolved_blocker) held from now on."""
        champion, blocker = self.arrival_scale
        if factor == "has_champion":
            return dataclasses.replace(self, arrival_scale=(0.0, blocker))
        return dataclasses.replace(self, arrival_scale=(champion, 0.0))


def deal_state(history: DealHistory, model: ProcessModel, *, as_of: datetime) -> DealState:
    """The deal's state at ``as_of``; a deal closed by then raises InvalidInput."""
    deal = history.deal
    moves = sorted((t for t in history.transitions if t.at <= as_of), key=lambda t: t.at)
    if moves:
        stage, entered = moves[-1].to_stage, moves[-1].at
    elif deal.created_at <= as_of:
        stage, entered = deal.stage, deal.created_at
    else:
        raise InvalidInput(
            f"the deal was created after {as_of.isoformat()}: nothing to simulate yet",
            source="simulation",
            record=str(deal.id),
        )
    if stage.is_closed:
        raise InvalidInput(
            f"the deal is already {stage.value} at {as_of.isoformat()}: only open deals can be "
            "simulated; re-open it first or leave it out",
            source="simulation",
            record=str(deal.id),
            field="stage",
        )
    ctx = model.context_of(history, as_of)
    value = ctx.size_ratio * model.median_value if ctx.size_ratio is not None else 0.0
    days = max((as_of - entered).total_seconds() / 86400.0, 0.0)
    had_blocker = arrival_times(history)[1] <= to_days(as_of)
    return DealState(
        deal_id=deal.id,
        stage=stage,
        days_in_stage=days,
        context=ctx,
        value=value,
        stream=stream_identity(deal),
        arrival_scale=(1.0, 0.0 if had_blocker else 1.0),
    )
