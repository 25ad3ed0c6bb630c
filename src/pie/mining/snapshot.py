"""The world as it was at a past cutoff, and what happened to its open deals afterwards.

Back-tests must never see the future. ``as_of`` rebuilds every deal from the events dated
before the cutoff only: its stage, value, expected close and probability come from its last
stage transition before the cutoff (transitions record them as of each change), never from
today's values. ``outcomes_after`` then reads the rest of the history to say how each deal
that was open at the cutoff ended.

What cannot be rebuilt is dropped rather than guessed: a deal with no recorded stage history
that closed at or after the cutoff (or at an unknown time) had some open stage at the cutoff,
but which one is unknown, so it is in neither the world nor the outcomes.

Some records hold today's state although they are dated in the past, and are made to say
only what was known at the cutoff: an objection raised in an activity of a deal still open at
the cutoff is shown unresolved unless its ``resolved_at`` says it was resolved before the
cutoff (an undated resolution could have come later), and a
stakeholder updated at or after the cutoff keeps its roles but loses its sentiment, engagement
and scores. Fields that are not event-dated at all (the account, the deal's name, owner,
product line, qualification and custom fields) are kept as they are today.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from uuid import UUID

from pie.domain.errors import InvalidInput
from pie.domain.history import DealHistory
from pie.domain.model import Activity, DealOutcome, Objection, StageTransition, Stakeholder
from pie.domain.stages import Stage

_DAY_SECONDS = 86_400.0


@dataclass(frozen=True, slots=True, kw_only=True)
class _State:
    """A deal's recorded state at the cutoff."""

    stage: Stage
    value: Decimal | None
    expected_close: date | None
    probability: float | None
    closed_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class OutcomeAfter:
    """How a deal that was open at ``cutoff`` ended, as far as the data shows.

    ``outcome`` is the deal's final state in the data (``OPEN``: still open at the end of the
    data, i.e. censored). ``closed_at`` is when it entered its final closed state, and
    ``days_to_close`` the days from the cutoff until then. ``won`` is the label a win
    probability is scored against: won within ``horizon_days`` of the cutoff when a horizon
    was given, else won eventually; it is None when the data cannot tell (the deal was still
    open at the end of the data before the horizon, or ever when no horizon was given).
    """

    deal_id: UUID
    cutoff: datetime
    outcome: DealOutcome
    closed_at: datetime | None
    days_to_close: float | None
    won: bool | None

    @property
    def censored(self) -> bool:
        """Still open at the end of the data."""
        return self.outcome is DealOutcome.OPEN


def days_between(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / _DAY_SECONDS


def require_aware(moment: datetime, what: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput(
            f"{what} {moment.isoformat()} has no time zone: give it in UTC, "
            "e.g. 2026-01-01T00:00:00+00:00",
            field=what,
        )


def data_end(histories: Iterable[DealHistory]) -> datetime | None:
    """The last dated event in ``histories``: a creation, transition, activity or close."""
    latest: datetime | None = None
    for h in histories:
        stamps = [h.deal.created_at]
        stamps += [t.at for t in h.transitions] + [a.occurred_at for a in h.activities]
        if h.deal.closed_at is not None:
            stamps.append(h.deal.closed_at)
        top = max(stamps)
        if latest is None or top > latest:
            latest = top
    return latest


def as_of(histories: Iterable[DealHistory], cutoff: datetime) -> list[DealHistory]:
    """Every deal created before ``cutoff``, as it was then, in the order given.

    Transitions, activities and stakeholders dated at or after the cutoff are dropped; a deal
    closed after the cutoff is open at it.
    """
    require_aware(cutoff, "cutoff")
    world = []
    for h in histories:
        rebuilt = _rebuild(h, cutoff)
        if rebuilt is not None:
            world.append(rebuilt)
    return world


def outcomes_after(
    histories: Iterable[DealHistory],
    cutoff: datetime,
    horizon_days: int | None,
    *,
    end: datetime | None = None,
) -> list[OutcomeAfter]:
    """For each deal open at ``cutoff``, how it ended, in the order given.

    ``end`` is when the data ends (default: its last dated event); a deal still open then is
    censored. With ``horizon_days``, a deal's ``won`` label is known once it closed or the data
    covers the whole horizon.
    """
    require_aware(cutoff, "cutoff")
    if horizon_days is not None and horizon_days <= 0:
        raise InvalidInput(
            f"horizon_days must be a positive number of days, not {horizon_days}",
            field="horizon_days",
        )
    histories = list(histories)
    end = data_end(histories) if end is None else end
    out = []
    for h in histories:
        if h.deal.created_at >= cutoff:
            continue
        state = _state_at(h, cutoff)
        if state is None or state.stage.is_closed:
            continue
        out.append(_outcome(h, cutoff, horizon_days, end))
    return out


def _sorted_transitions(h: DealHistory) -> list[StageTransition]:
    return sorted(h.transitions, key=lambda t: t.at)


def _closed_since(transitions: Sequence[StageTransition]) -> datetime | None:
    """When the deal entered the closed state it is in after ``transitions`` (a run of
    closed stages, e.g. won then corrected to lost, counts from its first entry)."""
    since: datetime | None = None
    for t in transitions:
        if not t.to_stage.is_closed:
            since = None
        elif since is None or t.from_stage is None or not t.from_stage.is_closed:
            since = t.at
    return since


def _state_at(h: DealHistory, cutoff: datetime) -> _State | None:
    transitions = _sorted_transitions(h)
    before = [t for t in transitions if t.at < cutoff]
    if before:
        last = before[-1]
        return _State(
            stage=last.to_stage,
            value=last.value,
            expected_close=last.expected_close,
            probability=last.probability,
            closed_at=_closed_since(before) if last.to_stage.is_closed else None,
        )
    deal = h.deal
    if transitions:
        # created before the cutoff, first stage change recorded after it
        first = transitions[0]
        stage = first.from_stage if first.from_stage is not None else first.to_stage
        if first.from_stage is None and stage.is_closed:
            return None  # entered directly into a closed stage after the cutoff: unknown
        return _State(
            stage=stage, value=None, expected_close=None, probability=None, closed_at=None
        )
    # no stage history at all: only an open deal, or one closed before the cutoff, is known
    if deal.is_open:
        return _State(
            stage=deal.stage, value=None, expected_close=None, probability=None, closed_at=None
        )
    if deal.closed_at is not None and deal.closed_at < cutoff:
        return _State(
            stage=deal.stage,
            value=None,
            expected_close=None,
            probability=None,
            closed_at=deal.closed_at,
        )
    return None


def _rebuild(h: DealHistory, cutoff: datetime) -> DealHistory | None:
    deal = h.deal
    if deal.created_at >= cutoff:
        return None
    state = _state_at(h, cutoff)
    if state is None:
        return None
    transitions = tuple(t for t in _sorted_transitions(h) if t.at < cutoff)
    activities = tuple(
        sorted((a for a in h.activities if a.occurred_at < cutoff), key=lambda a: a.occurred_at)
    )
    if state.stage.is_open:
        activities = tuple(_unresolved(a, cutoff) for a in activities)
    stakeholders = tuple(_as_known(s, cutoff) for s in h.stakeholders if s.created_at < cutoff)
    unchanged = len(transitions) == len(h.transitions) and state.stage is deal.stage
    updated_at = max(
        [deal.created_at] + [t.at for t in transitions] + [a.occurred_at for a in activities]
    )
    rebuilt = dataclasses.replace(
        deal,
        stage=state.stage,
        value=state.value,
        expected_close=state.expected_close,
        probability=state.probability,
        closed_at=state.closed_at,
        source_stage=deal.source_stage if unchanged else None,
        lost_reason=deal.lost_reason if state.stage is Stage.CLOSED_LOST else None,
        updated_at=updated_at,
    )
    return dataclasses.replace(
        h,
        deal=rebuilt,
        transitions=transitions,
        activities=activities,
        stakeholders=stakeholders,
    )


def _resolved_before(o: Objection, cutoff: datetime) -> bool:
    return o.resolved and o.resolved_at is not None and o.resolved_at < cutoff


def _unresolved(activity: Activity, cutoff: datetime) -> Activity:
    """The activity's objections as known at the cutoff."""
    if all(
        _resolved_before(o, cutoff) or not (o.resolved or o.resolution) for o in activity.objections
    ):
        return activity
    return dataclasses.replace(
        activity,
        objections=tuple(
            o
            if _resolved_before(o, cutoff)
            else dataclasses.replace(o, resolved=False, resolution=None, resolved_at=None)
            for o in activity.objections
        ),
    )


def _as_known(stakeholder: Stakeholder, cutoff: datetime) -> Stakeholder:
    if stakeholder.updated_at < cutoff:
        return stakeholder
    return dataclasses.replace(
        stakeholder,
        sentiment=None,
        engagement=None,
        scores={},
        score_sources={},
        notes=None,
        updated_at=stakeholder.created_at,
    )


def _outcome(
    h: DealHistory, cutoff: datetime, horizon_days: int | None, end: datetime | None
) -> OutcomeAfter:
    transitions = _sorted_transitions(h)
    final = transitions[-1].to_stage if transitions else h.deal.stage
    closed_at: datetime | None = None
    if final.is_closed:
        closed_at = _closed_since(transitions) if transitions else h.deal.closed_at
        if closed_at is None or closed_at < cutoff:
            closed_at = h.deal.closed_at if h.deal.closed_at is not None else cutoff
    outcome = (
        DealOutcome.WON
        if final is Stage.CLOSED_WON
        else DealOutcome.LOST
        if final is Stage.CLOSED_LOST
        else DealOutcome.OPEN
    )
    days = None if closed_at is None else days_between(cutoff, closed_at)
    won: bool | None
    if horizon_days is None:
        won = None if outcome is DealOutcome.OPEN else outcome is DealOutcome.WON
    elif days is not None and days <= horizon_days:
        won = outcome is DealOutcome.WON
    elif days is not None or (end is not None and end >= cutoff + timedelta(days=horizon_days)):
        won = False  # closed after the horizon, or seen open through all of it
    else:
        won = None
    return OutcomeAfter(
        deal_id=h.deal.id,
        cutoff=cutoff,
        outcome=outcome,
        closed_at=closed_at,
        days_to_close=days,
        won=won,
    )
