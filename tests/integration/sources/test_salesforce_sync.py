"""The Salesforce connector against the emulator (real HTTPS), into SQLite and PostgreSQL:
a full sync equals the org, stage histories included; an incremental sync picks up exactly
the edits and deletes; rate-limit and quota storms, a crash mid-sync, an expired token and a
bad record all end with the store equal to the org, nothing lost and nothing twice."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from pie.adapters.db.uow import SqlUnitOfWork
from pie.domain.errors import TransientError
from pie.domain.model import EntityKind
from pie.domain.stages import Stage
from pie.sample import generate
from pie.sources.salesforce.client import Credentials, Retry, SalesforceClient
from pie.sources.salesforce.connector import SalesforceSource
from pie.sources.salesforce.emulator import SalesforceEmulator
from pie.sources.salesforce.org import STAGES, Org, org_from_world
from pie.sources.salesforce.sync import SyncResult, sync
from tests.dbfixtures import Database

SOURCE = "salesforce"
#: The emulator's stage labels -> the stage PIE must make of them (custom ones from metadata).
EXPECTED_STAGE = {row[0]: Stage(row[6]) for row in STAGES}


@functools.cache
def world(deals: int = 16) -> bytes:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "w.json"
        generate(path, deals=deals, seed=11, conversations=False)
        return path.read_bytes()


def fresh_org() -> Org:
    import orjson

    return org_from_world(orjson.loads(world()))


@pytest.fixture
def emulator() -> Iterator[SalesforceEmulator]:
    with SalesforceEmulator(fresh_org(), page_size=7) as em:
        yield em


def source(em: SalesforceEmulator, *, refresh: bool = True, **kw: Any) -> SalesforceSource:
    credentials = Credentials(
        client_id=em.client_id,
        client_secret=em.client_secret,
        refresh_token=em.refresh_token if refresh else None,
        login_url=em.url,
        ca_file=em.ca_file,
    )
    client = SalesforceClient(credentials, retry=Retry(attempts=4, base=0.0), sleep=lambda _: None)
    return SalesforceSource(client, **kw)


async def run(db: Database, tenant: UUID, src: SalesforceSource, **kw: Any) -> SyncResult:
    return await sync(SqlUnitOfWork(db.sessions, tenant, writes=True), src, chunk_size=25, **kw)


async def resolve(db: Database, tenant: UUID, kind: EntityKind, ids: list[str]) -> dict[str, UUID]:
    async with db.uow(tenant) as uow:
        return await uow.refs.resolve(kind, SOURCE, ids)


async def count_all(db: Database, tenant: UUID) -> Counter[str]:
    counts: Counter[str] = Counter()
    async with db.uow(tenant) as uow:
        for name, repo in (
            ("accounts", uow.accounts),
            ("contacts", uow.contacts),
            ("deals", uow.deals),
            ("stakeholders", uow.stakeholders),
            ("activities", uow.activities),
            ("transitions", uow.transitions),
        ):
            async for batch in repo.iter_all():  # type: ignore[attr-defined]
                counts[name] += len(batch)
    return counts


def expected_transitions(org: Org, opportunity: str) -> list[tuple[Stage | None, Stage]]:
    rows = sorted(
        (r for r in org.live("OpportunityHistory") if r["OpportunityId"] == opportunity),
        key=lambda r: (r["CreatedDate"], r["Id"]),
    )
    out: list[tuple[Stage | None, Stage]] = []
    previous: Stage | None = None
    for r in rows:
        stage = EXPECTED_STAGE.get(r["StageName"]) or Stage(r["StageName"])
        if stage is not previous:
            out.append((previous, stage))
            previous = stage
    return out


async def assert_store_equals_org(db: Database, tenant: UUID, org: Org) -> None:
    opportunities = org.live("Opportunity")
    counts = await count_all(db, tenant)
    assert counts["accounts"] == len(org.live("Account"))
    assert counts["contacts"] == len(org.live("Contact"))
    assert counts["deals"] == len(opportunities)
    assert counts["stakeholders"] == len(org.live("OpportunityContactRole"))
    assert counts["activities"] == len(org.live("Task")) + len(org.live("Event"))
    deals = await resolve(db, tenant, EntityKind.DEAL, [o["Id"] for o in opportunities])
    assert len(deals) == len(opportunities)
    transitions = 0
    async with db.uow(tenant) as uow:
        for o in opportunities:
            deal = await uow.deals.get(deals[o["Id"]])
            assert deal is not None
            assert deal.name == o["Name"]
            assert deal.source_stage == o["StageName"]
            assert deal.stage is EXPECTED_STAGE.get(o["StageName"], deal.stage)
            assert deal.value == (Decimal(str(o["Amount"])) if o["Amount"] is not None else None)
            assert str(deal.expected_close) == o["CloseDate"]
            assert deal.custom_fields.get("Region__c") == o["Region__c"]
            owner = org.get(o["OwnerId"])
            assert deal.owner == (owner["Name"] if owner else None)
            stored = [(t.from_stage, t.to_stage) for t in await uow.transitions.for_deal(deal.id)]
            assert stored == expected_transitions(org, o["Id"]), o["Id"]
            transitions += len(stored)
    assert counts["transitions"] == transitions


async def test_a_full_sync_equals_the_org(db: Database, emulator: SalesforceEmulator) -> None:
    tenant = (await db.new_tenant()).tenant.id
    src = source(emulator)

    result = await run(db, tenant, src)

    assert result.stopped is None and result.report.rejected == ()
    assert src.pages > 20  # many pages: page size 7
    await assert_store_equals_org(db, tenant, emulator.org)
    # custom stages came from the metadata, without a stage map
    stages = {o["StageName"] for o in emulator.org.live("Opportunity")}
    stages |= {h["StageName"] for h in emulator.org.live("OpportunityHistory")}
    assert {"Technical Validation", "Contract Redlines"} <= stages
