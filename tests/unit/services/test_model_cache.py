"""The per-tenant model cache: one fit per change seq, shared by requests, kept in the store
so a new process does not refit."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from pie.domain.ownership import HUMAN
from pie.importing import import_file
from pie.mining.columns import DealColumns
from pie.mining.config import DEFAULT_CONFIG
from pie.sample import generate
from pie.services.model_cache import ModelCache, fit_key
from pie.services.simulation import forecast_deal
from tests.fakes.uow import FakeColumnReader, InMemoryStore, InMemoryUnitOfWork


@dataclass
class World:
    store: InMemoryStore
    tenant: UUID

    def uow(self) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self.tenant, self.store)

    async def write(self) -> None:
        """Rename a deal: a change, so a newer change seq."""
        async with self.uow() as uow:
            before = await uow.changes.latest()
            async for batch in uow.deals.iter_all(batch_size=1):
                deal = batch[0]
                break
            # a person's edit: PIE's own writes may not replace the file's values
            await uow.deals.update(dataclasses.replace(deal, name=deal.name + "+"), origin=HUMAN)
            await uow.commit()
            assert await uow.changes.latest() > before


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cache") / "world.json"
    generate(out, deals=300, seed=4, conversations=False)
    return out


@pytest.fixture
async def world(sample: Path) -> World:
    store, tenant = InMemoryStore(), uuid4()
    await import_file(InMemoryUnitOfWork(tenant, store), sample)
    return World(store, tenant)


async def test_one_fit_per_change_seq(world: World, fits: list[datetime]) -> None:
    cache = ModelCache()
    first = await cache.world(world.uow())
    again = await cache.world(world.uow())
    assert again.model is first.model
    assert len(fits) == 1
    await world.write()
    a, b = await asyncio.gather(cache.world(world.uow()), cache.world(world.uow()))
    assert a.model is b.model is not first.model
    assert len(fits) == 2
    assert cache.fits == 2


async def test_a_new_process_loads_the_stored_model(world: World, fits: list[datetime]) -> None:
    fitted = await ModelCache().world(world.uow())
    loaded = await ModelCache().world(world.uow())
    assert len(fits) == 1
    assert loaded.as_of == fitted.as_of
    assert (loaded.model.rates == fitted.model.rates).all()
    assert len(loaded.deals) == len(fitted.deals)
    await world.write()
    await ModelCache().world(world.uow())
    assert len(fits) == 2  # the stored model is for an older seq


async def test_as_of_is_part_of_the_key(world: World, fits: list[datetime]) -> None:
    cache = ModelCache(max_entries=1)
    latest = await cache.world(world.uow())
    earlier = latest.as_of - timedelta(days=60)
    past = await cache.world(world.uow(), as_of=earlier)
    assert past.as_of == earlier
    assert fits == [latest.as_of, earlier]
    again = await cache.world(world.uow())  # evicted from memory, loaded from the store
    assert again.as_of == latest.as_of
    assert len(fits) == 2
    assert len(cache._models) == 1


async def test_a_damaged_stored_model_is_refitted(world: World, fits: list[datetime]) -> None:
    await ModelCache().world(world.uow())
    key = fit_key(DEFAULT_CONFIG, None)
    async with world.uow() as uow:
        stored = await uow.models.get(key)
        assert stored is not None
        await uow.models.put(key, stored.change_seq, b"garbage")
        await uow.commit()
    await ModelCache().world(world.uow())
    assert len(fits) == 2


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the reads of a tenant's every deal (one entry per read)."""
    out: list[int] = []
    real = FakeColumnReader.read

    async def counted(self: FakeColumnReader) -> DealColumns:
        out.append(1)
        return await real(self)

    monkeypatch.setattr(FakeColumnReader, "read", counted)
    return out


async def first_deal(world: World, before: datetime | None = None) -> UUID:
    """An open deal (created before ``before``)."""
    async with world.uow() as uow:
        async for batch in uow.deals.iter_all():
            for d in batch:
                if d.is_open and (before is None or d.created_at < before):
                    return d.id
    raise AssertionError("no such deal")


async def test_a_warm_deal_forecast_reads_only_that_deal(
    world: World, fits: list[datetime], reads: list[int]
) -> None:
    cache = ModelCache(keep_deals=0)  # as for a store too large to keep in memory
    deal = await first_deal(world)
    cold = await forecast_deal(world.uow(), deal, runs=200, cache=cache)
    assert (len(fits), len(reads)) == (1, 1)
    warm = await forecast_deal(world.uow(), deal, runs=200, cache=cache)
    assert (len(fits), len(reads)) == (1, 1)  # neither a fit nor a read of every deal
    assert warm == cold
    restarted = await forecast_deal(world.uow(), deal, runs=200, cache=ModelCache())
    assert (len(fits), len(reads)) == (1, 1)  # the stored model, and still one deal read
    assert restarted == cold


async def test_a_warm_past_forecast_matches_a_fresh_one(
    world: World, fits: list[datetime], reads: list[int]
) -> None:
    latest = await ModelCache().world(world.uow())
    earlier = latest.as_of - timedelta(days=30)
    deal = await first_deal(world, before=earlier)
    fresh = await forecast_deal(world.uow(), deal, runs=200, as_of=earlier, cache=ModelCache())
    # a new process: the model comes from the store, the deal is cut at the same moment
    stored = await forecast_deal(world.uow(), deal, runs=200, as_of=earlier, cache=ModelCache())
    assert stored == fresh
    assert len(fits) == 2


async def test_large_stores_are_not_kept_in_memory(
    world: World, fits: list[datetime], reads: list[int]
) -> None:
    small, large = ModelCache(), ModelCache(keep_deals=10)
    for cache in (small, small, large, large):
        await cache.world(world.uow())
    assert len(reads) == 3  # the small store read once, the large one at each request
    assert len(fits) == 1
