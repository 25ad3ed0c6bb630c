"""Where an open deal stands at ``as_of``: its stage, days in it, context and value."""

from __future__ import annotations

import dataclasses
import math
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

Rows = NDArray[np.int64]


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
    states, with arrays for the contexts instead of a pass over each deal's objects. Only the
    open deals' own rows are read (found by binary search in the tables, which are sorted by
    deal), so the cost follows the open deals, not the store."""
    rows = np.flatnonzero(cols.is_open())
    if not rows.size:
        return []
    cut = to_micros(as_of)
    t = to_days(as_of)
    t_idx, t_of = _members(cols.t_deal, rows)
    # the deal's last transition at or before the moment, in the columns' order
    last = np.full(rows.size, -1, dtype=np.int64)
    np.maximum.at(last, t_of, np.where(cols.t_us[t_idx] <= cut, t_idx, -1))
    has = last >= 0
    stage, entered = cols.stage[rows], cols.created_us[rows]
    stage[has], entered[has] = cols.t_to[last[has]], cols.t_us[last[has]]
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
    champion = _known_since(cols, rows, columns.CHAMPION) <= t
    opened, shut = columns.blocker_interval(cols)
    blocker = (opened[rows] <= t) & ~(shut[rows] <= t)
    had_blocker = np.where(opened < shut, opened, np.inf)[rows] <= t
    icp = np.array([i in model.icp_industries for i in cols.industries] + [False], np.bool_)
    median = model.median_value
    spent = np.maximum((cut - entered) / 1e6 / 86400.0, 0.0)
    out = []
    # the loop reads Python numbers (``tolist``), not numpy scalars: the same values
    for deal_id, code, days, ch, bl, ic, v, rec, stream, had in zip(
        cols.deal_ids(rows),
        stage.tolist(),
        spent.tolist(),
        champion.tolist(),
        blocker.tolist(),
        icp[cols.industry[rows]].tolist(),
        _values_known(cols, rows, t_idx, t_of, cut).tolist(),
        _recency(cols, rows, t).tolist(),
        cols.stream[rows].tolist(),
        had_blocker.tolist(),
        strict=True,
    ):
        ratio = v / median if not math.isnan(v) and median > 0 else None
        ctx = Context(
            has_champion=ch,
            unresolved_blocker=bl,
            icp_match=ic,
            size_ratio=ratio,
            days_since_activity=None if math.isinf(rec) else rec,
        )
        out.append(
            DealState(
                deal_id=deal_id,
                stage=ALL_STAGES[code],
                days_in_stage=days,
                context=ctx,
                value=ratio * median if ratio is not None else 0.0,
                stream=str(stream),
                arrival_scale=(1.0, 0.0 if had else 1.0),
            )
        )
    return out


def _members(keys: NDArray[np.integer], rows: Rows) -> tuple[Rows, Rows]:
    """The rows of a table (``keys``: each row's deal, sorted) that belong to the deals
    ``rows``: their indices, deal by deal in the table's order, and for each the position in
    ``rows`` of its deal. Two binary searches per deal: no other deal's rows are read."""
    wanted = rows.astype(keys.dtype)
    lo = np.searchsorted(keys, wanted, side="left")
    n = np.searchsorted(keys, wanted, side="right") - lo
    of = np.repeat(np.arange(rows.size, dtype=np.int64), n)
    index = np.arange(of.size, dtype=np.int64) + np.repeat(lo - (np.cumsum(n) - n), n)
    return index, of


def _known_since(cols: DealColumns, rows: Rows, role: int) -> NDArray[np.float64]:
    """``columns.known_since`` of the deals ``rows`` only."""
    s_idx, s_of = _members(cols.s_deal, rows)
    has = (cols.s_roles[s_idx] & role) > 0
    out = np.full(rows.size, np.inf)
    np.minimum.at(out, s_of[has], columns.days(cols.s_created_us[s_idx[has]]))
    return out


def _recency(cols: DealColumns, rows: Rows, t: float) -> NDArray[np.float64]:
    """``columns.recency_at`` of the deals ``rows`` at ``t``: days since each one's latest
    activity strictly before ``t`` (inf: none)."""
    a_idx, a_of = _members(cols.a_deal, rows)
    at = columns.days(cols.a_us[a_idx])
    latest = np.full(rows.size, -np.inf)
    np.maximum.at(latest, a_of, np.where(at < t, at, -np.inf))
    out: NDArray[np.float64] = t - latest
    return out


def _values_known(
    cols: DealColumns, rows: Rows, t_idx: Rows, t_of: Rows, cut: int
) -> NDArray[np.float64]:
    """``model._value_at``: the value of the latest valued transition at or before ``cut``
    (ties: the first in order), else the deal's own value (NaN: none). ``t_idx``, ``t_of``:
    the deals' transitions (``_members``)."""
    us = cols.t_us[t_idx]
    valued = np.flatnonzero(~np.isnan(cols.t_value[t_idx]) & (us <= cut))
    k_idx, k_of, k_us = t_idx[valued], t_of[valued], us[valued]
    latest = np.full(rows.size, np.iinfo(np.int64).min)
    np.maximum.at(latest, k_of, k_us)
    first = np.full(rows.size, np.iinfo(np.int64).max)
    at_latest = k_us == latest[k_of]
    np.minimum.at(first, k_of[at_latest], k_idx[at_latest])
    found = np.where(first < np.iinfo(np.int64).max, first, -1)
    return columns.pick(cols.t_value, found, cols.value[rows])
