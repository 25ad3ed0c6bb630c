"""A few deals per tenant, written through the real unit of work, each with a source id
(test:PREFIX-NAME; the account test:PREFIX)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

from pie.domain.model import (
    Account,
    Deal,
    EntityKind,
    ExternalRef,
    StageTransition,
    derive_id,
)
from pie.domain.stages import Stage
from pie.ports.uow import UnitOfWork

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Seeded:
    account_id: UUID
    deal_ids: dict[str, UUID]  # by name


async def seed_tenant(uow: UnitOfWork, prefix: str) -> Seeded:
    tid = uow.tenant_id
    account = Account(
        id=derive_id(tid, EntityKind.ACCOUNT, "test", prefix),
        tenant_id=tid,
        name=f"{prefix} Corp",
        industry="Software",
        created_at=T0,
        updated_at=T0,
    )
    specs = [
        ("open-demo", Stage.DEMO, 1000, None),
        ("open-negotiation", Stage.NEGOTIATION, 5000, None),
        ("won", Stage.CLOSED_WON, 3000, T0 + timedelta(days=40)),
    ]
    ids: dict[str, UUID] = {}
    async with uow:
        await uow.accounts.add(account)
        for i, (name, stage, value, closed) in enumerate(specs):
            deal = Deal(
                id=derive_id(tid, EntityKind.DEAL, "test", f"{prefix}-{name}"),
                tenant_id=tid,
                name=f"{prefix} {name}",
                account_id=account.id,
                stage=stage,
                value=Decimal(value),
                created_at=T0 + timedelta(days=i),
                updated_at=T0 + timedelta(days=i),
                closed_at=closed,
            )
            await uow.deals.add(deal)
            await uow.transitions.add(
                StageTransition(
                    id=derive_id(tid, EntityKind.STAGE_TRANSITION, deal.id, 0),
                    tenant_id=tid,
                    deal_id=deal.id,
                    from_stage=None,
                    to_stage=Stage.LEAD,
                    at=deal.created_at,
                    value=deal.value,
                )
            )
            await uow.transitions.add(
                StageTransition(
                    id=derive_id(tid, EntityKind.STAGE_TRANSITION, deal.id, 1),
                    tenant_id=tid,
                    deal_id=deal.id,
                    from_stage=Stage.LEAD,
                    to_stage=stage,
                    at=deal.created_at + timedelta(days=5),
                    days_in_from_stage=5.0,
                    value=deal.value,
                )
            )
            ids[name] = deal.id
        named = [(EntityKind.ACCOUNT, prefix, account.id)]
        named += [(EntityKind.DEAL, f"{prefix}-{name}", deal_id) for name, deal_id in ids.items()]
        refs = [
            ExternalRef(
                tenant_id=tid, kind=kind, source="test", external_id=external, entity_id=entity
            )
            for kind, external, entity in named
        ]
        await uow.refs.upsert_many(refs)
        await uow.commit()
    return Seeded(account.id, ids)
