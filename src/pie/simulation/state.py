"""Where an open deal stands at ``as_of``: its stage, days in it, context and value."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import numpy as np
from numpy.typing import NDArray

from pie.domain.errors import InvalidInput
from pie.domain.history import DealHistory
from pie.domain.stages import ALL_STAGES, Stage
from pie.mining import columns
from pie.mining.columns import DealColumns
from pie.mining.context import Context, arrival_times, to_days
from pie.mining.eventlog_arrays import to_micros
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


def deal_states(cols: DealColumns, model: ProcessModel, *, as_of: datetime) -> list[DealState]:
    """``deal_state`` of every open deal in ``cols`` (in order), from the columns: the same
    states, with arrays for the contexts instead of a pass over each deal's objects."""
    rows = np.flatnonzero(cols.is_open())
    if not rows.size:
        return []
    cut = to_micros(as_of)
    t = to_days(as_of)
    moves = np.flatnonzero(cols.t_us <= cut)
    m_deal = cols.t_deal[moves]
    last = np.searchsorted(m_deal, rows, side="right") - 1
    has = (last >= 0) & (m_deal[np.maximum(last, 0)] == rows) if moves.size else last < -1
    last_row = moves[np.maximum(last, 0)] if moves.size else np.zeros(rows.size, np.int64)
    stage = np.where(has, cols.t_to[last_row] if moves.size else 0, cols.stage[rows])
    entered = np.where(has, cols.t_us[last_row] if moves.size else 0, cols.created_us[rows])
    late = ~has & (cols.created_us[rows] > cut)
    closed = columns.IS_CLOSED[stage]
    for i in np.flatnonzero(late | closed)[:1].tolist():
        deal_id = cols.deal_id(int(rows[i]))
        if late[i]:
            raise InvalidInput(
                f"the deal was created after {as_of.isoformat()}: nothing to simulate yet",
                source="simulation",
                record=str(deal_id),
            )
        raise InvalidInput(
            f"the deal is already {ALL_STAGES[stage[i]].value} at {as_of.isoformat()}: only "
            "open deals can be simulated; re-open it first or leave it out",
            source="simulation",
            record=str(deal_id),
            field="stage",
        )
    times = np.full(rows.size, t)
    champion = columns.known_since(cols, columns.CHAMPION)[rows] <= times
    opened, shut = columns.blocker_interval(cols)
    blocker = (opened[rows] <= times) & ~(shut[rows] <= times)
    recency = columns.recency_at(cols, rows, times)
    had_blocker = np.where(opened < shut, opened, np.inf)[rows] <= t
    value = _values_known(cols, rows, cut)
    icp = np.array([i in model.icp_industries for i in cols.industries] + [False], np.bool_)
    median = model.median_value
    spent = np.maximum((cut - entered) / 1e6 / 86400.0, 0.0)
    ids = cols.deal_ids(rows)
    out = []
    for i, row in enumerate(rows.tolist()):
        v = value[i]
        ratio = float(v) / median if not np.isnan(v) and median > 0 else None
        ctx = Context(
            has_champion=bool(champion[i]),
            unresolved_blocker=bool(blocker[i]),
            icp_match=bool(icp[cols.industry[row]]),
            size_ratio=ratio,
            days_since_activity=None if np.isinf(recency[i]) else float(recency[i]),
        )
        out.append(
            DealState(
                deal_id=ids[i],
                stage=ALL_STAGES[stage[i]],
                days_in_stage=float(spent[i]),
                context=ctx,
                value=ratio * median if ratio is not None else 0.0,
                stream=str(cols.stream[row]),
                arrival_scale=(1.0, 0.0 if had_blocker[i] else 1.0),
            )
        )
    return out


def _values_known(cols: DealColumns, rows: NDArray[np.int64], cut: int) -> NDArray[np.float64]:
    """``model._value_at``: the value of the latest valued transition at or before ``cut``
    (ties: the first in order), else the deal's own value (NaN: none)."""
    known = np.flatnonzero(~np.isnan(cols.t_value) & (cols.t_us <= cut))
    k_deal = cols.t_deal[known]
    # the last valued transition by time; among equal times the first: order ties by -position
    found = columns.last_known(
        k_deal,
        cols.t_us[known],
        rows,
        np.full(rows.size, cut, dtype=np.int64),
        inclusive=True,
        tie=-np.arange(known.size, dtype=np.float64),
    )
    return columns.pick(cols.t_value[known], found, cols.value[rows])
