"""The live-data contract of the store, on the fake, SQLite and PostgreSQL: writes carry only
some fields, origins have precedence, records are versioned, every change is in the feed,
cursors and cached models persist, and source ids live (and die) with their records."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

import pytest

from pie.domain.errors import InvalidInput, StaleVersion
from pie.domain.model import EntityKind, ExternalRef
from pie.domain.ownership import HUMAN, PIE, Kept, OwnershipPolicy
from pie.domain.stages import Stage
from pie.ports.repositories import UpsertCounts
from tests.contract import records as r
from tests.contract.test_repositories import Store, store, v

__all__ = ["store"]


async def test_a_write_changes_only_the_fields_it_carries(store: Store) -> None:
    t = await store.tenant()
    deal = r.deal(t, None)
    async with store.uow(t) as uow:
        await uow.deals.upsert_many([deal], origin="salesforce")
        # a CSV that has no qualification, product line or custom fields column
        thin = dataclasses.replace(
            deal, qualification={}, product_line=None, custom_fields={}, value=Decimal("50000")
        )
        counts = await uow.deals.upsert_many(
            [thin], origin="salesforce", fields=[frozenset({"name", "stage", "value"})]
        )
        assert counts == UpsertCounts(updated=1)
        got = await uow.deals.get(deal.id)
        assert got is not None
        assert got.qualification == deal.qualification
        assert got.product_line == deal.product_line
        assert got.custom_fields == deal.custom_fields
        assert got.value == Decimal("50000.00")
        assert got.version == 2
        # an explicit empty in a carried field clears it
        await uow.deals.upsert_many(
            [dataclasses.replace(deal, owner=None)],
            origin="salesforce",
            fields=[frozenset({"owner"})],
        )
        got = await uow.deals.get(deal.id)
        assert got is not None and got.owner is None and got.version == 3


async def test_a_human_edit_beats_a_source_and_a_source_beats_pie(store: Store) -> None:
    t = await store.tenant()
    deal = r.deal(t, None, stage=Stage.DEMO)
    async with store.uow(t) as uow:
        await uow.deals.upsert_many([deal], origin="hubspot")
        await uow.deals.update(dataclasses.replace(deal, stage=Stage.PROPOSAL), origin=HUMAN)
        # the next sync still says demo: the human's proposal stays, and the refusal is told
        counts = await uow.deals.upsert_many(
            [dataclasses.replace(deal, owner="bo")],
            origin="hubspot",
            fields=[frozenset({"stage", "owner"})],
        )
        assert counts.updated == 1
        assert counts.kept == (Kept(EntityKind.DEAL, deal.id, "stage", HUMAN, "hubspot"),)
        got = await uow.deals.get(deal.id)
        assert got is not None and got.stage is Stage.PROPOSAL and got.owner == "bo"
        # PIE's derived value may not replace the connector's amount, but fills what is empty
        counts = await uow.deals.update(
            dataclasses.replace(got, value=Decimal("1"), lost_reason="pricing"),
            origin=PIE,
            fields=frozenset({"value", "lost_reason"}),
        )
        assert [k.field for k in counts.kept] == ["value"]
        got = await uow.deals.get(deal.id)
        assert got is not None and got.value == deal.value and got.lost_reason == "pricing"
        # a human may overwrite anything
        await uow.deals.update(dataclasses.replace(got, value=Decimal("2")), origin=HUMAN)
        # and another source of the same rank replaces a source's value
        await uow.deals.upsert_many(
            [dataclasses.replace(deal, owner="cy")],
            origin="salesforce",
            fields=[frozenset({"owner"})],
        )
        got = await uow.deals.get(deal.id)
        assert got is not None and got.owner == "cy" and got.value == Decimal("2.00")
        prov = await uow.deals.provenance(deal.id)
        assert {k: o for k, (o, _) in prov.items() if k in ("stage", "owner", "value", "name")} == {
            "stage": HUMAN,
            "owner": "salesforce",
            "value": HUMAN,
            "name": "hubspot",
        }
        assert prov["lost_reason"][0] == PIE
        assert await uow.deals.provenance(r.deal(t, None).id) == {}


async def test_the_tenant_policy_can_put_a_source_first(store: Store) -> None:
    t = await store.tenant()
    deal = r.deal(t, None, stage=Stage.DEMO)
    async with store.uow(t) as uow:
        await uow.policy.save(
            OwnershipPolicy.from_document({"deal.stage": ["salesforce", "human", "pie"]})
        )
        await uow.commit()
    async with store.uow(t) as uow:
        assert (await uow.policy.get()).to_document() == {
            "deal.stage": ["salesforce", "human", "pie"]
        }
        await uow.deals.upsert_many([deal], origin="salesforce")
        counts = await uow.deals.update(
            dataclasses.replace(deal, stage=Stage.LEAD, owner="me"), origin=HUMAN
        )
        assert [k.field for k in counts.kept] == ["stage"]
        got = await uow.deals.get(deal.id)
        assert got is not None and got.stage is Stage.DEMO and got.owner == "me"
    with pytest.raises(InvalidInput):
        OwnershipPolicy.from_document({"deals.stage": ["human"]})


async def test_a_stale_version_is_refused_and_changes_nothing(store: Store) -> None:
    t = await store.tenant()
    acc = r.account(t)
    async with store.uow(t) as uow:
        await uow.accounts.add(acc)
        await uow.commit()
    async with store.uow(t) as uow:
        read = await uow.accounts.get(acc.id)
        assert read is not None and read.version == 1
        await uow.accounts.update(
            dataclasses.replace(read, name="First"), origin=HUMAN, expected_version=1
        )
        with pytest.raises(StaleVersion) as err:
            await uow.accounts.update(
                dataclasses.replace(read, name="Second"), origin=HUMAN, expected_version=1
            )
        assert (err.value.expected, err.value.actual) == (1, 2)
        assert str(acc.id) in str(err.value)
        got = await uow.accounts.get(acc.id)
        assert got is not None and got.name == "First" and got.version == 2


async def test_every_change_is_in_the_feed_once_and_an_unchanged_write_adds_none(
    store: Store,
) -> None:
    t = await store.tenant()
    acc = r.account(t)
    deal = r.deal(t, acc.id)
    async with store.uow(t) as uow:
        assert await uow.changes.latest() == 0
        await uow.accounts.upsert_many([acc], origin="file")
        await uow.deals.upsert_many([deal], origin="file")
        await uow.commit()
    async with store.uow(t) as uow:
        created = await uow.changes.list()
        assert [(c.entity, c.op, c.version, c.origin) for c in created] == [
            (EntityKind.ACCOUNT, "create", 1, "file"),
            (EntityKind.DEAL, "create", 1, "file"),
        ]
        assert created[1].fields["name"] == [None, deal.name]
        assert created[1].fields["value"] == [None, "48000.00"]
        assert "qualification" in created[1].fields
        latest = await uow.changes.latest()
        assert latest == created[-1].seq
        # unchanged re-import: nothing appended
        await uow.deals.upsert_many(
            [dataclasses.replace(deal, updated_at=deal.updated_at + timedelta(days=1))],
            origin="file",
        )
        assert await uow.changes.latest() == latest
        await uow.deals.update(dataclasses.replace(deal, stage=Stage.CLOSED_WON), origin=HUMAN)
        assert await uow.deals.delete(deal.id, origin=HUMAN)
        await uow.commit()
    async with store.uow(t) as uow:
        later = await uow.changes.list(since=latest)
        assert [(c.op, c.version, c.origin) for c in later] == [
            ("update", 2, HUMAN),
            ("delete", 3, HUMAN),
        ]
        assert later[0].fields == {"stage": ["proposal", "closed_won"]}
        assert [c.entity for c in await uow.changes.list(entity=EntityKind.ACCOUNT)] == [
            EntityKind.ACCOUNT
        ]
        assert len(await uow.changes.list(limit=1)) == 1
        assert [c.seq for c in await uow.changes.list()] == sorted(
            c.seq for c in await uow.changes.list()
        )


async def test_a_rolled_back_write_leaves_no_change(store: Store) -> None:
    t = await store.tenant()
    async with store.uow(t) as uow:
        await uow.accounts.add(r.account(t))
    async with store.uow(t) as uow:
        assert await uow.changes.latest() == 0
        assert await uow.changes.list() == []


async def test_cursors_and_cached_models_persist_per_tenant(store: Store) -> None:
    t, other = await store.tenant(), await store.tenant()
    async with store.uow(t) as uow:
        assert await uow.cursors.get("hubspot", "deals") is None
        await uow.cursors.save("hubspot", "deals", "2026-01-01T00:00:00Z")
        await uow.cursors.save("hubspot", "deals", "2026-02-01T00:00:00Z")
        await uow.models.put("opts", 7, b"\x00model")
        await uow.commit()
    async with store.uow(t) as uow:
        cursor = await uow.cursors.get("hubspot", "deals")
        assert cursor is not None and cursor.value == "2026-02-01T00:00:00Z"
        cached = await uow.models.get("opts")
        assert cached is not None and (cached.change_seq, cached.payload) == (7, b"\x00model")
        await uow.models.put("opts", 9, b"newer")
        got = await uow.models.get("opts")
        assert got is not None and got.change_seq == 9
    async with store.uow(other) as uow:
        assert await uow.cursors.get("hubspot", "deals") is None
        assert await uow.models.get("opts") is None
        assert await uow.changes.latest() == 0


async def test_source_ids_are_read_from_refs_and_deleted_with_their_records(
    store: Store,
) -> None:
    t = await store.tenant()
    acc = r.account(t)
    deal = r.deal(t, acc.id)
    act = r.activity(t, deal.id)

    def ref(kind: EntityKind, ident: object, ext: str) -> ExternalRef:
        return ExternalRef(
            tenant_id=t,
            kind=kind,
            source="crm",
            external_id=ext,
            entity_id=ident,  # type: ignore[arg-type]
        )

    async with store.uow(t) as uow:
        await uow.accounts.add(dataclasses.replace(acc, external_ids={"ignored": "x"}))
        await uow.deals.add(deal)
        await uow.activities.add(act)
        await uow.refs.upsert_many(
            [
                ref(EntityKind.ACCOUNT, acc.id, "A1"),
                ref(EntityKind.DEAL, deal.id, "D1"),
                ref(EntityKind.ACTIVITY, act.id, "E1"),
            ]
        )
        got = await uow.accounts.get(acc.id)
        assert got is not None and got.external_ids == {"crm": "A1"}
        listed = await uow.deals.list()
        assert [d.external_ids for d in listed] == [{"crm": "D1"}]
        assert await uow.deals.delete(deal.id)  # its activity goes too, and both refs
        assert await uow.refs.resolve(EntityKind.DEAL, "crm", ["D1"]) == {}
        assert await uow.refs.resolve(EntityKind.ACTIVITY, "crm", ["E1"]) == {}
        assert await uow.refs.resolve(EntityKind.ACCOUNT, "crm", ["A1"]) == {"A1": acc.id}
        await uow.commit()
    async with store.uow(t) as uow:
        assert await uow.refs.resolve(EntityKind.DEAL, "crm", ["D1"]) == {}
        assert await uow.accounts.delete(acc.id)
        assert await uow.refs.for_entity(EntityKind.ACCOUNT, acc.id) == []


async def test_versions_count_every_change_of_every_versioned_kind(store: Store) -> None:
    t = await store.tenant()
    acc = r.account(t)
    con = r.contact(t, acc.id)
    sh = r.stakeholder(t, con.id, account_id=acc.id)
    async with store.uow(t) as uow:
        await uow.accounts.add(acc)
        await uow.contacts.add(con)
        await uow.stakeholders.add(sh)
        for n in range(3):
            await uow.contacts.update(dataclasses.replace(con, title=f"T{n}"))
            await uow.stakeholders.update(dataclasses.replace(sh, sentiment=n / 10))
        assert await uow.contacts.get(con.id) == v(dataclasses.replace(con, title="T2"), 4)
        got = await uow.stakeholders.get(sh.id)
        assert got is not None and got.version == 4


async def test_an_import_does_not_clobber_what_pie_derived(store: Store) -> None:
    t = await store.tenant()
    deal = r.deal(t, None, qualification={}, detection_confidence=None)
    async with store.uow(t) as uow:
        await uow.deals.upsert_many([deal], origin="file")
        derived = dataclasses.replace(
            deal, qualification={"budget": {"status": "confirmed"}}, detection_confidence=0.91
        )
        await uow.deals.update(derived, origin=PIE)
        counts = await uow.deals.upsert_many(
            [dataclasses.replace(deal, qualification={"budget": {"status": "none"}})],
            origin="file",
            fields=[frozenset({"qualification", "detection_confidence", "name"})],
        )
        assert {k.field for k in counts.kept} == {"qualification", "detection_confidence"}
        got = await uow.deals.get(deal.id)
        assert got is not None and got.qualification == {"budget": {"status": "confirmed"}}
        assert got.detection_confidence == 0.91
        # a person still may
        await uow.deals.update(dataclasses.replace(got, detection_confidence=0.5), origin=HUMAN)
        got = await uow.deals.get(deal.id)
        assert got is not None and got.detection_confidence == 0.5
