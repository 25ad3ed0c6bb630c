"""The API's forecasts answer from the per-tenant model cache: counted fits."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from pie.bootstrap import Container, build
from pie.config import Settings
from pie.domain.model import EntityKind
from pie.domain.ownership import HUMAN
from pie.entrypoints.api.app import create_app
from pie.importing import import_file
from pie.sample import generate


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("api-cache") / "world.json"
    generate(out, deals=300, seed=8, conversations=False)
    return out


@dataclass
class Api:
    container: Container
    url: str
    key: str
    tenant: Any
    deal: str  # an open deal, as SOURCE:EXTERNAL_ID

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@pytest_asyncio.fixture
async def api(db: Any, sample: Path) -> AsyncIterator[Api]:
    container = build(Settings(database_url=db.url))
    made = await db.new_tenant("cache")
    await import_file(container.uow(made.tenant.id), sample)
    async with container.uow(made.tenant.id) as uow:
        refs = await uow.refs.resolve(
            EntityKind.DEAL, "sample", [f"D{i:06d}" for i in range(1, 301)]
        )
        deals = {x: await uow.deals.get(i) for x, i in refs.items()}
    deal = next(f"sample:{x}" for x, d in deals.items() if d is not None and d.is_open)
    yield Api(container, db.url, made.api_key, made.tenant.id, deal)
    await container.aclose()


async def _get(app_container: Container, api: Api, path: str, **params: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_app(app_container))
    async with httpx.AsyncClient(transport=transport, base_url="http://pie.test") as client:
        return await client.get(path, params=params, headers=api.headers())


async def test_forecasts_answer_from_the_cache_until_a_write(api: Api, fits: list[object]) -> None:
    c = api.container
    first = await _get(c, api, "/api/forecast/pipeline", runs=300)
    assert first.status_code == 200, first.text
    assert len(fits) == 1
    for path, params in (
        ("/api/forecast/pipeline", {"runs": 300, "deals": "true"}),
        (f"/api/deals/{api.deal}/forecast", {"runs": 300}),
        ("/api/process", {}),
    ):
        r = await _get(c, api, path, **params)
        assert r.status_code == 200, r.text
    assert len(fits) == 1
    again = await _get(c, api, "/api/forecast/pipeline", runs=300)
    assert again.json() == first.json()

    async with c.uow(api.tenant) as uow:  # a write: the deal's name changes
        deal_id = (await uow.refs.resolve(EntityKind.DEAL, "sample", [api.deal[7:]]))[api.deal[7:]]
        deal = await uow.deals.get(deal_id)
        assert deal is not None
        await uow.deals.update(
            dataclasses.replace(deal, name=deal.name + " (renamed)"), origin=HUMAN
        )
        await uow.commit()
    await _get(c, api, "/api/forecast/pipeline", runs=300)
    await _get(c, api, f"/api/deals/{api.deal}/forecast", runs=300)
    assert len(fits) == 2


async def test_a_restarted_server_loads_the_stored_model(api: Api, fits: list[object]) -> None:
    first = await _get(api.container, api, "/api/forecast/pipeline", runs=300)
    assert len(fits) == 1
    fresh = build(Settings(database_url=api.url))  # a new process: nothing in memory
    try:
        again = await _get(fresh, api, "/api/forecast/pipeline", runs=300)
    finally:
        await fresh.aclose()
    assert len(fits) == 1
    assert again.json() == first.json()
