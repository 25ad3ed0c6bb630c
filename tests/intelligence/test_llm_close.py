"""The LLM backend's HTTP clients are closed before the event loop ends: by the extractor's
``aclose``, by the container (which the CLI and the API's lifespan close), against the local
OpenAI-compatible server that replays recorded answers."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from pie.bootstrap import build
from pie.config import Settings
from pie.intelligence import llm
from tests.dbfixtures import Database
from tests.intelligence.llm_server import RecordedLlm
from tests.intelligence.test_llm import conversation, extractor, recorded
from tests.unit.services.intel_world import BUYING, SELLER, email


def _cached() -> list[Any]:
    import litellm

    return list(litellm.in_memory_llm_clients_cache.cache_dict.values())


async def test_the_extractor_closes_the_clients_it_used() -> None:
    with RecordedLlm([recorded("call_002_answer.json")]) as server:
        async with extractor(server) as ex:
            x = await ex.extract(conversation())
            opened = [c for c in _cached() if hasattr(c, "is_closed")]
        assert x.backend.startswith("llm:") and opened
    assert all(c.is_closed() for c in opened)  # openai.AsyncOpenAI, closed
    assert _cached() == []  # and forgotten: a later event loop makes new ones


@pytest.fixture
def llm_env(monkeypatch: pytest.MonkeyPatch) -> Any:
    server = RecordedLlm()
    server.default = recorded("call_002_answer.json")
    with server:
        monkeypatch.setenv("PIE_LLM_MODEL", "openai/recorded-model")
        monkeypatch.setenv("PIE_LLM_API_BASE", server.base_url)
        monkeypatch.setenv("PIE_LLM_API_KEY", "test-key")
        yield server


@pytest.fixture
def closes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = llm.close_llm_clients

    async def counting() -> None:
        calls.append(1)
        await real()

    monkeypatch.setattr(llm, "close_llm_clients", counting)
    return calls


async def test_the_container_closes_its_extractors_and_narrator(
    llm_env: RecordedLlm, closes: list[int], tmp_path: Path
) -> None:
    container = build(
        Settings(data_dir=tmp_path, database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db")
    )
    ex = container.extractor(seller_domains=("lumen.example",))
    assert container.extractor(seller_domains=("lumen.example",)) is ex  # kept, not rebuilt
    await ex.extract(conversation())
    assert container.narrator() is container.narrator()
    await container.aclose()
    assert llm_env.requests and closes  # the extractor's and the narrator's
    assert _cached() == []


def test_the_cli_closes_the_llm_clients(
    llm_env: RecordedLlm, closes: list[int], sqlite_db: Database, tmp_path: Path
) -> None:
    from tests.e2e.test_cli import pie

    name = f"llm-{uuid.uuid4().hex[:8]}"
    assert pie("--db", sqlite_db.url, "tenant", "create", name).exit_code == 0
    f = tmp_path / "call.txt"
    f.write_text(email(BUYING), encoding="utf-8")
    got = pie(
        "--db", sqlite_db.url, "--tenant", name, "conversations", "add", f,
        "--seller-domain", SELLER, "--json",
    )  # fmt: skip
    assert got.exit_code == 0, got.output
    assert llm_env.requests  # the LLM backend was used ...
    assert closes and _cached() == []  # ... and closed before the command's loop ended
