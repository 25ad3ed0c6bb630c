"""`pie notion setup / check / human-edit` against the emulator, as a user types them, and the
security rule: the Notion token shows up in no output, error, log line or stored byte."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from pie.domain.errors import PieError
from pie.entrypoints.cli.main import app
from pie.sources.notion.emulator import Fault, NotionEmulator

runner = CliRunner()


@pytest.fixture
def token() -> str:
    return f"ntn_{secrets.token_hex(16)}"


@pytest.fixture
def emulator(token: str) -> Iterator[NotionEmulator]:
    with NotionEmulator(tokens={token: "8d7b0f0e-0000-4000-8000-0000000000b1"}) as emu:
        yield emu


@pytest.fixture
def env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator: NotionEmulator, token: str
) -> Path:
    monkeypatch.setenv("PIE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PIE_NOTION_BASE_URL", emulator.url)
    monkeypatch.setenv("PIE_NOTION_TOKEN", token)
    monkeypatch.delenv("PIE_SECRET_KEY", raising=False)
    monkeypatch.delenv("PIE_DATABASE_URL", raising=False)
    return tmp_path


async def api_answers(api_key: str) -> list[str]:
    """What the API shows of the tenant's connections (the Notion one among them)."""
    from pie.bootstrap import build
    from pie.config import Settings
    from pie.entrypoints.api.app import create_app

    container = build(Settings())
    try:
        transport = httpx.ASGITransport(app=create_app(container))
        async with httpx.AsyncClient(transport=transport, base_url="http://pie.test") as client:
            headers = {"Authorization": f"Bearer {api_key}"}
            listed = await client.get("/api/import/connections", headers=headers)
            assert listed.status_code == 200, listed.text
            answers = [listed.text]
            for conn in listed.json()["connections"]:
                status = await client.get(f"/api/import/status/{conn['id']}", headers=headers)
                assert status.status_code == 200, status.text
                answers.append(status.text)
            return answers
    finally:
        await container.aclose()


def pie(*args: str, **kwargs: Any) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False, **kwargs)


def test_setup_check_and_human_edit_against_the_emulator(
    env: Path, emulator: NotionEmulator
) -> None:
    assert pie("tenant", "create", "acme").exit_code == 0
    made = pie(
        "-t", "acme", "notion", "setup", "--parent", emulator.workspace.root_page_id, "--json"
    )
    assert made.exit_code == 0, made.output
    body = json.loads(made.stdout)
    assert body["ok"] and {d["kind"] for d in body["databases"]} == {"deal", "contact"}
    assert all(d["data_source_id"] for d in body["databases"])
    assert len(emulator.workspace.databases) == 2
    twice = pie("-t", "acme", "notion", "setup", "--parent", emulator.workspace.root_page_id)
    assert twice.exit_code == 1 and "set up already" in twice.output
    assert len(emulator.workspace.databases) == 2

    checked = pie("-t", "acme", "notion", "check")
    assert checked.exit_code == 0, checked.output
    assert "deals: ok" in checked.stdout and "contacts: ok" in checked.stdout
    assert max(len(line) for line in checked.stdout.splitlines()) <= 80

    deals = next(d for d in body["databases"] if d["kind"] == "deal")
    emulator.workspace.update_data_source(
        deals["data_source_id"], {"properties": {"Close Date": None, "Value": {"email": {}}}}, "x"
    )
    broken = pie("-t", "acme", "notion", "check")
    assert broken.exit_code == 1
    assert "missing property 'Close Date' (expected type date)" in broken.stdout
    assert "property 'Value' has type email, expected number" in broken.stdout

    ds = deals["data_source_id"]
    page = emulator.workspace.create_page(
        {
            "parent": {"data_source_id": ds},
            "properties": {"Deal Name": {"title": [{"text": {"content": "Acme"}}]}},
        },
        "bot",
    )
    edited = pie(
        "notion", "human-edit", "Acme", "--set", "Stage=negotiation", "--emulator", emulator.url
    )
    assert edited.exit_code == 0, edited.output
    now = emulator.workspace.retrieve_page(page["id"])
    assert now["properties"]["Stage"]["select"]["name"] == "negotiation"
    assert now["last_edited_by"]["id"] != "bot"
    missing = pie("notion", "human-edit", "Nobody", "--set", "Stage=x", "--emulator", emulator.url)
    assert missing.exit_code == 1 and "0 pages have the title 'Nobody'" in missing.output


def test_the_token_is_in_no_output_error_log_or_stored_byte(
    env: Path,
    emulator: NotionEmulator,
    token: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: pie, notion_client, httpx, httpcore
    outputs: list[str] = []

    def run(*args: str) -> Any:
        result = pie(*args)
        outputs.append(result.output)
        return result

    created = run("tenant", "create", "acme", "--json")
    api_key = json.loads(created.stdout)["api_key"]
    root = emulator.workspace.root_page_id
    assert run("-t", "acme", "notion", "setup", "--parent", root).exit_code == 0
    assert run("-t", "acme", "notion", "check", "--json").exit_code == 0
    answers = asyncio.run(api_answers(api_key))
    assert any('"notion"' in a for a in answers)  # the API did show the connection
    outputs += answers

    # failures: Notion down, the token revoked, a bad parent, with --debug tracebacks too
    emulator.inject(Fault(status=503, code="service_unavailable", retry_after="0", times=10))
    assert run("-t", "acme", "notion", "check").exit_code == 1
    emulator.clear_faults()
    emulator.inject(Fault(kind="drop"))
    assert run("-t", "acme", "notion", "setup", "--parent", root, "--again").exit_code != 0
    bad_parent = run("-t", "acme", "notion", "setup", "--parent", "not-a-page", "--again")
    assert bad_parent.exit_code == 1 and "Could not find page" in bad_parent.output
    emulator.tokens.clear()  # revoked: the stored token is now refused with 401
    denied = run("-t", "acme", "notion", "check")
    assert denied.exit_code == 1 and "API token is invalid" in denied.output
    with pytest.raises(PieError) as raised:
        pie("--debug", "-t", "acme", "notion", "check")
    chain: list[str] = []
    err: BaseException | None = raised.value
    while err is not None:
        chain += [repr(err), str(err), repr(getattr(err, "__dict__", ""))]
        err = err.__cause__ or err.__context__

    # the stored credential is encrypted: no byte of the store or key folder holds it
    at_rest = b"".join(p.read_bytes() for p in env.rglob("*") if p.is_file())

    # a new token typed at the prompt (no PIE_NOTION_TOKEN) is not echoed either
    monkeypatch.delenv("PIE_NOTION_TOKEN")
    emulator.tokens["ntn_second_" + token[-8:]] = "bot-2"
    prompted = pie(
        "-t",
        "acme",
        "notion",
        "setup",
        "--parent",
        root,
        "--ask-token",
        "--again",
        input="ntn_second_" + token[-8:] + "\n",
    )
    outputs.append(prompted.output)
    assert prompted.exit_code == 0, prompted.output

    logged = "\n".join(r.getMessage() for r in caplog.records)
    requests = json.dumps([r.body for r in emulator.log], default=str)
    for secret in (token, "ntn_second_" + token[-8:]):
        for text in (*outputs, *chain, logged, requests):
            assert secret not in text
        assert secret.encode() not in at_rest
    assert len(caplog.records) > 0 and outputs  # the search looked at something
