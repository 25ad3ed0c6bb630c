"""``ColumnReader`` on SQL: one streamed query per table selecting only the needed columns,
straight into ``DealColumns`` (no domain object per deal, transition or activity)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import numpy as np
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pie.domain.model import EntityKind
from pie.domain.stages import Stage
from pie.mining.columns import NO_TIME, ColumnsBuilder, DealColumns, role_bits
from pie.mining.eventlog_arrays import to_micros
from pie.simulation.streams import identity_of

from .repositories import ACCOUNTS, DEALS, REFS, STAKEHOLDERS
from .tables import ActivityRow, StageTransitionRow

ACTS = ActivityRow.__table__
TRANS = StageTransitionRow.__table__
BATCH = 20_000


def _us(at: datetime | None) -> int:
    return NO_TIME if at is None else to_micros(at)


def _float(x: Any) -> float:
    return np.nan if x is None else float(x)


class SqlColumnReader:
    def __init__(self, session: AsyncSession, tenant_id: UUID) -> None:
        self._session, self._tenant = session, tenant_id

    async def _rows(self, stmt: Select[Any]) -> AsyncIterator[Sequence[Any]]:
        result = await self._session.stream(stmt.execution_options(yield_per=BATCH))
        async for part in result.partitions(BATCH):
            yield part

    async def read(self) -> DealColumns:
        b, me = ColumnsBuilder(), self._tenant
        ids: dict[UUID, dict[str, str]] = {}
        refs = select(REFS.c.entity_id, REFS.c.source, REFS.c.external_id).where(
            REFS.c.tenant_id == me, REFS.c.kind == str(EntityKind.DEAL)
        )
        async for part in self._rows(refs):
            for entity, source, external in part:
                ids.setdefault(entity, {})[source] = external
        d, a = DEALS.c, ACCOUNTS.c
        deals = (
            select(
                d.id,
                d.source,
                d.stage,
                d.created_at,
                d.closed_at,
                d.value,
                a.industry,
                d.probability,
            )
            .outerjoin(ACCOUNTS, ACCOUNTS.c.id == d.account_id)
            .where(d.tenant_id == me)
            .order_by(d.id)
        )
        async for part in self._rows(deals):
            for deal_id, source, stage, created, closed, value, industry, prob in part:
                stream = identity_of(deal_id, source, ids.get(deal_id, {}))
                b.deal(
                    deal_id, stream, Stage(stage), _us(created), _us(closed), _float(value),
                    industry, prob,
                )  # fmt: skip
        del ids
        t = TRANS.c
        trans = select(
            t.deal_id, t.from_stage, t.to_stage, t.at, t.days_in_from_stage, t.value, t.probability
        )
        async for part in self._rows(trans.where(t.tenant_id == me).order_by(t.id)):
            b.transitions(part)
        s = STAKEHOLDERS.c
        stakes = select(s.deal_id, s.contact_id, s.created_at, s.roles).where(
            s.tenant_id == me, s.deal_id.is_not(None)
        )
        async for part in self._rows(stakes.order_by(s.id)):
            for deal_id, contact, created, roles in part:
                b.stake["deal"].append(deal_id)
                b.stake["contact"].append(b.contact_code(contact))
                b.stake["at"].append(_us(created))
                b.stake["roles"].append(role_bits(roles))
        c = ACTS.c
        dialect = self._session.get_bind().dialect.name
        length = func.jsonb_array_length if dialect == "postgresql" else func.json_array_length
        has = length(c.objections) > 0
        acts = select(c.deal_id, c.occurred_at, has, c.id).where(
            c.tenant_id == me, c.deal_id.is_not(None)
        )
        async for part in self._rows(acts.order_by(c.id)):
            for deal_id, at, obj, act_id in part:
                b.acts["deal"].append(deal_id)
                b.acts["at"].append(_us(at))
                b.acts["obj"].append(bool(obj))
                b.acts["key"].append(act_id)
        with_objections = select(c.deal_id).where(c.tenant_id == me, has)
        detail = select(c.id, c.participants, c.objections).where(
            c.tenant_id == me, c.deal_id.in_(with_objections)
        )
        async for part in self._rows(detail.order_by(c.id)):
            for act_id, people, objections in part:
                for person in people:
                    b.parts["key"].append(act_id)
                    b.parts["contact"].append(b.contact_code(UUID(str(person))))
                for o in objections:
                    b.objs["key"].append(act_id)
                    b.objs["resolved"].append(bool(o["resolved"]))
                    at = o.get("resolved_at")
                    dated = o["resolved"] and at
                    b.objs["at"].append(to_micros(datetime.fromisoformat(at)) if dated else NO_TIME)
        return b.build()
