"""The scale bench's cloned store (``bench/scale_bench.py --build clone``): every copy of a
tenant's records is whole, refers only to itself, reads as the object model does, and mines."""

from __future__ import annotations

import asyncio
import importlib.util
import sqlite3
from pathlib import Path
from types import ModuleType
from uuid import UUID

import numpy as np

from pie.bootstrap import build, ensure_embedded_schema
from pie.config import Settings
from pie.importing import import_file
from pie.mining.columns import from_histories
from pie.sample.generate import generate
from pie.services.histories import load_histories
from pie.services.model_cache import ModelCache
from pie.services.process import process
from pie.simulation.streams import stream_identity
from tests.integration.db.test_columns import assert_same

BENCH = Path(__file__).parents[3] / "bench" / "scale_bench.py"
TABLES = ("accounts", "contacts", "deals", "activities", "stage_transitions", "stakeholders")


def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("scale_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def settings(store: Path) -> Settings:
    return Settings(data_dir=store.parent, database_url=f"sqlite+aiosqlite:///{store}")


def counts(store: Path) -> dict[str, int]:
    with sqlite3.connect(store) as db:
        return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


async def imported(tmp_path: Path) -> tuple[Path, UUID]:
    world, store = tmp_path / "world.json", tmp_path / "store.db"
    generate(world, deals=40, seed=5, conversations=False)
    ensure_embedded_schema(settings(store))
    container = build(settings(store))
    try:
        tenant = (await container.tenants.create("clone")).tenant.id
        await import_file(container.uow(tenant, writes=True), world)
    finally:
        await container.aclose()
    return store, tenant


async def test_a_cloned_store_holds_whole_copies_that_read_and_mine_like_the_original(
    tmp_path: Path,
) -> None:
    source, tenant = await imported(tmp_path)
    dest = tmp_path / "clone.db"
    await asyncio.to_thread(bench().clone_store, source, tenant, dest, 3)

    before, after = counts(source), counts(dest)
    assert after == {t: 3 * n for t, n in before.items()}
    with sqlite3.connect(dest) as db:
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        refs = db.execute("SELECT count(*), count(DISTINCT entity_id) FROM external_refs")
        assert len(set(refs.fetchone())) == 1  # one ref per record, none shared by copies
        # a row of a copy refers only to rows of the same copy (the copy's digit in every id)
        for table, columns in bench().CLONED.items():
            for column in (c for c in columns if table != "external_refs" and c != "id"):
                crossing = db.execute(
                    f"SELECT count(*) FROM {table} WHERE substr({column}, 13, 1)"
                    " != substr(id, 13, 1)"
                )
                assert crossing.fetchone()[0] == 0, (table, column)
        crossing = db.execute(
            "SELECT count(*) FROM activities, json_each(participants) AS p"
            " WHERE substr(p.value, 15, 1) != substr(activities.id, 13, 1)"
        )
        assert crossing.fetchone()[0] == 0
    container = build(settings(dest))
    try:
        uow = container.uow(tenant)
        # the columns equal those of the domain objects: every reference resolves in its copy
        expected = from_histories(await load_histories(uow), identity=stream_identity)
        async with uow:
            got = await uow.columns.read()
        assert_same(got, expected)
        assert len(set(got.deal_ids())) == len(set(got.stream.tolist())) == 3 * 40
        mined = await process(uow, cache=ModelCache())
    finally:
        await container.aclose()
    container = build(settings(source))
    try:
        original = await process(container.uow(tenant), cache=ModelCache())
        async with container.uow(tenant) as uow:
            alone = await uow.columns.read()
    finally:
        await container.aclose()
    # the copies keep the original's times: three of each
    assert np.array_equal(np.sort(got.t_us), np.sort(np.tile(alone.t_us, 3)))
    assert mined.deals == 3 * original.deals
    assert [(t.from_stage, t.to_stage, t.count) for t in mined.transitions] == [
        (t.from_stage, t.to_stage, 3 * t.count) for t in original.transitions
    ]
