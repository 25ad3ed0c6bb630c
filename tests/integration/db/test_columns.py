"""The store reads deal histories as columns that equal the columns of the objects it holds
(SQLite and PostgreSQL), and the in-memory fake does the same."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path
from uuid import UUID, uuid4

import numpy as np
import orjson
import pytest

from pie.adapters.db import columns as column_reader
from pie.domain.model import EntityKind, ExternalRef
from pie.domain.stages import ALL_STAGES, Stage
from pie.importing import import_file
from pie.mining.columns import DealColumns, from_histories, participant_keys
from pie.ports.uow import UnitOfWork
from pie.sample.generate import generate
from pie.services.histories import load_histories
from pie.simulation.streams import stream_identity
from tests.contract import records as r
from tests.dbfixtures import Database
from tests.fakes.uow import InMemoryStore, InMemoryUnitOfWork
from tests.helpers_world import TENANT


def _canon(codes: np.ndarray) -> np.ndarray:
    """Codes renumbered by first appearance (contacts are numbered as they are met)."""
    _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    rank = np.argsort(np.argsort(first))
    return rank[inverse]


def assert_same(a: DealColumns, b: DealColumns) -> None:
    contacts = [np.concatenate([c.s_contact, c.p_contact]) for c in (a, b)]
    assert np.array_equal(_canon(contacts[0]), _canon(contacts[1]))
    for f in dataclasses.fields(a):
        if f.name in ("s_contact", "p_contact"):
            continue
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray) and x.dtype != object:
            assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), f.name
        elif isinstance(x, np.ndarray):
            assert list(x) == list(y), f.name
        else:
            assert x == y, f.name


async def _check(uow: UnitOfWork, world: Path) -> DealColumns:
    await import_file(uow, world)
    expected = from_histories(await load_histories(uow), identity=stream_identity)
    async with uow:
        got = await uow.columns.read()
    assert_same(got, expected)
    return got


async def _odd_refs(uow: UnitOfWork) -> list[UUID]:
    """Two deals whose stream identity needs more than their own source's ref: one with only
    other sources' refs, one with none."""
    t = uow.tenant_id
    others, bare = r.deal(t, None, source="crm"), r.deal(t, None, name="bare", source="crm")
    async with uow:
        await uow.deals.add(others, origin="crm")
        await uow.deals.add(bare, origin="crm")
        await uow.refs.upsert_many(
            [
                ExternalRef(
                    tenant_id=t,
                    kind=EntityKind.DEAL,
                    source=source,
                    external_id=f"{source}-1",
                    entity_id=others.id,
                )
                for source in ("salesforce", "hubspot")
            ]
        )
        await uow.commit()
    return [others.id, bare.id]


async def test_the_store_reads_the_columns_of_its_histories(db: Database, tmp_path: Path) -> None:
    world = tmp_path / "world.json"
    generate(world, deals=150, seed=11, conversations=False)
    t = (await db.new_tenant()).tenant.id
    odd = await _odd_refs(db.uow(t))
    got = await _check(db.uow(t), world)
    assert len(got) == 152 and got.t_us.size > 150 and got.a_objections.any()
    assert got.o_act.size and got.p_act.size and got.s_deal.size
    streams = dict(zip(got.deal_ids(), got.stream.tolist(), strict=True))
    assert streams[odd[0]] == "hubspot:hubspot-1;salesforce:salesforce-1"
    assert streams[odd[1]] == str(odd[1])


async def test_the_fake_reads_the_same_columns(tmp_path: Path) -> None:
    world = tmp_path / "world.json"
    generate(world, deals=60, seed=12, conversations=False)
    got = await _check(InMemoryUnitOfWork(TENANT, InMemoryStore()), world)
    assert len(got) == 60


async def test_a_deals_rows_come_by_time_then_id_beside_another_tenants(
    db: Database, tmp_path: Path
) -> None:
    """Transitions at the same moment come by id, stakeholders by id, whatever order they
    were stored in, and another tenant's rows in the same tables are not read (SQLite reads
    these tables in stored order and sorts them: alone in a table, and beside others)."""
    world = tmp_path / "world.json"
    generate(world, deals=30, seed=13, conversations=False)
    other = (await db.new_tenant()).tenant.id
    await import_file(db.uow(other), world)
    t = (await db.new_tenant()).tenant.id
    uow = db.uow(t)
    deal = r.deal(t, None)
    at = r.T0 + timedelta(days=5)
    stages = {"c": Stage.NEGOTIATION, "a": Stage.DEMO, "b": Stage.PROPOSAL}
    async with uow:
        await uow.deals.add(deal)
        contacts = [r.contact(t, None) for _ in stages]
        for digit, c in zip(stages, contacts, strict=True):  # stored out of id order
            await uow.contacts.add(c)
            await uow.transitions.add(
                r.transition(t, deal.id, id=UUID(digit * 32), to_stage=stages[digit], at=at)
            )
            await uow.stakeholders.add(r.stakeholder(t, c.id, deal_id=deal.id, id=UUID(digit * 32)))
        await uow.commit()
    got = await _check(uow, world)
    row = got.deal_ids().index(deal.id)
    mine = got.t_deal == row
    assert [ALL_STAGES[i] for i in got.t_to[mine]] == [
        Stage.DEMO,
        Stage.PROPOSAL,
        Stage.NEGOTIATION,
    ]
    assert (got.s_deal == row).sum() == 3
    assert len(got) == 31  # the other tenant's 30 deals are not read


async def test_columns_read_in_small_ranges_and_from_values_in_other_forms_are_the_same(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite reads activities, stakeholders and transitions as values joined in SQL, a
    range of deals or rowids a query, parsed in numpy when they have the width PIE writes
    them with: in many small ranges, and with some times stored in another form (read row by
    row instead), the columns are still those of the histories."""
    monkeypatch.setattr(column_reader, "ACT_DEALS", 7)
    monkeypatch.setattr(column_reader, "ROWIDS", 50)
    world = tmp_path / "world.json"
    generate(world, deals=60, seed=14, conversations=False)
    t = (await db.new_tenant()).tenant.id
    got = await _check(db.uow(t), world)  # many ranges
    assert len(got) == 60 and got.a_us.size > 60 and got.s_deal.size > 50  # ranges: 9, and 2+
    if db.kind != "sqlite":
        return
    async with db.engine.begin() as connection:  # times without their fraction: 19 characters
        for table, column in (
            ("activities", "occurred_at"),
            ("stakeholders", "created_at"),
            ("stage_transitions", "at"),
        ):
            await connection.exec_driver_sql(
                f"UPDATE {table} SET {column} = substr({column}, 1, 19)"
                f" WHERE rowid IN (SELECT rowid FROM {table} WHERE {column} LIKE '%.000000'"
                " LIMIT 5)"
            )
    uow = db.uow(t)
    expected = from_histories(await load_histories(uow), identity=stream_identity)
    async with uow:
        again = await uow.columns.read()
    assert_same(again, expected)
    assert_same(again, got)  # the same moments


def test_participants_are_parsed_in_bulk_as_orjson_parses_them() -> None:
    """Participants' JSON arrays of contact ids, compact (SQLite) or with ", " (PostgreSQL's
    jsonb), empty or not, give the ids orjson and ``UUID`` give; arrays in any other form
    are parsed by orjson."""
    ids = [str(uuid4()) for _ in range(7)]
    lists = [[], ids[:1], ids[1:4], [], ids[4:], ids[2:3]]
    expected = participant_keys(lists)
    for texts in (
        [orjson.dumps(one).decode() for one in lists],
        ["[" + ", ".join(f'"{x}"' for x in one) + "]" for one in lists],
        [orjson.dumps(one).decode().upper() for one in lists],  # ids in upper case
        ["[ " + ",".join(f'"{x}"' for x in one) + " ]" for one in lists],  # spaces
        [orjson.dumps([x.replace("-", "") for x in one]).decode() for one in lists],  # no dashes
    ):
        counts, keys = column_reader._participants(texts)
        assert counts.tolist() == [0, 1, 3, 0, 3, 1]
        assert np.array_equal(keys, expected[1])
    assert column_reader._id_arrays([orjson.dumps(ids).decode()], b",") is not None
    assert column_reader._id_arrays([f'["{ids[0].upper()}"]'], b",") is None
