"""Deal histories for the event-log tests: a few by hand and a seeded random batch."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import numpy as np

from pie.domain.history import DealHistory
from pie.domain.model import (
    Account,
    Activity,
    ActivityType,
    Deal,
    EntityKind,
    StageTransition,
    Stakeholder,
    StakeholderRole,
    derive_id,
)
from pie.domain.stages import OPEN_PIPELINE, Stage

TENANT = UUID("00000000-0000-4000-8000-000000000001")
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def make_history(
    key: str,
    path: Sequence[tuple[Stage, datetime]],
    *,
    owner: str | None = "ana",
    account: str | None = "Acme",
    value: str | None = "12000.50",
    contacts: int = 0,
) -> DealHistory:
    """A deal that entered each stage of ``path`` at its time, in that order."""
    deal_id = derive_id(TENANT, EntityKind.DEAL, "test", key)
    acct = (
        None
        if account is None
        else Account(
            id=derive_id(TENANT, EntityKind.ACCOUNT, "test", account),
            tenant_id=TENANT,
            name=account,
            industry="software",
            employees=120,
            created_at=T0,
            updated_at=T0,
        )
    )
    transitions = tuple(
        StageTransition(
            id=derive_id(TENANT, EntityKind.STAGE_TRANSITION, "test", key, i),
            tenant_id=TENANT,
            deal_id=deal_id,
            from_stage=None if i == 0 else path[i - 1][0],
            to_stage=stage,
            at=at,
            value=None if value is None else Decimal(value),
        )
        for i, (stage, at) in enumerate(path)
    )
    contact_ids = [derive_id(TENANT, EntityKind.CONTACT, "test", key, c) for c in range(contacts)]
    stakeholders = tuple(
        Stakeholder(
            id=derive_id(TENANT, EntityKind.STAKEHOLDER, "test", key, c),
            tenant_id=TENANT,
            account_id=None if acct is None else acct.id,
            deal_id=deal_id,
            contact_id=cid,
            roles=(StakeholderRole.CHAMPION,) if c == 0 else (),
            created_at=T0,
            updated_at=T0,
        )
        for c, cid in enumerate(contact_ids)
    )
    activities = tuple(
        Activity(
            id=derive_id(TENANT, EntityKind.ACTIVITY, "test", key, c),
            tenant_id=TENANT,
            deal_id=deal_id,
            account_id=None if acct is None else acct.id,
            type=ActivityType.CALL if c % 2 else ActivityType.EMAIL,
            occurred_at=path[0][1] + timedelta(hours=c + 1),
            participants=(cid,),
            subject=f'call {c} <&> "quoted"',
        )
        for c, cid in enumerate(contact_ids)
    )
    deal = Deal(
        id=deal_id,
        tenant_id=TENANT,
        name=f"Deal {key} & <co>",
        account_id=None if acct is None else acct.id,
        stage=path[-1][0] if path else Stage.LEAD,
        value=None if value is None else Decimal(value),
        owner=owner,
        created_at=path[0][1] if path else T0,
        updated_at=path[-1][1] if path else T0,
    )
    return DealHistory(
        deal=deal,
        account=acct,
        transitions=transitions,
        stakeholders=stakeholders,
        activities=activities,
    )


def hand_built() -> list[DealHistory]:
    d = timedelta(days=1)
    return [
        make_history(
            "a",
            [(Stage.LEAD, T0), (Stage.QUALIFICATION, T0 + 2 * d), (Stage.CLOSED_WON, T0 + 5 * d)],
            contacts=2,
        ),
        make_history(
            "b",
            [(Stage.LEAD, T0), (Stage.QUALIFICATION, T0 + 4 * d), (Stage.CLOSED_LOST, T0 + 6 * d)],
            owner=None,
        ),
        make_history(
            "c",
            [
                (Stage.LEAD, T0 + d),
                (Stage.QUALIFICATION, T0 + 2 * d),
                (Stage.STALLED, T0 + 9 * d),
                (Stage.QUALIFICATION, T0 + 12 * d),
            ],
            account=None,
            value=None,
            contacts=1,
        ),
        make_history("d", [(Stage.LEAD, T0 + 3 * d)], account="Globex"),
    ]


def random_histories(n: int, seed: int) -> list[DealHistory]:
    """``n`` deals walking the pipeline at random: forward, skip, back, stall, win or lose,
    with strictly increasing times (seconds resolution) within a deal."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        at = T0 + timedelta(seconds=int(rng.integers(0, 86_400 * 90)))
        rank = 0
        path = [(Stage.LEAD, at)]
        for _ in range(int(rng.integers(0, 8))):
            at += timedelta(seconds=int(rng.integers(60, 86_400 * 20)))
            move = rng.random()
            current = path[-1][0]
            if current.is_closed:
                break
            if current is Stage.STALLED:
                stage = OPEN_PIPELINE[rank]
            elif move < 0.55:
                rank = min(rank + 1 + int(move < 0.1), len(OPEN_PIPELINE) - 1)
                stage = OPEN_PIPELINE[rank]
            elif move < 0.65 and rank > 0:
                rank -= 1
                stage = OPEN_PIPELINE[rank]
            elif move < 0.75:
                stage = Stage.STALLED
            else:
                stage = Stage.CLOSED_WON if move < 0.85 else Stage.CLOSED_LOST
            if stage is current:
                continue
            path.append((stage, at))
        out.append(
            make_history(
                f"r{k}",
                path,
                owner=f"rep{k % 7}",
                account=f"Account {k % 40}",
                contacts=int(k % 3 == 0),
            )
        )
    return out
