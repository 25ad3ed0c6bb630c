"""Deal histories for tests: loaded from a ``pie/v1`` JSON file, or built by hand.

``load_histories`` imports a file with the real importer into the in-memory store and loads it
back as the services do. ``deal_history`` builds one history from a list of stage moves.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from uuid import UUID

from pie.domain.history import DealHistory
from pie.domain.model import (
    Activity,
    ActivityType,
    Deal,
    EntityKind,
    Objection,
    StageTransition,
    Stakeholder,
    StakeholderRole,
    derive_id,
)
from pie.domain.stages import Stage
from pie.importing import import_file
from pie.services.histories import load_histories as histories_in_store
from tests.fakes.uow import InMemoryStore, InMemoryUnitOfWork

TENANT = UUID("00000000-0000-4000-8000-000000000001")
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def day(n: float) -> datetime:
    """``n`` days after ``T0``."""
    return T0 + timedelta(days=n)


def load_histories(path: Path, *, tenant_id: UUID = TENANT) -> list[DealHistory]:
    """A PIE JSON file read the way a user's file is: through the real importer into the
    in-memory store, then loaded as histories; in file order (deal ids sort as in the file)."""

    async def run() -> list[DealHistory]:
        store = InMemoryStore()
        await import_file(InMemoryUnitOfWork(tenant_id, store), path)
        return await histories_in_store(InMemoryUnitOfWork(tenant_id, store))

    histories = asyncio.run(run())
    return sorted(histories, key=lambda h: sorted(h.deal.external_ids.values()))


# -- building histories by hand ------------------------------------------------------------

Move = (
    tuple[Stage, float]
    | tuple[Stage, float, float | None]
    | tuple[Stage, float, float | None, float | None]
)


def deal_history(
    key: str,
    moves: Sequence[Move],
    *,
    created: float | None = None,
    activities: Sequence[float] = (),
    stakeholders: Sequence[tuple[StakeholderRole, float]] = (),
    lost_reason: str | None = None,
) -> DealHistory:
    """A deal named ``key`` whose stage moves are ``(stage, day[, value, probability])``
    (days after ``T0``); the first move is its entry. The deal's current fields are those of
    its last move, as a store would hold them today."""
    deal_id = derive_id(TENANT, EntityKind.DEAL, "test", key)
    transitions = []
    prev: Stage | None = None
    for i, move in enumerate(moves):
        stage, at = move[0], day(move[1])
        value = move[2] if len(move) > 2 else None
        prob = move[3] if len(move) > 3 else None
        transitions.append(
            StageTransition(
                id=derive_id(TENANT, EntityKind.STAGE_TRANSITION, "test", f"{key}#{i}"),
                tenant_id=TENANT,
                deal_id=deal_id,
                from_stage=prev,
                to_stage=stage,
                at=at,
                value=None if value is None else Decimal(str(value)),
                expected_close=(at + timedelta(days=30)).date(),
                probability=prob,
            )
        )
        prev = stage
    last = transitions[-1]
    created_at = day(created) if created is not None else transitions[0].at
    stamps = [created_at, last.at] + [day(a) for a in activities]
    deal = Deal(
        id=deal_id,
        tenant_id=TENANT,
        name=f"Deal {key}",
        account_id=None,
        stage=last.to_stage,
        value=last.value,
        probability=last.probability,
        expected_close=last.expected_close,
        source_stage=last.to_stage.value,
        lost_reason=lost_reason if last.to_stage is Stage.CLOSED_LOST else None,
        created_at=created_at,
        updated_at=max(stamps),
        closed_at=last.at if last.to_stage.is_closed else None,
    )
    return DealHistory(
        deal=deal,
        transitions=tuple(transitions),
        activities=tuple(
            Activity(
                id=derive_id(TENANT, EntityKind.ACTIVITY, "test", f"{key}@{a}"),
                tenant_id=TENANT,
                deal_id=deal_id,
                account_id=None,
                type=ActivityType.CALL,
                occurred_at=day(a),
            )
            for a in sorted(activities)
        ),
        stakeholders=tuple(
            Stakeholder(
                id=derive_id(TENANT, EntityKind.STAKEHOLDER, "test", f"{key}/{i}"),
                tenant_id=TENANT,
                account_id=None,
                deal_id=deal_id,
                contact_id=derive_id(TENANT, EntityKind.CONTACT, "test", f"{key}/{i}"),
                roles=(role,),
                created_at=day(at),
                updated_at=day(at),
            )
            for i, (role, at) in enumerate(stakeholders)
        ),
    )


def random_world(deals: int, *, seed: int, end_day: float = 600.0) -> list[DealHistory]:
    """A small world drawn from a plain stage process: deals are created over the first
    ``end_day - 100`` days, dwell exponentially in each stage, and advance or are lost with
    stage-dependent odds; the data ends at ``end_day``, so late deals are still open."""
    import numpy as np

    rng = np.random.default_rng(seed)
    pipeline = (
        Stage.LEAD,
        Stage.QUALIFICATION,
        Stage.DISCOVERY,
        Stage.DEMO,
        Stage.PROPOSAL,
        Stage.NEGOTIATION,
    )
    p_lose = (0.35, 0.3, 0.25, 0.2, 0.2, 0.15)
    out = []
    for i in range(deals):
        t = float(rng.uniform(0.0, end_day - 100.0))
        value = round(float(rng.lognormal(10.0, 0.8)), 2)
        moves: list[Move] = [(Stage.LEAD, t, value, 0.05)]
        for rank in range(len(pipeline)):
            t += float(rng.exponential(12.0 + 3 * rank))
            if t >= end_day:
                break
            if rng.random() < p_lose[rank]:
                moves.append((Stage.CLOSED_LOST, t, value, 0.0))
                break
            nxt = pipeline[rank + 1] if rank + 1 < len(pipeline) else Stage.CLOSED_WON
            if rng.random() < 0.2:
                value = round(value * float(rng.uniform(0.7, 1.4)), 2)
            moves.append((nxt, t, value, None))
        out.append(deal_history(f"r{seed}-{i}", moves, activities=[moves[0][1] + 1.0]))
    return out


def rewrite_after(h: DealHistory, cutoff: datetime, n: int) -> DealHistory:
    """The same deal with everything after ``cutoff`` changed: later stage moves shifted and
    their outcomes flipped, some open deals won, today's values altered, activities and a
    champion added after the cutoff, and (for a deal open at the cutoff) its objections'
    resolutions flipped unless dated before the cutoff: resolved later, or not at all.
    ``n`` varies the changes between deals."""
    kept = [t for t in h.transitions if t.at < cutoff]
    later = [t for t in h.transitions if t.at >= cutoff]
    swap = {Stage.CLOSED_WON: Stage.CLOSED_LOST, Stage.CLOSED_LOST: Stage.CLOSED_WON}
    changed = []
    for t in later:
        changed.append(
            dataclasses.replace(
                t,
                to_stage=swap.get(t.to_stage, t.to_stage),
                from_stage=swap.get(t.from_stage, t.from_stage) if t.from_stage else None,
                at=t.at + timedelta(days=3),
                value=Decimal(123),
                probability=0.99,
            )
        )
    last = (changed or kept)[-1]
    if last.to_stage.is_open and n % 2 == 0:
        won = dataclasses.replace(
            last,
            id=derive_id(TENANT, EntityKind.STAGE_TRANSITION, "rewrite", str(last.id)),
            from_stage=last.to_stage,
            to_stage=Stage.CLOSED_WON,
            at=max(last.at, cutoff) + timedelta(days=50 + n % 7),
        )
        changed.append(won)
    transitions = tuple(kept + changed)
    final = transitions[-1]
    after = (cutoff - T0).total_seconds() / 86400 + 1
    extra = deal_history(
        f"x{n}",
        [(Stage.LEAD, after)],
        activities=[after, after + 1],
        stakeholders=[(StakeholderRole.CHAMPION, after)],
    )
    deal = dataclasses.replace(
        h.deal,
        stage=final.to_stage,
        value=Decimal(99_999),
        probability=0.01,
        closed_at=final.at if final.to_stage.is_closed else None,
        updated_at=final.at,
    )
    open_then = not kept or kept[-1].to_stage.is_open
    resolved_later = cutoff + timedelta(days=3 + n % 5)

    def flip(o: Objection) -> Objection:
        if o.resolved_at is not None and o.resolved_at < cutoff:
            return o  # a dated resolution before the cutoff is the past, not the future
        if o.resolved:
            return dataclasses.replace(o, resolved=False, resolution=None, resolved_at=None)
        return dataclasses.replace(o, resolved=True, resolution="later", resolved_at=resolved_later)

    flipped = tuple(
        dataclasses.replace(a, objections=tuple(flip(o) for o in a.objections)) if open_then else a
        for a in h.activities
    )
    return dataclasses.replace(
        h,
        deal=deal,
        transitions=transitions,
        activities=flipped + extra.activities,
        stakeholders=h.stakeholders + extra.stakeholders,
    )
