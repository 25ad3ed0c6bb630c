"""The store adapter for the CRM contract suite: one unit of work per test (committed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pie.ports.crm import CrmAdapter
from pie.sync.store import StoreCrmAdapter
from tests.dbfixtures import Database


@asynccontextmanager
async def store_harness(db: Database) -> AsyncIterator[CrmAdapter]:
    made = await db.new_tenant()
    async with db.uow(made.tenant.id) as uow:
        yield StoreCrmAdapter(uow, origin="pie")
        await uow.commit()
