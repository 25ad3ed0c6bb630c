"""One repository contract, run against the in-memory fake, SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, TypeVar
from uuid import UUID

import pytest

from pie.domain.errors import Conflict, NotFound, StaleVersion
from pie.domain.model import ActivityOutcome, EntityKind, ExternalRef, StakeholderRole
from pie.domain.plans import AccountPlanData, CompanyProfile, OpportunityPlanData
from pie.domain.stages import Stage
from pie.ports.repositories import DealFilter, UpsertCounts
from pie.ports.uow import TenantDirectory, UnitOfWork
from tests.contract import records as r
from tests.dbfixtures import Database
from tests.fakes.uow import FakeTenantDirectory, InMemoryStore, InMemoryUnitOfWork

T = TypeVar("T")


def v(item: T, version: int) -> T:
    """``item`` as the store gives it back at ``version`` (records without one unchanged)."""
    if hasattr(item, "version"):
        return dataclasses.replace(item, version=version)  # type: ignore[type-var]
    return item


@dataclass
class Store:
    tenants: TenantDirectory
    uow: Callable[[UUID], UnitOfWork]

    async def tenant(self) -> UUID:
        made = await self.tenants.create(f"contract-{uuid.uuid4().hex[:10]}")
        return made.tenant.id


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> Store:
    if request.param == "memory":
        memory = InMemoryStore()
        return Store(FakeTenantDirectory(memory), lambda t: InMemoryUnitOfWork(t, memory))
    db: Database = request.getfixturevalue(f"{request.param.replace('postgresql', 'postgres')}_db")
    return Store(db.tenants, db.uow)


async def test_every_entity_round_trips_and_can_be_updated_and_deleted(store: Store) -> None:
    t = await store.tenant()
    acc = r.account(t)
    con = r.contact(t, acc.id)
    deal = r.deal(t, acc.id)
    act = r.activity(t, deal.id, account_id=acc.id)
    tr = r.transition(t, deal.id, trigger_activity_id=act.id)
    sh = r.stakeholder(t, con.id, deal_id=deal.id, account_id=acc.id)
    async with store.uow(t) as uow:
        await uow.accounts.add(acc)
        await uow.contacts.add(con)
        await uow.deals.add(deal)
        await uow.activities.add(act)
        await uow.transitions.add(tr)
        await uow.stakeholders.add(sh)
        await uow.commit()
    async with store.uow(t) as uow:
        assert await uow.accounts.get(acc.id) == v(acc, 1)
        assert await uow.contacts.get(con.id) == v(con, 1)
        assert await uow.deals.get(deal.id) == v(deal, 1)
        assert await uow.activities.get(act.id) == act
        assert await uow.transitions.get(tr.id) == tr
        assert await uow.stakeholders.get(sh.id) == v(sh, 1)
        got = await uow.deals.get(deal.id)
        assert got is not None
        assert got.created_at.utcoffset() == timedelta(0)

        edits: tuple[tuple[Any, Any, dict[str, object]], ...] = (
            (uow.accounts, acc, {"name": "Acme GmbH", "annual_revenue": None}),
            (uow.contacts, con, {"email": None, "title": "CEO"}),
            (uow.deals, deal, {"stage": Stage.CLOSED_WON, "custom_fields": {"a": [1]}}),
            (uow.activities, act, {"outcome": ActivityOutcome.NEGATIVE, "next_steps": ()}),
            (uow.transitions, tr, {"to_stage": Stage.NEGOTIATION, "value": None}),
            (uow.stakeholders, sh, {"roles": (StakeholderRole.BLOCKER,), "sentiment": 1.0}),
        )
        for repo, item, change in edits:
            changed = dataclasses.replace(item, **change)
            await repo.update(changed)
            assert await repo.get(item.id) == v(changed, 2)
        await uow.commit()
    async with store.uow(t) as uow:
        assert await uow.transitions.delete(tr.id) is True
        assert await uow.transitions.delete(tr.id) is False
        assert await uow.transitions.get(tr.id) is None
        await uow.commit()


async def test_add_of_an_existing_id_conflicts_and_update_of_a_missing_one_is_not_found(
    store: Store,
) -> None:
    t = await store.tenant()
    acc = r.account(t)
    async with store.uow(t) as uow:
        await uow.accounts.add(acc)
        with pytest.raises(NotFound):
            await uow.deals.update(r.deal(t, None))
        with pytest.raises(Conflict):
            await uow.accounts.add(acc)


async def test_leaving_without_commit_keeps_nothing_and_commit_twice_works(store: Store) -> None:
    t = await store.tenant()
    first, second = r.account(t), r.account(t)
    async with store.uow(t) as uow:
        await uow.accounts.add(first)
    async with store.uow(t) as uow:
        assert await uow.accounts.get(first.id) is None
        await uow.accounts.add(first)
        await uow.commit()
        await uow.accounts.add(second)  # a second transaction in the same unit of work
        await uow.commit()
    async with store.uow(t) as uow:
        assert await uow.accounts.count() == 2


async def test_deleting_a_deal_takes_its_history_and_an_account_clears_references(
    store: Store,
) -> None:
    t = await store.tenant()
    acc = r.account(t)
    con = r.contact(t, acc.id)
    deal = r.deal(t, acc.id)
    act = r.activity(t, deal.id)
    tr = r.transition(t, deal.id)
    sh = r.stakeholder(t, con.id, deal_id=deal.id)
    own = r.stakeholder(t, con.id, account_id=acc.id)
    async with store.uow(t) as uow:
        await uow.accounts.add(acc)
        await uow.contacts.add(con)
        await uow.deals.add(deal)
        await uow.activities.add(act)
        await uow.transitions.add(tr)
        await uow.stakeholders.upsert_many([sh, own])
        await uow.plans.save_opportunity_plan(deal.id, OpportunityPlanData(), expected_version=0)
        other = r.deal(t, acc.id)
        await uow.deals.add(other)
        assert await uow.deals.delete(deal.id) is True
        assert await uow.transitions.for_deal(deal.id) == []
        assert await uow.activities.for_deal(deal.id) == []
        assert await uow.stakeholders.for_deal(deal.id) == []
        assert await uow.plans.get_opportunity_plan(deal.id) is None
        assert await uow.accounts.delete(acc.id) is True
        left = await uow.deals.get(other.id)
        assert left is not None and left.account_id is None
        kept = await uow.contacts.get(con.id)
        assert kept is not None and kept.account_id is None
        assert await uow.stakeholders.get(own.id) is None


async def test_upsert_creates_then_leaves_alone_then_updates(store: Store) -> None:
    t = await store.tenant()
    acc = r.account(t)
    deals = [r.deal(t, acc.id, name=f"deal {i}") for i in range(5)]
    async with store.uow(t) as uow:
        assert await uow.accounts.upsert_many([acc]) == UpsertCounts(created=1)
        assert await uow.deals.upsert_many(deals) == UpsertCounts(created=5)
        assert await uow.deals.upsert_many(deals) == UpsertCounts(unchanged=5)
        touched = [
            dataclasses.replace(d, updated_at=d.updated_at + timedelta(days=1)) for d in deals
        ]
        assert await uow.deals.upsert_many(touched) == UpsertCounts(unchanged=5)
        changed = [dataclasses.replace(deals[0], stage=Stage.CLOSED_LOST), *deals[1:]]
        changed[1] = dataclasses.replace(deals[1], custom_fields={"region": "apac"})
        assert await uow.deals.upsert_many(changed) == UpsertCounts(updated=2, unchanged=3)
        await uow.commit()
    async with store.uow(t) as uow:
        assert await uow.deals.get(deals[0].id) == v(changed[0], 2)
        assert await uow.deals.count() == 5


async def test_upsert_of_histories_is_idempotent(store: Store) -> None:
    t = await store.tenant()
    acc = r.account(t)
    con = r.contact(t, acc.id)
    deal = r.deal(t, acc.id)
    acts = [r.activity(t, deal.id) for _ in range(3)]
    trs = [r.transition(t, deal.id, trigger_activity_id=acts[0].id) for _ in range(3)]
    shs = [r.stakeholder(t, con.id, deal_id=deal.id)]
    async with store.uow(t) as uow:
        await uow.accounts.add(acc)
        await uow.contacts.upsert_many([con])
        await uow.deals.upsert_many([deal])
        for _ in range(2):
            counts = (
                await uow.activities.upsert_many(acts)
                + await uow.transitions.upsert_many(trs)
                + await uow.stakeholders.upsert_many(shs)
            )
            if _ == 0:
                assert counts == UpsertCounts(created=7)
            else:
                assert counts == UpsertCounts(unchanged=7)
        moved = dataclasses.replace(trs[2], at=trs[2].at + timedelta(hours=1))
        assert await uow.transitions.upsert_many([moved]) == UpsertCounts(updated=1)
        await uow.commit()
    async with store.uow(t) as uow:
        assert [x.id for x in await uow.transitions.for_deal(deal.id)] == [
            x.id for x in sorted([*trs[:2], moved], key=lambda x: (x.at, x.id))
        ]


async def test_external_refs_resolve_and_upsert(store: Store) -> None:
    t = await store.tenant()
    a, b = uuid.uuid4(), uuid.uuid4()
    refs = [
        ExternalRef(tenant_id=t, kind=EntityKind.DEAL, source="crm", external_id="1", entity_id=a),
        ExternalRef(tenant_id=t, kind=EntityKind.DEAL, source="crm", external_id="2", entity_id=b),
        ExternalRef(tenant_id=t, kind=EntityKind.DEAL, source="csv", external_id="1", entity_id=a),
    ]
    async with store.uow(t) as uow:
        assert await uow.refs.upsert_many(refs) == UpsertCounts(created=3)
        assert await uow.refs.upsert_many(refs) == UpsertCounts(unchanged=3)
        moved = dataclasses.replace(refs[1], entity_id=a)
        assert await uow.refs.upsert_many([moved]) == UpsertCounts(updated=1)
        assert await uow.refs.resolve(EntityKind.DEAL, "crm", ["1", "2", "3"]) == {"1": a, "2": a}
        assert await uow.refs.resolve(EntityKind.ACCOUNT, "crm", ["1"]) == {}
        assert await uow.refs.for_entity(EntityKind.DEAL, a) == [refs[0], moved, refs[2]]
        odd = ['q"uote', "back\\slash", "Ünï 😀", "x" * 255]
        await uow.refs.upsert_many(
            [dataclasses.replace(refs[0], external_id=ext, entity_id=b) for ext in odd]
        )
        assert await uow.refs.resolve(EntityKind.DEAL, "crm", [*odd, "1"]) == {
            **dict.fromkeys(odd, b),
            "1": a,
        }


async def test_new_external_refs_are_added_and_one_that_exists_is_a_conflict(
    store: Store,
) -> None:
    t = await store.tenant()
    a, b = uuid.uuid4(), uuid.uuid4()
    first = ExternalRef(
        tenant_id=t, kind=EntityKind.DEAL, source="crm", external_id="1", entity_id=a
    )
    again = dataclasses.replace(first, entity_id=b, digest="d2")
    other = dataclasses.replace(first, external_id="2", entity_id=b)
    async with store.uow(t) as uow:
        await uow.refs.add_many([first, again, other])  # a later duplicate wins
        assert await uow.refs.resolve(EntityKind.DEAL, "crm", ["1", "2"]) == {"1": b, "2": b}
        assert await uow.refs.digests(EntityKind.DEAL, "crm", ["1", "2"]) == {"1": "d2"}
        with pytest.raises(Conflict):
            await uow.refs.add_many([dataclasses.replace(first, external_id="2")])


async def test_iter_all_yields_every_record_in_batches_ordered_by_id(store: Store) -> None:
    t = await store.tenant()
    accounts = [r.account(t, name=f"a{i}") for i in range(7)]
    async with store.uow(t) as uow:
        await uow.accounts.upsert_many(accounts)
        batches = [list(b) async for b in uow.accounts.iter_all(batch_size=3)]
    assert [len(b) for b in batches] == [3, 3, 1]
    assert [a.id for b in batches for a in b] == sorted(a.id for a in accounts)


async def test_deal_list_filters_pages_and_counts(store: Store) -> None:
    t = await store.tenant()
    acme, other = r.account(t), r.account(t, name="Other")
    deals = [
        r.deal(t, acme.id, name="Acme Platform", stage=Stage.LEAD, created_at=r.T0),
        r.deal(
            t,
            acme.id,
            name="acme 100%_ off",
            stage=Stage.CLOSED_WON,
            created_at=r.T0 + timedelta(days=1),
        ),
        r.deal(
            t, other.id, name="Other deal", stage=Stage.STALLED, created_at=r.T0 + timedelta(days=2)
        ),
        r.deal(
            t, None, name="Orphan", stage=Stage.CLOSED_LOST, created_at=r.T0 + timedelta(days=3)
        ),
    ]
    async with store.uow(t) as uow:
        await uow.accounts.upsert_many([acme, other])
        await uow.deals.upsert_many(deals)
        names = [d.name for d in await uow.deals.list()]
        assert names == ["Orphan", "Other deal", "acme 100%_ off", "Acme Platform"]
        assert [d.name for d in await uow.deals.list(limit=2, offset=1)] == names[1:3]
        assert await uow.deals.count() == 4
        open_ = DealFilter(is_open=True)
        assert {d.name for d in await uow.deals.list(open_)} == {"Acme Platform", "Other deal"}
        assert await uow.deals.count(DealFilter(is_open=False)) == 2
        assert await uow.deals.count(DealFilter(account_id=acme.id)) == 2
        assert await uow.deals.count(DealFilter(stages=(Stage.LEAD, Stage.STALLED))) == 2
        assert [d.name for d in await uow.deals.list(DealFilter(name_contains="ACME"))] == [
            "acme 100%_ off",
            "Acme Platform",
        ]
        assert await uow.deals.count(DealFilter(name_contains="%_")) == 1
        both = DealFilter(name_contains="acme", is_open=True, account_id=acme.id)
        assert [d.name for d in await uow.deals.list(both)] == ["Acme Platform"]


async def test_deals_are_got_by_id_in_chunks_with_their_refs_and_missing_ids_left_out(
    store: Store,
) -> None:
    t = await store.tenant()
    acc = r.account(t)
    # more than two chunks; closed, so that a stall check over the shared test database has
    # nothing to do with them
    deals = [r.deal(t, acc.id, name=f"d{i}", stage=Stage.CLOSED_LOST) for i in range(2500)]
    open_ = r.deal(t, acc.id, name="open")
    ref = ExternalRef(
        tenant_id=t, kind=EntityKind.DEAL, source="crm", external_id="7", entity_id=deals[-1].id
    )
    async with store.uow(t) as uow:
        await uow.accounts.add(acc)
        await uow.deals.upsert_many([*deals, open_])
        await uow.refs.upsert_many([ref])
        await uow.commit()
    missing = uuid.uuid4()
    async with store.uow(t) as uow:
        wanted = [d.id for d in deals[::-1]] + [missing, open_.id, deals[0].id]
        got = await uow.deals.get_many(wanted)
        assert got.keys() == {d.id for d in [*deals, open_]}
        assert got[deals[0].id] == v(deals[0], 1)
        assert got[deals[-1].id] == await uow.deals.get(deals[-1].id)
        assert got[deals[-1].id].external_ids == {"crm": "7"}
        assert got[open_.id] == v(open_, 1)
        assert await uow.deals.get_many([]) == {}
        assert await uow.deals.get_many([missing]) == {}


async def test_find_matching_prefers_the_closest_open_deal_of_the_same_line(store: Store) -> None:
    t = await store.tenant()
    acc, elsewhere = r.account(t), r.account(t)
    close = date(2026, 6, 1)
    near = r.deal(t, acc.id, expected_close=close + timedelta(days=10))
    far = r.deal(t, acc.id, expected_close=close - timedelta(days=80))
    too_far = r.deal(t, acc.id, expected_close=close + timedelta(days=120))
    won = r.deal(t, acc.id, expected_close=close, stage=Stage.CLOSED_WON)
    other_line = r.deal(t, acc.id, expected_close=close, product_line="services")
    other_account = r.deal(t, elsewhere.id, expected_close=close)
    async with store.uow(t) as uow:
        await uow.accounts.upsert_many([acc, elsewhere])
        await uow.deals.upsert_many([near, far, too_far, won, other_line, other_account])
        found = await uow.deals.find_matching(
            account_id=acc.id, product_line="platform", expected_close=close
        )
        assert found is not None and found.id == near.id
        await uow.deals.delete(near.id)
        found = await uow.deals.find_matching(
            account_id=acc.id, product_line="platform", expected_close=close
        )
        assert found is not None and found.id == far.id
        assert (
            await uow.deals.find_matching(
                account_id=acc.id, product_line=None, expected_close=close
            )
            is None
        )
        undated = r.deal(t, acc.id, expected_close=None, product_line="")
        await uow.deals.add(undated)
        found = await uow.deals.find_matching(
            account_id=acc.id, product_line=None, expected_close=close
        )
        assert found is not None and found.id == undated.id


async def test_plans_are_versioned_and_a_stale_write_changes_nothing(store: Store) -> None:
    t = await store.tenant()
    acc = r.account(t)
    deal = r.deal(t, acc.id)
    first = AccountPlanData(company_profile=CompanyProfile(summary="v1"))
    second = AccountPlanData(company_profile=CompanyProfile(summary="v2"))
    async with store.uow(t) as uow:
        await uow.accounts.add(acc)
        await uow.deals.add(deal)
        assert await uow.plans.get_account_plan(acc.id) is None
        v1 = await uow.plans.save_account_plan(acc.id, first, expected_version=0)
        assert v1.version == 1
        v2 = await uow.plans.save_account_plan(acc.id, second, expected_version=1)
        assert (v2.version, v2.id) == (2, v1.id)
        with pytest.raises(StaleVersion) as stale:
            await uow.plans.save_account_plan(acc.id, first, expected_version=1)
        assert (stale.value.expected, stale.value.actual) == (1, 2)
        with pytest.raises(StaleVersion):
            await uow.plans.save_account_plan(acc.id, first, expected_version=0)
        stored = await uow.plans.get_account_plan(acc.id)
        assert stored is not None and stored.data == second and stored.version == 2

        o1 = await uow.plans.save_opportunity_plan(
            deal.id, OpportunityPlanData(), expected_version=0
        )
        assert o1.version == 1
        with pytest.raises(StaleVersion):
            await uow.plans.save_opportunity_plan(
                deal.id, OpportunityPlanData(), expected_version=3
            )
        await uow.commit()
    async with store.uow(t) as uow:
        again = await uow.plans.get_account_plan(acc.id)
        assert again is not None and again.data == second


async def test_a_tenant_never_reaches_another_tenants_records(store: Store) -> None:
    a, b = await store.tenant(), await store.tenant()
    acc = r.account(b)
    con = r.contact(b, acc.id)
    deal = r.deal(b, acc.id)
    act = r.activity(b, deal.id)
    tr = r.transition(b, deal.id)
    sh = r.stakeholder(b, con.id, deal_id=deal.id)
    ref = ExternalRef(
        tenant_id=b, kind=EntityKind.DEAL, source="crm", external_id="1", entity_id=deal.id
    )
    async with store.uow(b) as uow:
        await uow.accounts.add(acc)
        await uow.contacts.add(con)
        await uow.deals.add(deal)
        await uow.activities.add(act)
        await uow.transitions.add(tr)
        await uow.stakeholders.add(sh)
        await uow.refs.upsert_many([ref])
        await uow.plans.save_account_plan(acc.id, AccountPlanData(), expected_version=0)
        await uow.commit()
    async with store.uow(a) as uow:
        pairs: tuple[tuple[Any, Any], ...] = (
            (uow.accounts, acc),
            (uow.contacts, con),
            (uow.deals, deal),
            (uow.activities, act),
            (uow.transitions, tr),
            (uow.stakeholders, sh),
        )
        for repo, item in pairs:
            assert await repo.get(item.id) is None
            assert await repo.delete(item.id) is False
            with pytest.raises(NotFound):
                await repo.update(dataclasses.replace(item, tenant_id=a))
            assert [x async for x in repo.iter_all()] == []
        assert await uow.accounts.list() == []
        assert await uow.accounts.count() == 0
        assert await uow.deals.list() == []
        assert await uow.deals.count() == 0
        assert await uow.deals.count(DealFilter(account_id=acc.id)) == 0
        assert await uow.deals.get_many([deal.id]) == {}
        assert (
            await uow.deals.find_matching(
                account_id=acc.id, product_line="platform", expected_close=None
            )
            is None
        )
        assert await uow.contacts.for_account(acc.id) == []
        assert await uow.stakeholders.for_deal(deal.id) == []
        assert await uow.activities.for_deal(deal.id) == []
        assert await uow.transitions.for_deal(deal.id) == []
        assert await uow.refs.resolve(EntityKind.DEAL, "crm", ["1"]) == {}
        assert await uow.refs.for_entity(EntityKind.DEAL, deal.id) == []
        assert await uow.plans.get_account_plan(acc.id) is None
        await uow.commit()
    async with store.uow(b) as uow:  # untouched
        got = await uow.deals.get(deal.id)
        assert got == dataclasses.replace(v(deal, 1), external_ids={"crm": "1"})
        assert await uow.transitions.get(tr.id) == tr
        assert await uow.refs.resolve(EntityKind.DEAL, "crm", ["1"]) == {"1": deal.id}
        plan = await uow.plans.get_account_plan(acc.id)
        assert plan is not None and plan.version == 1


async def test_tenant_directory_names_are_unique_and_keys_authenticate(store: Store) -> None:
    name = f"dir-{uuid.uuid4().hex[:8]}"
    made = await store.tenants.create(name)
    assert made.api_key.startswith("pie_")
    assert await store.tenants.authenticate(made.api_key) == made.tenant.id
    assert await store.tenants.authenticate(made.api_key + "x") is None
    assert await store.tenants.authenticate("pie_unknown") is None
    assert await store.tenants.get(made.tenant.id) == made.tenant
    assert await store.tenants.find_by_name(name) == made.tenant
    assert await store.tenants.find_by_name(name + "-nope") is None
    assert await store.tenants.get(uuid.uuid4()) is None
    with pytest.raises(Conflict, match=name):
        await store.tenants.create(name)
    second = await store.tenants.issue_key(made.tenant.id)
    assert second != made.api_key
    assert await store.tenants.authenticate(second) == made.tenant.id
    with pytest.raises(NotFound):
        await store.tenants.issue_key(uuid.uuid4())
