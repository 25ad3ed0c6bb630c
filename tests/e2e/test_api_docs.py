"""/docs and /redoc work without internet: their pages load only assets the app serves itself."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from pie.bootstrap import build
from pie.config import Settings
from pie.entrypoints.api.app import create_app
from tests.dbfixtures import Database


@pytest_asyncio.fixture
async def client(sqlite_db: Database) -> AsyncIterator[httpx.AsyncClient]:
    container = build(Settings(database_url=sqlite_db.url))
    transport = httpx.ASGITransport(app=create_app(container))
    async with httpx.AsyncClient(transport=transport, base_url="http://pie.test") as c:
        yield c
    await container.aclose()


@pytest.mark.parametrize(("page", "needs"), [("/docs", "SwaggerUIBundle"), ("/redoc", "Redoc")])
async def test_docs_pages_load_only_local_assets(
    client: httpx.AsyncClient, page: str, needs: str
) -> None:
    r = await client.get(page)
    assert r.status_code == 200
    html = r.text
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    assert assets, html
    assert [a for a in assets if not a.startswith("/")] == []
    assert re.findall(r"https?://", html) == []  # no CDN, no web fonts
    for asset in assets:
        served = await client.get(asset)
        assert served.status_code == 200, asset
        assert len(served.content) > 1000, asset
    scripts = [a for a in assets if a.endswith(".js")]
    bodies = [(await client.get(s)).text for s in scripts]
    assert any(needs in body for body in bodies)
    spec = await client.get("/openapi.json")
    assert spec.status_code == 200
