"""Directly-follows graph: how often activity ``b`` comes right after activity ``a`` in the
same case, and how long that step takes.

Everything is computed with a constant number of numpy passes over the log: sort the events by
(case, time), pair each event with the next one in the same case, then sort the pairs by
(pair code, duration) once, which gives counts, totals, means, medians, minima and maxima per
pair from the group boundaries. No Python loop runs per event or per case.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pie.mining.eventlog_arrays import EventLog

_US_PER_SECOND = 1_000_000.0


@dataclass(frozen=True, slots=True, eq=False)
class DirectlyFollows:
    """One row per directly-follows pair that occurs, ordered by (source, target) code.
    Durations are in seconds from the source event to the target event."""

    activities: tuple[str, ...]
    source: NDArray[np.int64]  # (pairs,) activity codes
    target: NDArray[np.int64]  # (pairs,)
    count: NDArray[np.int64]  # (pairs,)
    total_seconds: NDArray[np.float64]  # (pairs,)
    mean_seconds: NDArray[np.float64]  # (pairs,)
    median_seconds: NDArray[np.float64]  # (pairs,)
    min_seconds: NDArray[np.float64]  # (pairs,)
    max_seconds: NDArray[np.float64]  # (pairs,)
    start_count: NDArray[np.int64]  # (activities,) cases whose first event is the activity
    end_count: NDArray[np.int64]  # (activities,) cases whose last event is the activity

    def counts(self) -> dict[tuple[str, str], int]:
        """{(source name, target name): count}, the shape pm4py's ``discover_dfg`` returns."""
        names = self.activities
        return {
            (names[s], names[t]): int(n)
            for s, t, n in zip(self.source, self.target, self.count, strict=True)
        }

    def seconds(self, statistic: str = "mean") -> dict[tuple[str, str], float]:
        """{(source name, target name): duration} for ``statistic`` in mean, median, total,
        min or max."""
        column = {
            "mean": self.mean_seconds,
            "median": self.median_seconds,
            "total": self.total_seconds,
            "min": self.min_seconds,
            "max": self.max_seconds,
        }[statistic]
        names = self.activities
        return {
            (names[s], names[t]): float(v)
            for s, t, v in zip(self.source, self.target, column, strict=True)
        }

    def matrix(self) -> NDArray[np.int64]:
        """Counts as an (activities, activities) array indexed [source, target]."""
        size = len(self.activities)
        out = np.zeros((size, size), dtype=np.int64)
        out[self.source, self.target] = self.count
        return out

    def starts(self) -> dict[str, int]:
        return {self.activities[a]: int(n) for a, n in enumerate(self.start_count) if n}

    def ends(self) -> dict[str, int]:
        return {self.activities[a]: int(n) for a, n in enumerate(self.end_count) if n}


def discover_dfg(log: EventLog) -> DirectlyFollows:
    """The directly-follows graph of ``log`` with step durations. Events of a case with equal
    times keep their order in the log."""
    size = len(log.activities)
    order = log.sorted_order()
    case = log.case[order]
    activity = log.activity[order]
    time_us = log.time_us[order]

    boundary = case[1:] != case[:-1]  # event i+1 starts a new case
    first = np.concatenate(([True], boundary)) if len(log) else np.zeros(0, dtype=bool)
    last = np.concatenate((boundary, [True])) if len(log) else np.zeros(0, dtype=bool)
    start_count = np.bincount(activity[first], minlength=size).astype(np.int64)
    end_count = np.bincount(activity[last], minlength=size).astype(np.int64)

    same = ~boundary
    source = activity[:-1][same]
    target = activity[1:][same]
    duration = (time_us[1:] - time_us[:-1])[same]
    code = source * size + target

    by_pair = np.lexsort((duration, code))
    code = code[by_pair]
    seconds = duration[by_pair].astype(np.float64) / _US_PER_SECOND
    if code.size == 0:
        empty_i = np.zeros(0, dtype=np.int64)
        empty_f = np.zeros(0, dtype=np.float64)
        return DirectlyFollows(
            activities=log.activities,
            source=empty_i,
            target=empty_i,
            count=empty_i,
            total_seconds=empty_f,
            mean_seconds=empty_f,
            median_seconds=empty_f,
            min_seconds=empty_f,
            max_seconds=empty_f,
            start_count=start_count,
            end_count=end_count,
        )
    starts = np.flatnonzero(np.concatenate(([True], code[1:] != code[:-1])))
    ends = np.concatenate((starts[1:], [code.size]))  # exclusive
    count = (ends - starts).astype(np.int64)
    total = np.add.reduceat(seconds, starts)
    median = (seconds[starts + (count - 1) // 2] + seconds[starts + count // 2]) / 2.0
    pair = code[starts]
    return DirectlyFollows(
        activities=log.activities,
        source=pair // size,
        target=pair % size,
        count=count,
        total_seconds=total,
        mean_seconds=total / count,
        median_seconds=median,
        min_seconds=seconds[starts],
        max_seconds=seconds[ends - 1],
        start_count=start_count,
        end_count=end_count,
    )
