"""The Notion adapter for the CRM contract suite: against the emulator over real HTTP, with
the official notion-client; the emulator's clock is virtual, so ``advance`` moves it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from pie.adapters.notion import NotionAdapter, RetryPolicy
from pie.adapters.notion.setup import create_databases
from pie.domain.crm_fields import RecordKind
from pie.ports.credentials import Secret
from pie.sources.notion.emulator import Clock, NotionEmulator
from tests.emulators.notion import BOT, TOKEN


@asynccontextmanager
async def notion_harness(
    retry: RetryPolicy | None = None,
    *,
    timeout_s: float = 30.0,
) -> AsyncIterator[tuple[NotionAdapter, NotionEmulator, Clock]]:
    clock = Clock(frozen=datetime.now(UTC).replace(second=7, microsecond=0))
    with NotionEmulator(tokens={TOKEN: BOT}, clock=clock) as emu:
        targets = await create_databases(
            Secret(TOKEN), emu.workspace.root_page_id, base_url=emu.url
        )
        deals = targets[RecordKind.DEAL]
        contacts = targets[RecordKind.CONTACT]
        # only the database ids: the adapter resolves the data sources itself
        adapter = NotionAdapter(
            Secret(TOKEN),
            deals=type(deals)(deals.database_id),
            contacts=type(contacts)(contacts.database_id),
            base_url=emu.url,
            retry=retry,
            timeout_s=timeout_s,
        )
        await adapter.open()
        try:
            yield adapter, emu, clock
        finally:
            await adapter.aclose()
