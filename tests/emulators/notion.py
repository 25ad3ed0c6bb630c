"""Helpers for tests that talk to the Notion emulator through the real notion-client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
from notion_client import AsyncClient

from pie.sources.notion.emulator import NotionEmulator

TOKEN = "secret_test_token_4f7c2a"
BOT = "5a1b2c3d-0000-4000-8000-00000000b0b0"


@contextmanager
def running_emulator(**kwargs: Any) -> Iterator[NotionEmulator]:
    kwargs.setdefault("tokens", {TOKEN: BOT})
    with NotionEmulator(**kwargs) as emu:
        yield emu


@asynccontextmanager
async def sdk(
    emu: NotionEmulator, *, token: str = TOKEN, timeout_ms: int = 5_000
) -> AsyncIterator[AsyncClient]:
    """The official client, unchanged except ``base_url``, with its own retries off."""
    client = AsyncClient(auth=token, base_url=emu.url, retry=False, timeout_ms=timeout_ms)
    try:
        yield client
    finally:
        await client.aclose()


DEALS_SCHEMA: dict[str, Any] = {
    "Name": {"title": {}},
    "Notes": {"rich_text": {}},
    "Amount": {"number": {"format": "dollar"}},
    "Stage": {"select": {"options": [{"name": "Qualification", "color": "blue"}]}},
    "Close date": {"date": {}},
    "Email": {"email": {}},
}


async def make_data_source(client: AsyncClient, emu: NotionEmulator) -> str:
    db = await client.databases.create(
        parent={"type": "page_id", "page_id": emu.workspace.root_page_id},
        title=[{"type": "text", "text": {"content": "Deals"}}],
        initial_data_source={"properties": DEALS_SCHEMA},
    )
    return str(db["data_sources"][0]["id"])


def title(text: str) -> dict[str, Any]:
    return {"title": [{"text": {"content": text}}]}


async def raw_http(method: str, url: str, **kwargs: Any) -> httpx.Response:
    """A plain HTTP request, for what the SDK hides (headers, raw bodies, demo routes)."""
    async with httpx.AsyncClient() as client:
        return await client.request(method.upper(), url, **kwargs)
