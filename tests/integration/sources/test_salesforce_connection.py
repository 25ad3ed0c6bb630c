"""Salesforce through the registry and the connection use cases, on SQLite and PostgreSQL:
the emulator the registry starts, ``connect`` checking the OAuth credentials, a full sync and
an incremental one (edits and a delete), a refused secret, and the quota stop recorded."""

from __future__ import annotations

from uuid import UUID

import pytest

from pie.domain.errors import ConnectorError, PermanentError
from pie.domain.model import EntityKind
from pie.importing import import_source
from pie.services import connections as svc
from pie.sources import registry
from pie.sources.registry import Connector, EmulatorOptions
from pie.sources.salesforce.registration import RunningSalesforce
from tests.dbfixtures import Database
from tests.integration.connect.conftest import deps_over


def test_salesforce_is_registered_with_its_emulator() -> None:
    conn = registry.connector("salesforce")
    assert isinstance(conn, Connector)
    assert [f.name for f in conn.auth_flows[0].fields] == [
        "client_id",
        "client_secret",
        "refresh_token",
        "ca_file",
    ]
    assert [f.secret for f in conn.auth_flows[0].fields] == [False, True, True, False]
    assert [f.name for f in conn.auth_flows[1].fields] == ["client_id", "client_secret", "ca_file"]
    emulator = registry.emulator("salesforce")
    running = emulator.serve("127.0.0.1", 0, EmulatorOptions(deals=3, page_size=2))
    try:
        assert running.base_url.startswith("https://127.0.0.1:")
        assert "--refresh-token" in emulator.connect_hint(running.base_url)
    finally:
        running.stop()


async def test_connect_then_sync_and_resync_through_the_use_cases(db: Database) -> None:
    deps = deps_over(db)
    tenant: UUID = (await db.new_tenant("salesforce")).tenant.id
    running = registry.emulator("salesforce").serve(
        "127.0.0.1", 0, EmulatorOptions(deals=6, seed=5, page_size=5)
    )
    assert isinstance(running, RunningSalesforce)
    em = running.emulator
    values = {
        "client_id": em.client_id,
        "client_secret": em.client_secret,
        "refresh_token": em.refresh_token,
        "ca_file": em.ca_file or "",
    }
    try:
        with pytest.raises(PermanentError, match="refused the credentials"):
            await svc.connect(
                deps, tenant, "salesforce", {**values, "client_secret": "wrong"},
                base_url=running.base_url,
            )  # fmt: skip
        c, checked = await svc.connect(deps, tenant, "salesforce", values, base_url=em.url)
        assert checked is not None and em.url in checked

        first = await svc.run_sync(deps, tenant, c.id, full=True)
        org = em.org
        assert first.status == "succeeded"
        assert first.counts["deal"].created == len(org.live("Opportunity"))
        assert first.counts["stage_transition"].created > len(org.live("Opportunity"))

        deal, gone = org.live("Opportunity")[:2]
        org.update(deal["Id"], {"Name": "Edited in Salesforce"})
        org.delete(gone["Id"])
        second = await svc.run_sync(deps, tenant, c.id)
        assert second.status == "succeeded"
        assert second.counts["deal"].updated == 1
        assert second.counts["deal"].deleted == 1 and second.records_deleted >= 1
        async with db.uow(tenant) as uow:
            ids = await uow.refs.resolve(EntityKind.DEAL, "salesforce", [deal["Id"]])
            stored = await uow.deals.get(ids[deal["Id"]])
            assert stored is not None and stored.name == "Edited in Salesforce"
            assert await uow.deals.count() == len(org.live("Opportunity"))

        org.update(deal["Id"], {"Name": "Edited again"})
        em.fail(403, at=3)  # the daily quota runs out mid-sync: stop, checkpoint, report
        with pytest.raises(ConnectorError, match="REQUEST_LIMIT_EXCEEDED"):
            await svc.run_sync(deps, tenant, c.id)
        third = await svc.run_sync(deps, tenant, c.id)
        assert third.status == "succeeded"

        # past the recycle-bin horizon: the connector's after_sync hook reconciles
        org.delete(deal["Id"])
        org.purge_recycle_bin()
        conn = registry.connector("salesforce")
        source = svc.CountingSource(
            conn.source(await svc.config_of(deps, c), full=False), name=c.name
        )
        report = await import_source(
            deps.uow(tenant), source, conn.make_mapper, vendor="salesforce", skip_bad_rows=True
        )
        async with db.uow(tenant) as uow:
            assert await uow.deals.count() == len(org.live("Opportunity")) + 1  # not yet
        await conn.after_sync(deps.uow(tenant), source, report)  # type: ignore[attr-defined]
        async with db.uow(tenant) as uow:
            assert await uow.deals.count() == len(org.live("Opportunity"))
    finally:
        running.stop()


async def test_records_rejected_by_a_sync_are_read_again_by_the_next_one(db: Database) -> None:
    """The retry list runs through the use case (the connector's before_sync / after_sync):
    a deal rejected for a bad value, fixed in Salesforce, lands with the tasks and events
    that refer to it, though the cursor passed them."""
    deps = deps_over(db)
    tenant: UUID = (await db.new_tenant("salesforce")).tenant.id
    running = registry.emulator("salesforce").serve(
        "127.0.0.1", 0, EmulatorOptions(deals=6, seed=5, page_size=50)
    )
    assert isinstance(running, RunningSalesforce)
    em, org = running.emulator, running.emulator.org
    values = {
        "client_id": em.client_id,
        "client_secret": em.client_secret,
        "refresh_token": em.refresh_token,
        "ca_file": em.ca_file or "",
    }
    try:
        c, _ = await svc.connect(deps, tenant, "salesforce", values, base_url=running.base_url)
        activities = org.live("Task") + org.live("Event")
        bad = next(
            o for o in org.live("Opportunity") if any(a["WhatId"] == o["Id"] for a in activities)
        )
        org.update(bad["Id"], {"Amount": -500.0})  # Salesforce allows it, PIE does not
        first = await svc.run_sync(deps, tenant, c.id, full=True)
        assert bad["Id"] in {f.record_id for f in first.failed}
        async with db.uow(tenant) as uow:
            assert await uow.deals.count() == len(org.live("Opportunity")) - 1

        org.update(bad["Id"], {"Amount": 500.0})
        second = await svc.run_sync(deps, tenant, c.id)

        assert second.failed == []
        async with db.uow(tenant) as uow:
            assert await uow.deals.count() == len(org.live("Opportunity"))
            deal = (await uow.refs.resolve(EntityKind.DEAL, "salesforce", [bad["Id"]]))[bad["Id"]]
            along = [a for a in activities if a["WhatId"] == bad["Id"]]
            assert len(await uow.activities.for_deal(deal)) == len(along)
    finally:
        running.stop()
