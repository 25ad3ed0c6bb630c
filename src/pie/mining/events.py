"""Flatten deal histories into a table of stage visits (numpy arrays, one row per visit).

A visit starts when a deal enters an open stage (or ``stalled``) and ends at its next
transition; a visit still going at ``as_of`` is censored (destination -1). Only transitions
dated at or before ``as_of`` are used. Closed stages are absorbing and have no visits; a
re-opened deal starts a new visit at the re-opening.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from pie.domain.history import DealHistory
from pie.domain.stages import ALL_STAGES, Stage

from .context import arrival_times, contexts_at, to_days

STAGE_INDEX: dict[Stage, int] = {s: i for i, s in enumerate(ALL_STAGES)}
WON, LOST = STAGE_INDEX[Stage.CLOSED_WON], STAGE_INDEX[Stage.CLOSED_LOST]
N_STAGES = len(ALL_STAGES)


@dataclass(frozen=True, slots=True)
class VisitTable:
    deal: NDArray[np.intp]  # index into the histories
    stage: NDArray[np.intp]
    start: NDArray[np.float64]  # days since epoch
    dwell: NDArray[np.float64]  # days (to the next transition, or to as_of if censored)
    dest: NDArray[np.intp]  # stage index of the next stage, -1 if censored
    champion: NDArray[np.bool_]
    blocker: NDArray[np.bool_]
    value: NDArray[np.float64]  # deal value at the visit's start, NaN if unknown
    recency: NDArray[np.float64]  # days since the last activity, inf if none
    champion_at: NDArray[np.float64]  # when the deal's champion was first known, inf if never
    blocker_at: NDArray[np.float64]  # when a blocker was first open, inf if never

    def __len__(self) -> int:
        return int(self.stage.size)


def _visits_of(
    history: DealHistory, as_of: float
) -> tuple[list[tuple[int, float, float, int]], float]:
    """(stage, start, end, dest) per visit; dest -1 (and end as_of) if open at as_of."""
    moves = sorted((t for t in history.transitions if to_days(t.at) <= as_of), key=lambda t: t.at)
    deal_value = float(history.deal.value) if history.deal.value is not None else np.nan
    out: list[tuple[int, float, float, int]] = []
    if not moves:
        created = to_days(history.deal.created_at)
        if history.deal.stage.is_open and created <= as_of:
            out.append((STAGE_INDEX[history.deal.stage], created, as_of, -1))
        return out, deal_value
    first = moves[0]
    if first.from_stage is not None and first.from_stage.is_open:
        start = to_days(history.deal.created_at)
        if first.days_in_from_stage is not None:
            start = to_days(first.at) - first.days_in_from_stage
        out.append((STAGE_INDEX[first.from_stage], min(start, to_days(first.at)), as_of, -1))
    for move in moves:
        at, to = to_days(move.at), STAGE_INDEX[move.to_stage]
        if out and out[-1][3] == -1:
            out[-1] = (out[-1][0], out[-1][1], at, to)  # the open visit ends here
        elif out and move.to_stage.is_closed and out[-1][3] in (WON, LOST):
            out[-1] = (out[-1][0], out[-1][1], out[-1][2], to)  # a correction of the outcome
        if move.to_stage.is_open:
            out.append((to, at, as_of, -1))
    return out, deal_value


def visit_table(histories: Sequence[DealHistory], *, as_of: datetime) -> VisitTable:
    """One row per stage visit known at ``as_of`` (a loop over deals to flatten objects)."""
    limit = to_days(as_of)
    cols: dict[str, list[NDArray[np.generic]]] = {k: [] for k in VisitTable.__slots__}
    for i, history in enumerate(histories):
        visits, value = _visits_of(history, limit)
        if not visits:
            continue
        stage = np.array([v[0] for v in visits], dtype=np.intp)
        start = np.array([v[1] for v in visits], dtype=np.float64)
        end = np.array([v[2] for v in visits], dtype=np.float64)
        dest = np.array([v[3] for v in visits], dtype=np.intp)
        champion, blocker, recency = contexts_at(history, start)
        cols["deal"].append(np.full(stage.size, i, dtype=np.intp))
        cols["stage"].append(stage)
        cols["start"].append(start)
        cols["dwell"].append(np.maximum(end - start, 0.0))
        cols["dest"].append(dest)
        cols["champion"].append(champion)
        cols["blocker"].append(blocker)
        cols["value"].append(_values_at(history, start, value))
        cols["recency"].append(recency)
        champion_at, blocker_at = arrival_times(history)
        cols["champion_at"].append(np.full(stage.size, champion_at))
        cols["blocker_at"].append(np.full(stage.size, blocker_at))
    empty = {"deal": np.intp, "stage": np.intp, "dest": np.intp, "champion": np.bool_}
    empty |= {"blocker": np.bool_}
    arrays = {
        k: np.concatenate(v) if v else np.zeros(0, dtype=empty.get(k, np.float64))
        for k, v in cols.items()
    }
    return VisitTable(**arrays)


def _values_at(
    history: DealHistory, times: NDArray[np.float64], fallback: float
) -> NDArray[np.float64]:
    """The deal's value as recorded by the latest transition at or before each time."""
    known = [(to_days(t.at), float(t.value)) for t in history.transitions if t.value is not None]
    if not known:
        return np.full(times.shape, fallback)
    known.sort()
    at = np.array([k[0] for k in known])
    vals = np.array([k[1] for k in known])
    pos = np.searchsorted(at, times, side="right") - 1
    return np.where(pos >= 0, vals[np.maximum(pos, 0)], fallback)
