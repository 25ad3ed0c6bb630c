"""The per-tenant model cache: one fit per change seq, shared by requests, kept in the store
so a new process does not refit."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from pie.importing import import_file
from pie.mining import ProcessModel, fit
from pie.sample import generate
from pie.services.model_cache import ModelCache
from tests.fakes.uow import InMemoryStore, InMemoryUnitOfWork


@dataclass
class Stored:
    key: str
    change_seq: int
    payload: bytes
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class Backing:
    """The change feed's newest seq and the model table, shared by every unit of work."""

    seq: int = 1
    models: dict[tuple[UUID, str], Stored] = field(default_factory=dict)


class Feed:
    def __init__(self, backing: Backing) -> None:
        self._b = backing

    async def latest(self) -> int:
        return self._b.seq


class Models:
    def __init__(self, backing: Backing, tenant: UUID) -> None:
        self._b, self._t = backing, tenant

    async def get(self, key: str) -> Stored | None:
        return self._b.models.get((self._t, key))

    async def put(self, key: str, change_seq: int, payload: bytes) -> None:
        self._b.models[(self._t, key)] = Stored(key, change_seq, payload)


class CachingUow(InMemoryUnitOfWork):
    def __init__(self, tenant: UUID, store: InMemoryStore, backing: Backing) -> None:
        super().__init__(tenant, store)
        self.changes = Feed(backing)
        self.models = Models(backing, tenant)


@dataclass
class World:
    store: InMemoryStore
    backing: Backing
    tenant: UUID

    def uow(self) -> CachingUow:
        return CachingUow(self.tenant, self.store, self.backing)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cache") / "world.json"
    generate(out, deals=300, seed=4, conversations=False)
    return out


@pytest.fixture
async def world(sample: Path) -> World:
    store, tenant = InMemoryStore(), uuid4()
    await import_file(InMemoryUnitOfWork(tenant, store), sample)
    return World(store, Backing(), tenant)


@pytest.fixture
def fits(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    calls: list[datetime] = []
    real = fit

    def counting(*args: Any, **kwargs: Any) -> ProcessModel:
        calls.append(kwargs["as_of"])
        return real(*args, **kwargs)

    monkeypatch.setattr("pie.services.model_cache.fit", counting)
    return calls


async def test_one_fit_per_change_seq(world: World, fits: list[datetime]) -> None:
    cache = ModelCache()
    first = await cache.world(world.uow())
    again = await cache.world(world.uow())
    assert again is first
    assert len(fits) == 1
    world.backing.seq += 1  # a write
    a, b = await asyncio.gather(cache.world(world.uow()), cache.world(world.uow()))
    assert a is b is not first
    assert len(fits) == 2
    assert cache.fits == 2


async def test_a_new_process_loads_the_stored_model(world: World, fits: list[datetime]) -> None:
    fitted = await ModelCache().world(world.uow())
    loaded = await ModelCache().world(world.uow())
    assert len(fits) == 1
    assert loaded.as_of == fitted.as_of
    assert (loaded.model.rates == fitted.model.rates).all()
    assert len(loaded.histories) == len(fitted.histories)
    world.backing.seq += 1
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
    assert len(cache._worlds) == 1


async def test_a_damaged_stored_model_is_refitted(world: World, fits: list[datetime]) -> None:
    await ModelCache().world(world.uow())
    for stored in world.backing.models.values():
        stored.payload = b"garbage"
    await ModelCache().world(world.uow())
    assert len(fits) == 2


async def test_without_a_change_feed_every_call_fits(world: World, fits: list[datetime]) -> None:
    cache = ModelCache()
    plain = InMemoryUnitOfWork(world.tenant, world.store)
    await cache.world(plain)
    await cache.world(plain)
    assert len(fits) == 2
