"""Bounded work per request under load: simulations run a few at a time off the event loop,
a full queue is answered 429 with Retry-After, /api/health stays fast meanwhile, and memory
returns to its baseline after a burst."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import tracemalloc
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from pie.bootstrap import build
from pie.config import Settings
from pie.entrypoints.api.app import create_app
from pie.entrypoints.api.limits import SimulationGate
from pie.importing import import_file
from pie.sample import generate
from pie.simulation import simulate_scenario

RUNNING, WAITING = 2, 2


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("api-load") / "world.json"
    generate(out, deals=200, seed=5, conversations=False)
    return out


@dataclass
class Api:
    client: httpx.AsyncClient
    headers: dict[str, str]
    deal: str  # an open deal
    gate: SimulationGate

    async def simulate(self, seed: int = 0, runs: int = 2_000) -> httpx.Response:
        body = {
            "deal_id": self.deal,
            "scenario": {"type": "custom", "params": {"has_champion": True}},
            "n_simulations": runs,
            "seed": seed,
        }
        return await self.client.post("/api/simulate", json=body, headers=self.headers)


@pytest_asyncio.fixture
async def api(sqlite_db: Any, sample: Path) -> AsyncIterator[Api]:
    settings = Settings(
        database_url=sqlite_db.url,
        max_concurrent_simulations=RUNNING,
        simulation_queue=WAITING,
    )
    container = build(settings)
    made = await sqlite_db.new_tenant("load")
    await import_file(container.uow(made.tenant.id), sample)
    async with container.uow(made.tenant.id) as uow:
        deals = await uow.deals.list(limit=500)
    deal = next(d for d in deals if d.is_open)
    app = create_app(container)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pie.test") as client:
        api = Api(client, {"Authorization": f"Bearer {made.api_key}"}, str(deal.id), app.state.gate)
        r = await api.simulate(runs=200)  # fits the model once: the tests time simulations
        assert r.status_code == 200, r.text
        yield api
    await container.aclose()


async def _until_admitted(gate: SimulationGate, count: int) -> None:
    for _ in range(1000):
        if gate.admitted >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"only {gate.admitted} of {count} requests reached the gate")


class SlowSimulations:
    """simulate_scenario after a blocking wait (on the event loop it would stall every other
    request for as long); counts how many run at once."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.now = 0
        self.most = 0
        self._lock = threading.Lock()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            time.sleep(self.seconds)
            return simulate_scenario(*args, **kwargs)
        finally:
            with self._lock:
                self.now -= 1


async def test_health_stays_fast_and_a_full_queue_is_answered_429(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = SlowSimulations(seconds=1.0)
    monkeypatch.setattr("pie.services.simulation.simulate_scenario", slow)
    start = time.perf_counter()
    admitted = [asyncio.create_task(api.simulate(seed=i)) for i in range(RUNNING + WAITING)]
    await _until_admitted(api.gate, RUNNING + WAITING)

    refused = await api.simulate(seed=99)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "busy"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60

    health = []
    while not all(t.done() for t in admitted):
        t0 = time.perf_counter()
        r = await api.client.get("/api/health")
        health.append(time.perf_counter() - t0)
        assert r.status_code == 200
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - start

    assert [t.result().status_code for t in admitted] == [200] * (RUNNING + WAITING)
    assert slow.most == RUNNING  # never more than the gate's slots at once
    assert elapsed >= 2 * slow.seconds  # two rounds: the waiting ones ran after the first
    assert len(health) >= 10
    assert max(health) < 0.25, health  # off the event loop: health does not wait for them
    assert api.gate.admitted == 0
    assert (await api.simulate(seed=100)).status_code == 200  # free again


async def test_a_cancelled_request_frees_its_place(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pie.services.simulation.simulate_scenario", SlowSimulations(0.3))
    tasks = [asyncio.create_task(api.simulate(seed=i)) for i in range(RUNNING + WAITING)]
    await _until_admitted(api.gate, RUNNING + WAITING)
    tasks[-1].cancel()  # a client that went away while waiting
    await asyncio.gather(*tasks, return_exceptions=True)
    assert api.gate.admitted == 0


async def test_memory_returns_to_its_baseline_after_a_burst(api: Api) -> None:
    """Real simulations, more than the gate admits at once; health is timed meanwhile."""
    health: list[float] = []

    async def burst() -> None:
        requests = [api.simulate(seed=i, runs=20_000) for i in range(3)]
        requests += [
            api.client.get(
                "/api/forecast/pipeline",
                params={"runs": 5_000, "seed": i, "deals": "true"},
                headers=api.headers,
            )
            for i in range(3)
        ]
        running = asyncio.gather(*requests)
        while not running.done():
            t0 = time.perf_counter()
            assert (await api.client.get("/api/health")).status_code == 200
            health.append(time.perf_counter() - t0)
            await asyncio.sleep(0.02)
        answers = await running
        assert {r.status_code for r in answers} <= {200, 429}
        assert sum(r.status_code == 200 for r in answers) >= RUNNING + WAITING

    await burst()  # warm: caches, imports and pools settle
    gc.collect()
    tracemalloc.start()
    try:
        baseline, _ = tracemalloc.get_traced_memory()
        for _ in range(2):
            await burst()
        gc.collect()
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    mb = 2**20
    assert peak - baseline > 5 * mb, "the burst should have allocated something"
    assert after - baseline < 2 * mb, (baseline / mb, after / mb, peak / mb)
    assert max(health) < 1.0, health
    print(
        f"memory MB: baseline {baseline / mb:.1f}, peak {peak / mb:.1f}, after {after / mb:.1f}; "
        f"health max {max(health):.3f}s of {len(health)}"
    )
