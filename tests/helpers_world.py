"""Deal histories for tests: loaded from a ``pie/v1`` JSON file, or built by hand.

``load_histories`` is a small, test-only reader of the format in docs/pie-json-format.md (the
real importer streams into the store); it gives every record the id the importer would derive
from its external id. ``deal_history`` builds one history from a list of stage moves.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from pie.domain.history import DealHistory
from pie.domain.model import (
    Account,
    Activity,
    ActivityOutcome,
    ActivityType,
    Deal,
    EntityKind,
    Objection,
    StageTransition,
    Stakeholder,
    StakeholderRole,
    derive_id,
)
from pie.domain.stages import Stage, parse_stage

TENANT = UUID("00000000-0000-4000-8000-000000000001")
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def day(n: float) -> datetime:
    """``n`` days after ``T0``."""
    return T0 + timedelta(days=n)


def _ts(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _date(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


def _money(v: Any) -> Decimal | None:
    return None if v is None else Decimal(str(v))


def _stage(name: str) -> Stage:
    stage = parse_stage(name)
    if stage is None:
        raise ValueError(f"unknown stage {name!r}")
    return stage


def load_histories(path: Path, *, tenant_id: UUID = TENANT) -> list[DealHistory]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    source = doc.get("source", "file")

    def rid(kind: EntityKind, ext: str) -> UUID:
        return derive_id(tenant_id, kind, source, ext)

    accounts: dict[str, Account] = {}
    for a in doc.get("accounts", []):
        created = _ts(a.get("created_at")) or T0
        accounts[a["id"]] = Account(
            id=rid(EntityKind.ACCOUNT, a["id"]),
            tenant_id=tenant_id,
            name=a["name"],
            domain=a.get("domain"),
            industry=a.get("industry"),
            employees=a.get("employees"),
            annual_revenue=_money(a.get("annual_revenue")),
            country=a.get("country"),
            owner=a.get("owner"),
            external_ids={source: a["id"]},
            custom_fields=a.get("custom_fields", {}),
            created_at=created,
            updated_at=_ts(a.get("updated_at")) or created,
        )
    return [_deal(d, source, tenant_id, accounts, rid) for d in doc.get("deals", [])]


def _deal(
    d: dict[str, Any],
    source: str,
    tenant_id: UUID,
    accounts: dict[str, Account],
    rid: Any,
) -> DealHistory:
    deal_id = rid(EntityKind.DEAL, d["id"])
    account = accounts.get(d["account"]) if d.get("account") else None
    created = _ts(d["created_at"])
    assert created is not None
    transitions: list[StageTransition] = []
    for i, t in enumerate(d.get("stage_history", [])):
        at = _ts(t["at"])
        assert at is not None
        prev = transitions[-1].at if transitions else None
        transitions.append(
            StageTransition(
                id=rid(EntityKind.STAGE_TRANSITION, f"{d['id']}#{i}"),
                tenant_id=tenant_id,
                deal_id=deal_id,
                from_stage=_stage(t["from"]) if t.get("from") else None,
                to_stage=_stage(t["to"]),
                at=at,
                days_in_from_stage=None if prev is None else (at - prev).total_seconds() / 86400,
                value=_money(t.get("value")),
                expected_close=_date(t.get("expected_close")),
                probability=t.get("probability"),
            )
        )
    activities = [
        Activity(
            id=rid(EntityKind.ACTIVITY, a["id"]),
            tenant_id=tenant_id,
            deal_id=deal_id,
            account_id=account.id if account else None,
            type=ActivityType(a["type"]),
            occurred_at=_ts(a["at"]) or created,
            participants=tuple(rid(EntityKind.CONTACT, c) for c in a.get("participants", [])),
            outcome=ActivityOutcome(a.get("outcome", "unknown")),
            subject=a.get("subject"),
            summary=a.get("summary"),
            objections=tuple(
                Objection(
                    objection=o["objection"],
                    resolved=o.get("resolved", False),
                    resolution=o.get("resolution"),
                )
                for o in a.get("objections", [])
            ),
            raw_content=a.get("content"),
        )
        for a in d.get("activities", [])
    ]
    # pie/v1 stakeholders carry no dates and today's roles; unless the file dates them, they
    # count as known only from the deal's last update, so no role leaks into the past.
    last_update = _ts(d.get("updated_at")) or created
    stakeholders = [
        Stakeholder(
            id=rid(EntityKind.STAKEHOLDER, f"{d['id']}/{s['contact']}"),
            tenant_id=tenant_id,
            account_id=account.id if account else None,
            deal_id=deal_id,
            contact_id=rid(EntityKind.CONTACT, s["contact"]),
            roles=tuple(StakeholderRole(r) for r in s.get("roles", [])),
            is_primary=s.get("primary", False),
            sentiment=s.get("sentiment"),
            engagement=s.get("engagement"),
            created_at=_ts(s.get("created_at")) or last_update,
            updated_at=_ts(s.get("updated_at")) or _ts(s.get("created_at")) or last_update,
        )
        for s in d.get("stakeholders", [])
    ]
    deal = Deal(
        id=deal_id,
        tenant_id=tenant_id,
        name=d["name"],
        account_id=account.id if account else None,
        stage=_stage(d["stage"]),
        value=_money(d.get("value")),
        currency=d.get("currency", "USD"),
        source_stage=d["stage"],
        probability=d.get("probability"),
        expected_close=_date(d.get("expected_close")),
        owner=d.get("owner"),
        product_line=d.get("product_line"),
        source=source,
        lead_source=d.get("lead_source"),
        lost_reason=d.get("lost_reason"),
        qualification=d.get("qualification", {}),
        custom_fields=d.get("custom_fields", {}),
        external_ids={source: d["id"]},
        created_at=created,
        updated_at=_ts(d.get("updated_at")) or created,
        closed_at=_ts(d.get("closed_at")),
    )
    return DealHistory(
        deal=deal,
        account=account,
        transitions=tuple(sorted(transitions, key=lambda t: t.at)),
        stakeholders=tuple(stakeholders),
        activities=tuple(sorted(activities, key=lambda a: a.occurred_at)),
    )


# -- building histories by hand ------------------------------------------------------------

Move = tuple[Stage, float] | tuple[Stage, float, float | None, float | None]


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
    resolutions flipped, as if resolved later. ``n`` varies the changes between deals."""
    kept = [t for t in h.transitions if t.at < cutoff]
    later = [t for t in h.transitions if t.at >= cutoff]
    flip = {Stage.CLOSED_WON: Stage.CLOSED_LOST, Stage.CLOSED_LOST: Stage.CLOSED_WON}
    changed = []
    for t in later:
        changed.append(
            dataclasses.replace(
                t,
                to_stage=flip.get(t.to_stage, t.to_stage),
                from_stage=flip.get(t.from_stage, t.from_stage) if t.from_stage else None,
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
    flipped = tuple(
        dataclasses.replace(
            a,
            objections=tuple(
                dataclasses.replace(o, resolved=not o.resolved, resolution="later")
                for o in a.objections
            ),
        )
        if open_then
        else a
        for a in h.activities
    )
    return dataclasses.replace(
        h,
        deal=deal,
        transitions=transitions,
        activities=flipped + extra.activities,
        stakeholders=h.stakeholders + extra.stakeholders,
    )
