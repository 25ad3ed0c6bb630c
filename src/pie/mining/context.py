"""The context of a stage visit, rebuilt from what was known when the visit started.

Factors, in the order the hierarchy adds them: has_champion, unresolved_blocker, icp_match,
size (deal value / historical median value, bucketed) and engagement (days since the last
activity, bucketed). A context is stored as one integer: the flat index of its factor buckets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from numpy.typing import NDArray

from pie.domain.history import DealHistory
from pie.domain.model import StakeholderRole

from .config import MiningConfig

FACTORS: tuple[str, ...] = ("has_champion", "unresolved_blocker", "icp_match", "size", "engagement")
DAY = 86400.0


def to_days(at: datetime) -> float:
    """Days since the Unix epoch (naive datetimes are taken as UTC)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.timestamp() / DAY


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    """One visit's context in plain values; ``None`` means unknown."""

    has_champion: bool = False
    unresolved_blocker: bool = False
    icp_match: bool = False
    size_ratio: float | None = None  # deal value / historical median value
    days_since_activity: float | None = None  # None: no activity yet


def factor_shape(config: MiningConfig) -> tuple[int, ...]:
    return (2, 2, 2, len(config.size_edges) + 1, len(config.recency_edges) + 1)


def n_contexts(config: MiningConfig) -> int:
    return int(np.prod(factor_shape(config)))


def size_bucket(ratio: NDArray[np.float64], config: MiningConfig) -> NDArray[np.intp]:
    """Unknown sizes (NaN) count as typical: the middle bucket."""
    edges = np.asarray(config.size_edges)
    bucket = np.searchsorted(edges, ratio, side="right").astype(np.intp)
    return np.where(np.isnan(ratio), len(edges) // 2, bucket)


def recency_bucket(days: NDArray[np.float64], config: MiningConfig) -> NDArray[np.intp]:
    """No activity at all (inf or NaN) is the coldest bucket."""
    edges = np.asarray(config.recency_edges)
    cold = np.isnan(days) | np.isinf(days)
    return np.where(cold, len(edges), np.searchsorted(edges, days, side="right")).astype(np.intp)


def encode(
    champion: NDArray[np.bool_],
    blocker: NDArray[np.bool_],
    icp: NDArray[np.bool_],
    size_ratio: NDArray[np.float64],
    recency_days: NDArray[np.float64],
    config: MiningConfig,
) -> NDArray[np.intp]:
    """Flat context indices from factor arrays (all of one length)."""
    idx = np.ravel_multi_index(
        (
            champion.astype(np.intp),
            blocker.astype(np.intp),
            icp.astype(np.intp),
            size_bucket(size_ratio, config),
            recency_bucket(recency_days, config),
        ),
        factor_shape(config),
    )
    return np.asarray(idx, dtype=np.intp)


def encode_one(ctx: Context, config: MiningConfig) -> int:
    ratio = np.nan if ctx.size_ratio is None else ctx.size_ratio
    days = np.inf if ctx.days_since_activity is None else ctx.days_since_activity
    return int(
        encode(
            np.array([ctx.has_champion]),
            np.array([ctx.unresolved_blocker]),
            np.array([ctx.icp_match]),
            np.array([ratio], dtype=np.float64),
            np.array([days], dtype=np.float64),
            config,
        )[0]
    )


def describe(index: int, config: MiningConfig) -> dict[str, int]:
    """The bucket of each factor for a flat context index."""
    parts = np.unravel_index(index, factor_shape(config))
    return {name: int(p) for name, p in zip(FACTORS, parts, strict=True)}


def _known_since(history: DealHistory, role: StakeholderRole) -> float:
    """When a stakeholder with ``role`` was first known (its ``created_at``; inf if never).
    Activity participation is not used: today's roles would leak into the past."""
    times = [to_days(s.created_at) for s in history.stakeholders if role in s.roles]
    return min(times, default=np.inf)


def _blocker_open_at(history: DealHistory, times: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Whether a blocker or objection was unresolved at each time. A blocker stakeholder is
    open from when it is known. An objection is open from when it is raised; one marked
    resolved closes (with the blocker) at its ``resolved_at`` when the source dates it, else at
    the next activity after it that a blocker stakeholder or the objection's participants take
    part in."""
    blockers = {s.contact_id for s in history.stakeholders if StakeholderRole.BLOCKER in s.roles}
    opened = _known_since(history, StakeholderRole.BLOCKER)
    closed = np.inf
    acts = sorted(history.activities, key=lambda a: a.occurred_at)
    for i, a in enumerate(acts):
        if not a.objections:
            continue
        at = to_days(a.occurred_at)
        opened = min(opened, at)
        if all(o.resolved for o in a.objections):
            dated = [o.resolved_at for o in a.objections if o.resolved_at is not None]
            if len(dated) == len(a.objections):
                closed = min(closed, max(to_days(d) for d in dated))
                continue
            people = blockers | set(a.participants)
            later = (to_days(b.occurred_at) for b in acts[i + 1 :] if people & set(b.participants))
            closed = min(closed, next(later, np.inf))
        else:
            closed = np.inf
    return (opened <= times) & ~(closed <= times)


def contexts_at(
    history: DealHistory, times: NDArray[np.float64]
) -> tuple[NDArray[np.bool_], NDArray[np.bool_], NDArray[np.float64]]:
    """(has_champion, unresolved_blocker, days since last activity) at each time (in days),
    using only what is dated at or before it."""
    champion = _known_since(history, StakeholderRole.CHAMPION) <= times
    blocker = _blocker_open_at(history, times)
    acts = np.sort(np.array([to_days(a.occurred_at) for a in history.activities]))
    last = np.searchsorted(acts, times, side="left") - 1
    recency = np.where(last >= 0, times - acts[np.maximum(last, 0)] if acts.size else 0.0, np.inf)
    return champion, blocker, recency.astype(np.float64)


def arrival_times(history: DealHistory) -> tuple[float, float]:
    """(days) when a champion was first known and when a blocker or objection was first open;
    inf when never."""
    champion = _known_since(history, StakeholderRole.CHAMPION)
    candidates = [_known_since(history, StakeholderRole.BLOCKER)]
    candidates += [to_days(a.occurred_at) for a in history.activities if a.objections]
    times = np.array(sorted(c for c in candidates if np.isfinite(c)), dtype=np.float64)
    opened = times[_blocker_open_at(history, times)] if times.size else times
    return champion, float(opened[0]) if opened.size else float(np.inf)


def industries(histories: Sequence[DealHistory]) -> list[str | None]:
    return [h.account.industry if h.account is not None else None for h in histories]
