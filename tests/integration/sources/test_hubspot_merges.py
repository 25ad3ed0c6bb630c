"""HubSpot merges and purges, on both engines: records merged in HubSpot become one PIE record
(the merged ids name the survivor, the duplicate's activities and links move to it, the
duplicate is deleted), and a sync that reads everything (a full one, or an incremental one once
the last purge is older than the horizon) deletes what HubSpot purged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from pie.domain.model import EntityKind
from pie.ports.repositories import Repository
from pie.services import connections as svc
from pie.sources.hubspot.connector import PURGE_HORIZON, WHOLE
from tests.dbfixtures import Database
from tests.hubspot_helpers import TOKEN, differences, expected, rig, stored
from tests.integration.connect.conftest import deps_over


async def _ids(db: Database, tenant: UUID, kind: EntityKind, exts: list[str]) -> dict[str, UUID]:
    async with db.uow(tenant) as uow:
        return await uow.refs.resolve(kind, "hubspot", exts)


async def test_merged_records_become_one_pie_record(db: Database) -> None:
    tenant = (await db.new_tenant()).tenant.id
    async with rig(10, page_size=9) as r:
        p = r.portal
        await r.sync(db.uow(tenant))
        # a duplicate deal that has engagements, merged into another deal
        engaged = {d for t in ("calls", "emails", "meetings", "notes") for x in p.live(t)
                   for d in p.associated(t, x.id, "deals")}  # fmt: skip
        deals = [d.id for d in p.live("deals")]
        dup_deal = next(d for d in deals if d in engaged)
        keep_deal = next(d for d in deals if d != dup_deal)
        keep_co, dup_co = (c.id for c in p.live("companies")[:2])
        keep_person, dup_person = (c.id for c in p.live("contacts")[:2])
        before = {
            EntityKind.DEAL: await _ids(db, tenant, EntityKind.DEAL, [keep_deal, dup_deal]),
            EntityKind.ACCOUNT: await _ids(db, tenant, EntityKind.ACCOUNT, [keep_co, dup_co]),
            EntityKind.CONTACT: await _ids(
                db, tenant, EntityKind.CONTACT, [keep_person, dup_person]
            ),
        }
        r.clock.advance(3600)
        p.merge("deals", keep_deal, dup_deal)
        p.merge("companies", keep_co, dup_co)
        p.merge("contacts", keep_person, dup_person)

        report = await r.sync(db.uow(tenant))

        assert report.rejected == ()
        assert not differences(expected(p), await stored(db.uow(tenant)))
        assert report.deleted == {EntityKind.DEAL: 1, EntityKind.ACCOUNT: 1, EntityKind.CONTACT: 1}
        for kind, (keep, dup) in (
            (EntityKind.DEAL, (keep_deal, dup_deal)),
            (EntityKind.ACCOUNT, (keep_co, dup_co)),
            (EntityKind.CONTACT, (keep_person, dup_person)),
        ):
            survivor = before[kind][keep]
            # both HubSpot ids name the survivor; the duplicate is gone with its own refs
            assert await _ids(db, tenant, kind, [keep, dup]) == {keep: survivor, dup: survivor}
            async with db.uow(tenant) as uow:
                repos: dict[EntityKind, Repository[Any]] = {
                    EntityKind.DEAL: uow.deals,
                    EntityKind.ACCOUNT: uow.accounts,
                    EntityKind.CONTACT: uow.contacts,
                }
                repo = repos[kind]
                assert await repo.get(before[kind][dup]) is None
                kept = await repo.get(survivor)
                assert kept is not None and kept.external_ids == {"hubspot": keep}
        async with db.uow(tenant) as uow:
            seq = await uow.changes.latest()

        again = await r.sync(db.uow(tenant))  # the merge is done: nothing more happens

        assert again.deleted == {} and (again.created, again.updated) == (0, 0)
        async with db.uow(tenant) as uow:
            assert await uow.changes.latest() == seq


async def test_a_full_sync_deletes_what_hubspot_purged(db: Database) -> None:
    deps, tenant = deps_over(db), (await db.new_tenant("hubspot")).tenant.id
    async with rig(8, page_size=9) as r:
        p = r.portal
        # a deal without engagements (PIE deletes a deal's activities with it, HubSpot keeps
        # them, unassociated)
        like = p.live("deals")[0].properties
        system = ("hs_object_id", "createdate", "hs_lastmodifieddate")
        gone_deal = p.create("deals", {k: x for k, x in like.items() if k not in system})
        c, _ = await svc.connect(deps, tenant, "hubspot", {"token": TOKEN}, base_url=r.server.url)
        await svc.run_sync(deps, tenant, c.id, full=True)
        gone_note = p.live("notes")[0].id
        gone_co = next(
            co.id for co in p.live("companies") if not p.associated("companies", co.id, "deals")
        )
        for object_type, ident in (("deals", gone_deal), ("notes", gone_note)):
            p.archive(object_type, ident)
        p.purge("deals", gone_deal)  # archived, then purged before PIE synced
        p.purge("notes", gone_note)
        p.purge("companies", gone_co)  # a GDPR delete: purged at once
        ids = await _ids(db, tenant, EntityKind.DEAL, [gone_deal])

        incremental = await svc.run_sync(deps, tenant, c.id)  # cannot see a purge
        assert incremental.records_deleted == 0
        full = await svc.run_sync(deps, tenant, c.id, full=True)

        assert full.status == "succeeded"
        assert full.counts["deal"].deleted == 1 and full.counts["account"].deleted == 1
        assert full.counts["activity"].deleted == 1  # the note
        assert not differences(expected(p), await stored(db.uow(tenant)))
        assert await _ids(db, tenant, EntityKind.DEAL, [gone_deal]) == {}
        async with db.uow(tenant) as uow:
            assert await uow.deals.get(ids[gone_deal]) is None


async def test_an_incremental_sync_purges_once_the_last_purge_is_older_than_the_horizon(
    db: Database,
) -> None:
    deps, tenant = deps_over(db), (await db.new_tenant("hubspot")).tenant.id
    async with rig(8, page_size=9) as r:
        p = r.portal
        c, _ = await svc.connect(deps, tenant, "hubspot", {"token": TOKEN}, base_url=r.server.url)
        await svc.run_sync(deps, tenant, c.id)  # a first sync reads everything: a purge
        async with db.uow(tenant) as uow:
            assert await uow.cursors.get("hubspot", WHOLE) is not None
        gone = next(
            co.id for co in p.live("companies") if not p.associated("companies", co.id, "deals")
        )
        p.purge("companies", gone)  # a GDPR delete: neither list shows it
        soon = await svc.run_sync(deps, tenant, c.id)
        assert soon.records_deleted == 0  # within the horizon: incremental
        assert await _ids(db, tenant, EntityKind.ACCOUNT, [gone])
        long_ago = datetime.now(UTC) - PURGE_HORIZON - timedelta(days=1)
        async with db.uow(tenant) as uow:
            await uow.cursors.save("hubspot", WHOLE, long_ago.isoformat())
            await uow.commit()

        late = await svc.run_sync(deps, tenant, c.id)

        assert late.status == "succeeded" and late.counts["account"].deleted == 1
        assert await _ids(db, tenant, EntityKind.ACCOUNT, [gone]) == {}
        assert not differences(expected(p), await stored(db.uow(tenant)))
        async with db.uow(tenant) as uow:
            noted = await uow.cursors.get("hubspot", WHOLE)
        assert noted is not None
        assert datetime.fromisoformat(noted.value) > long_ago + PURGE_HORIZON  # noted anew
