"""The Pipedrive emulator speaks the fact sheet's API (envelopes, cursor and offset paging,
modification filters, deletes, auth, 429s with rate headers, injected failures), and the
client honours it (waits as told, stops on a spent budget, retries 5xx, refuses bad tokens)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from pie.domain.errors import PermanentError, TransientError
from pie.sources.pipedrive.client import PipedriveClient
from pie.sources.pipedrive.emulator import DEFAULT_TOKEN, Emulator, Limits
from pie.sources.pipedrive.world import World, seeded

HEADERS = {"x-api-token": DEFAULT_TOKEN}


@pytest.fixture
def world() -> World:
    return seeded(deals=6, seed=2)


@pytest.fixture
def emulator(world: World) -> Iterator[Emulator]:
    with Emulator(world, max_limit=3) as emu:
        yield emu


@pytest.fixture
def http(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.base_url, headers=HEADERS) as client:
        yield client


def get(http: httpx.Client, path: str, **params: Any) -> httpx.Response:
    return http.get(path, params=params)


def test_v2_lists_page_by_cursor_in_the_vendor_envelope(
    emulator: Emulator, http: httpx.Client
) -> None:
    ids: list[int] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 100, "sort_by": "update_time", **({"cursor": cursor} if cursor else {})}
        body = get(http, "/api/v2/persons", **params).json()
        assert body["success"] is True and set(body) == {"success", "data", "additional_data"}
        assert len(body["data"]) <= 3  # the emulator's page size wins
        ids += [p["id"] for p in body["data"]]
        pages += 1
        cursor = body["additional_data"]["next_cursor"]
        if cursor is None:
            break
    assert sorted(ids) == sorted(emulator.world.records["persons"]) and len(set(ids)) == len(ids)
    assert pages > 3


def test_modification_filters_and_deleted_records(emulator: Emulator, http: httpx.Client) -> None:
    world = emulator.world
    deal = world.all("deals")[0]["id"]
    world.delete("deals", deal)
    since = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    recent = get(http, "/api/v2/deals", updated_since="2000-01-01T00:00:00Z").json()
    assert deal not in [d["id"] for d in recent["data"]]  # deleted deals need status=deleted
    listed = get(http, "/api/v2/deals", status="deleted", updated_since=since).json()
    assert [(d["id"], d["status"], d["is_deleted"]) for d in listed["data"]] == [
        (deal, "deleted", True)
    ]
    until = get(http, "/api/v2/deals", status="deleted", updated_until=since).json()
    assert until["data"] == []
    activities = get(http, "/api/v2/activities", updated_since=since, limit=100).json()
    assert activities["data"] and all(a["is_deleted"] for a in activities["data"])
    assert all(a["deal_id"] == deal for a in activities["data"])
    bad = get(http, "/api/v2/deals", updated_since="yesterday")
    assert bad.status_code == 400 and bad.json()["success"] is False


def test_the_v1_flow_pages_by_offset_newest_first(emulator: Emulator, http: httpx.Client) -> None:
    world = emulator.world
    deal = next(d for d in world.all("deals") if d["status"] == "open")
    stages = [s for s in world.records["stages"] if s != deal["stage_id"]][:3]
    for stage in stages:
        world.update("deals", deal["id"], stage_id=stage)
    items: list[dict[str, Any]] = []
    start = 0
    while True:
        body = get(http, f"/api/v1/deals/{deal['id']}/flow", start=start, limit=2).json()
        items += body["data"]
        paging = body["additional_data"]["pagination"]
        if not paging["more_items_in_collection"]:
            break
        start = paging["next_start"]
    assert [i["data"]["new_value"] for i in items[:3]] == [str(s) for s in reversed(stages)]
    assert all(i["object"] == "dealChange" for i in items)
    missing = get(http, "/api/v1/deals/99999/flow")
    assert missing.status_code == 404 and missing.json()["error"] == "Deal not found"


def test_a_deals_participant_count_comes_only_when_asked_for(
    emulator: Emulator, http: httpx.Client
) -> None:
    """As v2 sends it: ``participants_count`` is one of the deal's ``include_fields``."""
    plain = get(http, "/api/v2/deals", limit=100).json()["data"]
    asked = get(http, "/api/v2/deals", limit=100, include_fields="participants_count").json()
    assert plain and all("participants_count" not in d for d in plain)
    deal = emulator.world.records["deals"][plain[0]["id"]]
    assert asked["data"][0]["participants_count"] == deal["participants_count"]
    one = f"/api/v2/deals/{deal['id']}"
    assert "participants_count" not in get(http, one).json()["data"]
    assert get(http, one, include_fields="participants_count").json()["data"]["id"] == deal["id"]


def test_auth_errors_and_writes_over_http(emulator: Emulator) -> None:
    refused = httpx.get(emulator.base_url + "/api/v2/deals", params={"api_token": "nope"})
    assert refused.status_code == 401
    assert refused.json() == {
        "success": False,
        "error": "unauthorized access",
        "errorCode": 401,
        "error_info": refused.json()["error_info"],
        "data": None,
        "additional_data": None,
    }
    by_query = httpx.get(emulator.base_url + "/api/v2/stages", params={"api_token": DEFAULT_TOKEN})
    assert by_query.status_code == 200
    person = emulator.world.all("persons")[0]["id"]
    patched = httpx.patch(
        f"{emulator.base_url}/api/v2/persons/{person}", json={"name": "New"}, headers=HEADERS
    )
    assert patched.json()["data"]["name"] == "New"
    httpx.delete(f"{emulator.base_url}/api/v2/persons/{person}", headers=HEADERS)
    assert emulator.world.records["persons"][person]["is_deleted"] is True


def test_429s_carry_the_rate_headers(emulator: Emulator, http: httpx.Client) -> None:
    emulator.limits = Limits(burst=2, window=60)
    assert get(http, "/api/v2/stages").headers["x-ratelimit-remaining"] == "1"
    get(http, "/api/v2/stages")
    limited = get(http, "/api/v2/stages")
    assert limited.status_code == 429
    assert limited.headers["x-ratelimit-limit"] == "2"
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert 0 < float(limited.headers["retry-after"]) <= 60
    assert limited.json()["success"] is False
    emulator.limits = Limits(budget=25)
    get(http, "/api/v2/stages")  # 10 tokens
    get(http, "/api/v2/stages")  # 20 of 25 (the usage before counts too)
    spent = get(http, "/api/v2/stages")
    assert spent.status_code == 429 and float(spent.headers["x-ratelimit-reset"]) > 60


def test_the_nth_request_fails_on_demand(emulator: Emulator, http: httpx.Client) -> None:
    emulator.inject(emulator.requests + 2, 503, times=2)
    codes = [get(http, "/api/v2/pipelines").status_code for _ in range(4)]
    assert codes == [200, 503, 503, 200]


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


async def test_the_client_waits_as_told_and_stops_on_a_spent_budget(emulator: Emulator) -> None:
    sleeps = Sleeps()
    async with PipedriveClient(emulator.base_url, DEFAULT_TOKEN, sleep=sleeps) as client:
        emulator.inject(emulator.requests + 1, 429, times=2, retry_after=1.5)
        body = await client.get("/api/v2/pipelines")
        assert body["success"] and sleeps.waits == [1.5, 1.5]

        emulator.inject(emulator.requests + 1, 500, times=2)
        await client.get("/api/v2/pipelines")
        assert client.stats.failures == 2

        emulator.inject(emulator.requests + 1, 502, times=100)
        with pytest.raises(TransientError):
            await client.get("/api/v2/pipelines")
        emulator.clear_faults()

        emulator.inject(emulator.requests + 1, 429, retry_after=86_000)
        with pytest.raises(TransientError, match="budget") as spent:
            await client.get("/api/v2/pipelines")
        assert spent.value.retry_after == 86_000

    async with PipedriveClient(emulator.base_url, "wrong-token") as client:
        with pytest.raises(PermanentError, match="refused the API token"):
            await client.get("/api/v2/pipelines")
        assert "wrong-token" not in repr(client)
