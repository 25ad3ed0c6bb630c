"""Pipedrive through the registry and the connection use cases, on SQLite and PostgreSQL: the
emulator the registry starts, ``connect`` checking the token, a full sync and an incremental
one after edits in the emulator, and a refused token."""

from __future__ import annotations

from uuid import UUID

import pytest

from pie.domain.errors import PermanentError, TransientError
from pie.domain.model import EntityKind
from pie.services import connections as svc
from pie.sources import registry
from pie.sources.pipedrive.client import PipedriveClient
from pie.sources.pipedrive.emulator import DEFAULT_TOKEN
from pie.sources.pipedrive.registration import RunningPipedrive
from pie.sources.registry import Connector, EmulatorOptions
from tests.dbfixtures import Database
from tests.integration.connect.conftest import deps_over


def test_pipedrive_is_registered_with_its_emulator() -> None:
    conn = registry.connector("pipedrive")
    assert isinstance(conn, Connector)
    assert [f.name for f in conn.auth_flows[0].fields] == ["api_token"]
    assert conn.auth_flows[0].fields[0].secret
    emulator = registry.emulator("pipedrive")
    running = emulator.serve("127.0.0.1", 0, EmulatorOptions(deals=3, page_size=2))
    try:
        assert running.base_url.startswith("http://127.0.0.1:")
        assert DEFAULT_TOKEN in emulator.connect_hint(running.base_url)
    finally:
        running.stop()


async def test_connect_then_sync_and_resync_through_the_use_cases(db: Database) -> None:
    deps = deps_over(db)
    tenant: UUID = (await db.new_tenant("pipedrive")).tenant.id
    running = registry.emulator("pipedrive").serve(
        "127.0.0.1", 0, EmulatorOptions(deals=6, seed=5, page_size=3)
    )
    assert isinstance(running, RunningPipedrive)
    try:
        with pytest.raises(PermanentError, match="refused the API token"):
            await svc.connect(
                deps, tenant, "pipedrive", {"api_token": "wrong"}, base_url=running.base_url
            )
        c, checked = await svc.connect(
            deps, tenant, "pipedrive", {"api_token": DEFAULT_TOKEN}, base_url=running.base_url
        )
        assert checked == "company PIE Emulator (pie-emulator)"

        first = await svc.run_sync(deps, tenant, c.id, full=True)
        world = running.emulator.world
        assert first.status == "succeeded"
        assert first.counts["deal"].created == len(world.records["deals"])

        deal = world.all("deals")[0]
        world.update("deals", deal["id"], title="Edited in Pipedrive")
        world.delete("deals", world.all("deals")[1]["id"])
        second = await svc.run_sync(deps, tenant, c.id)
        assert second.counts["deal"].updated == 1
        async with db.uow(tenant) as uow:
            ids = await uow.refs.resolve(EntityKind.DEAL, "pipedrive", [str(deal["id"])])
            stored = await uow.deals.get(ids[str(deal["id"])])
            assert stored is not None and stored.name == "Edited in Pipedrive"
            assert await uow.deals.count() == len(world.records["deals"]) - 1
    finally:
        running.stop()


async def test_the_registered_emulator_takes_the_cli_switches() -> None:
    options = EmulatorOptions(
        deals=3, fail_on=2, fail_with="quota", extra={"token": "t0k3n", "burst": "50"}
    )
    running = registry.emulator("pipedrive").serve("127.0.0.1", 0, options)
    try:
        async with PipedriveClient(running.base_url, "t0k3n") as client:
            first = await client.get("/api/v2/pipelines")
            assert first["success"]
            with pytest.raises(TransientError, match="budget"):
                await client.get("/api/v2/pipelines")  # request 2: the daily budget is spent
    finally:
        running.stop()
