"""A two-sided world for sync tests: PIE's store (in memory, on a virtual clock), the fake CRM
on the same clock, and a SyncEngine between them. Agents and people edit either side through
the helpers; ``run()`` runs the engine once."""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from pie.domain.crm_fields import RecordKind
from pie.domain.model import Deal
from pie.domain.ownership import HUMAN, PIE
from pie.domain.stages import Stage
from pie.ports.crm import FieldValue
from pie.ports.sync import Conflict
from pie.sync.engine import RunReport, SyncConfig, SyncEngine
from pie.sync.store import from_model
from tests.fakes.crm import FakeCrm, VirtualClock
from tests.fakes.uow import InMemoryStore, InMemoryUnitOfWork

CONN = "notion"


class PieClock:
    """PIE's clock: the world's (true) clock plus an offset, so PIE's clock can jump back
    while the CRM's keeps going. Sleeping lets true time pass."""

    def __init__(self, true: VirtualClock) -> None:
        self.true = true
        self.offset = 0.0

    def now(self) -> datetime:
        return self.true.now() + timedelta(seconds=self.offset)

    async def sleep(self, seconds: float) -> None:
        await self.true.sleep(seconds)

    def jump(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class World:
    clock: VirtualClock  # true time (the CRM's clock is this plus its skew)
    store: InMemoryStore
    tenant: UUID
    crm: FakeCrm
    engine: SyncEngine
    pie_clock: PieClock
    reports: list[RunReport] = field(default_factory=list)
    made: int = 0  # deals made here: their ids are deterministic (replayable examples)
    restarts: int = 0

    def uow(self) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self.tenant, self.store, clock=self.pie_clock.now)

    def restart(self) -> None:
        """PIE's process died and came back: a new engine (nothing in memory survives, its
        limiter starts afresh) on the same store and CRM."""
        self.restarts += 1
        self.clock.advance(5.0)  # a process takes a few seconds to come back
        self.engine = SyncEngine(
            self.uow,
            self.crm,
            config=self.engine.config,
            clock=self.pie_clock,
            rng=random.Random(self.restarts),
        )

    async def run(self, **kwargs: Any) -> RunReport:
        report = await self.engine.run_once(**kwargs)
        self.reports.append(report)
        return report

    # --- PIE's side ------------------------------------------------------------------------

    async def add_deal(self, name: str = "Acme", **values: Any) -> UUID:
        now = self.pie_clock.now()
        self.made += 1
        deal = Deal(
            id=UUID(int=(0xD << 124) + self.made),
            tenant_id=self.tenant,
            name=name,
            account_id=None,
            stage=values.pop("stage", Stage.DISCOVERY),
            created_at=now,
            updated_at=now,
            **values,
        )
        async with self.uow() as uow:
            await uow.deals.add(deal, origin=PIE)
            await uow.commit()
        return deal.id

    async def edit_deal(self, deal_id: UUID, origin: str = PIE, **values: Any) -> None:
        converted = {k: _model_value(k, v) for k, v in values.items()}
        async with self.uow() as uow:
            deal = await uow.deals.get(deal_id)
            assert deal is not None
            changed = dataclasses.replace(deal, updated_at=self.pie_clock.now(), **converted)
            await uow.deals.update(
                changed, origin=origin, fields=frozenset(converted) | {"updated_at"}
            )
            await uow.commit()

    async def delete_deal(self, deal_id: UUID, origin: str = PIE) -> None:
        async with self.uow() as uow:
            await uow.deals.delete(deal_id, origin=origin)
            await uow.commit()

    async def pie_deal(self, deal_id: UUID) -> dict[str, FieldValue] | None:
        async with self.uow() as uow:
            deal = await uow.deals.get(deal_id)
        return None if deal is None else from_model(RecordKind.DEAL, deal)

    async def conflicts(self) -> list[Conflict]:
        async with self.uow() as uow:
            return list(await uow.sync.conflicts(CONN, limit=10_000))

    async def external_id(self, deal_id: UUID) -> str | None:
        async with self.uow() as uow:
            link = await uow.sync.link(CONN, RecordKind.DEAL, deal_id)
        return None if link is None else link.external_id

    # --- the CRM's side --------------------------------------------------------------------

    def page(self, external_id: str) -> dict[str, FieldValue]:
        return dict(self.crm.record(RecordKind.DEAL, external_id).fields)


def _model_value(name: str, value: Any) -> Any:
    if name == "stage" and isinstance(value, str):
        return Stage(value)
    if name == "value" and value is not None:
        return Decimal(str(value)).quantize(Decimal("0.01"))
    if name == "expected_close" and isinstance(value, str):
        return datetime.fromisoformat(value).date()
    return value


async def make_world(
    *, config: SyncConfig | None = None, seed: int = 0, crm: FakeCrm | None = None, **crm_kw: Any
) -> World:
    clock = crm.clock if crm is not None else VirtualClock()
    store = InMemoryStore()
    from tests.fakes.uow import FakeTenantDirectory

    tenant = (await FakeTenantDirectory(store, clock=clock.now).create("sync")).tenant.id
    fake = crm or FakeCrm(clock, **crm_kw)
    pie_clock = PieClock(clock)
    world_uow = lambda: InMemoryUnitOfWork(tenant, store, clock=pie_clock.now)  # noqa: E731
    engine = SyncEngine(
        world_uow,
        fake,
        config=config or SyncConfig(connection=CONN),
        clock=pie_clock,
        rng=random.Random(seed),
    )
    return World(clock, store, tenant, fake, engine, pie_clock)


__all__ = ["CONN", "HUMAN", "PIE", "PieClock", "World", "make_world"]
