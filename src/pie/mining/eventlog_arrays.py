"""A compact event log: three parallel arrays (case, activity, time) and two name tables.

This is the shape process mining works on. An event is "case ``c`` performed activity ``a``
at time ``t``". For PIE's own data an event is a deal entering a stage: every
``StageTransition`` of a ``DealHistory`` gives one event whose activity is ``to_stage`` and
whose time is ``at``. Logs read from XES or CSV files come through the same path, because
``pie.mining.eventlog_import`` turns them into ``DealHistory`` objects first.

Times are integer microseconds since 1970-01-01T00:00:00Z, so they sort and subtract exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from pie.domain.history import DealHistory
from pie.domain.stages import ALL_STAGES

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
#: Activity code of each stage in logs built from histories (``ALL_STAGES`` order).
STAGE_CODE = {stage: code for code, stage in enumerate(ALL_STAGES)}


def to_micros(at: datetime) -> int:
    """Microseconds since the epoch; a naive datetime is taken to be UTC."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return (at - EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


@dataclass(frozen=True, slots=True, eq=False)
class EventLog:
    """``case[i]``, ``activity[i]`` and ``time_us[i]`` describe event ``i``. ``case_ids[c]``
    names case ``c`` and ``activities[a]`` names activity ``a``. Events need not be sorted.
    A case may have no events (a deal with no recorded transitions)."""

    case_ids: tuple[str, ...]
    activities: tuple[str, ...]
    case: NDArray[np.int64]
    activity: NDArray[np.int64]
    time_us: NDArray[np.int64]

    def __post_init__(self) -> None:
        n = self.case.shape[0]
        if self.activity.shape != (n,) or self.time_us.shape != (n,) or self.case.ndim != 1:
            raise ValueError("case, activity and time_us must be 1-d arrays of the same length")
        if n and (self.case.min() < 0 or self.case.max() >= len(self.case_ids)):
            raise ValueError("case codes must index case_ids")
        if n and (self.activity.min() < 0 or self.activity.max() >= len(self.activities)):
            raise ValueError("activity codes must index activities")

    def __len__(self) -> int:
        return int(self.case.shape[0])

    @classmethod
    def from_histories(cls, histories: Iterable[DealHistory]) -> EventLog:
        """One case per deal (named by the deal's id), one event per stage transition.
        Activity codes are positions in ``ALL_STAGES`` whether or not a stage occurs."""
        case_ids: list[str] = []
        case: list[int] = []
        activity: list[int] = []
        time_us: list[int] = []
        for index, history in enumerate(histories):
            case_ids.append(str(history.deal.id))
            for transition in history.transitions:
                case.append(index)
                activity.append(STAGE_CODE[transition.to_stage])
                time_us.append(to_micros(transition.at))
        return cls(
            case_ids=tuple(case_ids),
            activities=tuple(str(stage) for stage in ALL_STAGES),
            case=np.array(case, dtype=np.int64),
            activity=np.array(activity, dtype=np.int64),
            time_us=np.array(time_us, dtype=np.int64),
        )

    @classmethod
    def from_columns(
        cls,
        case: Sequence[str] | NDArray[np.str_] | NDArray[np.object_],
        activity: Sequence[str] | NDArray[np.str_] | NDArray[np.object_],
        time_us: Sequence[int] | NDArray[np.int64],
    ) -> EventLog:
        """A log from one row per event (as a CSV or a data frame holds it). Names are coded
        in sorted order."""
        case_names, case_codes = np.unique(np.asarray(case, dtype=str), return_inverse=True)
        names, codes = np.unique(np.asarray(activity, dtype=str), return_inverse=True)
        return cls(
            case_ids=tuple(str(c) for c in case_names),
            activities=tuple(str(a) for a in names),
            case=case_codes.astype(np.int64).ravel(),
            activity=codes.astype(np.int64).ravel(),
            time_us=np.asarray(time_us, dtype=np.int64),
        )

    def sorted_order(self) -> NDArray[np.intp]:
        """Event indices ordered by (case, time); ties keep their order in the log."""
        dc = np.diff(self.case)
        if bool(np.all((dc > 0) | ((dc == 0) & (np.diff(self.time_us) >= 0)))):
            return np.arange(len(self), dtype=np.intp)  # already in order: skip the sort
        return np.lexsort((self.time_us, self.case))
