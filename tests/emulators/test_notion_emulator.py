"""The Notion emulator, driven by the official notion-client (only ``base_url`` changed)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from notion_client import APIErrorCode, APIResponseError
from notion_client.errors import RequestTimeoutError, UnknownHTTPResponseError
from notion_client.helpers import async_collect_paginated_api

from pie.sources.notion.emulator import HUMAN_USER_ID, Clock, Fault
from tests.emulators.notion import (
    BOT,
    TOKEN,
    make_data_source,
    raw_http,
    running_emulator,
    sdk,
    title,
)


def parent(ds: str) -> dict[str, str]:
    return {"type": "data_source_id", "data_source_id": ds}


async def test_database_create_exposes_its_data_source_and_schema() -> None:
    with running_emulator() as emu:
        async with sdk(emu) as client:
            ds_id = await make_data_source(client, emu)
            db_id = next(iter(emu.workspace.databases))
            db = await client.databases.retrieve(db_id.replace("-", ""))  # dashless ids work
            assert db["object"] == "database"
            assert db["data_sources"] == [{"id": ds_id, "name": "Deals"}]
            ds = await client.data_sources.retrieve(ds_id)
            props = ds["properties"]
            assert ds["parent"] == {"type": "database_id", "database_id": db_id}
            assert {n: p["type"] for n, p in props.items()} == {
                "Name": "title",
                "Notes": "rich_text",
                "Amount": "number",
                "Stage": "select",
                "Close date": "date",
                "Email": "email",
            }
            assert props["Name"]["id"] == "title"
            assert props["Amount"]["number"] == {"format": "dollar"}
            assert props["Stage"]["select"]["options"][0]["name"] == "Qualification"


async def test_data_source_update_adds_renames_and_removes_properties() -> None:
    with running_emulator() as emu:
        async with sdk(emu) as client:
            ds_id = await make_data_source(client, emu)
            amount_id = (await client.data_sources.retrieve(ds_id))["properties"]["Amount"]["id"]
            ds = await client.data_sources.update(
                ds_id,
                properties={
                    "PIE id": {"rich_text": {}},
                    "Amount": {"name": "Value"},
                    "Email": None,
                },
            )
            props = ds["properties"]
            assert props["Value"]["id"] == amount_id
            assert "Amount" not in props and "Email" not in props
            assert props["PIE id"]["type"] == "rich_text"


async def test_pages_create_retrieve_update_and_trash() -> None:
    with running_emulator() as emu:
        async with sdk(emu) as client:
            ds = await make_data_source(client, emu)
            page = await client.pages.create(
                parent=parent(ds),
                properties={
                    "Name": title("Acme renewal"),
                    "Amount": {"number": 48000},
                    "Stage": {"select": {"name": "Negotiation"}},
                    "Close date": {"date": {"start": "2025-06-30"}},
                    "Email": {"email": "buyer@acme.example"},
                },
            )
            assert page["parent"]["data_source_id"] == ds
            assert page["created_by"] == {"object": "user", "id": BOT}
            props = page["properties"]
            assert props["Name"]["title"][0]["plain_text"] == "Acme renewal"
            assert props["Stage"]["select"]["name"] == "Negotiation"  # a new option is added
            assert props["Close date"]["date"] == {
                "start": "2025-06-30",
                "end": None,
                "time_zone": None,
            }
            assert props["Notes"]["rich_text"] == []
            schema = await client.data_sources.retrieve(ds)
            names = [o["name"] for o in schema["properties"]["Stage"]["select"]["options"]]
            assert names == ["Qualification", "Negotiation"]

            updated = await client.pages.update(page["id"], properties={"Amount": {"number": 1}})
            assert updated["properties"]["Amount"]["number"] == 1
            assert updated["properties"]["Email"]["email"] == "buyer@acme.example"  # untouched

            trashed = await client.pages.update(page["id"], in_trash=True)
            assert trashed["in_trash"] is True and trashed["archived"] is True
            assert (await client.data_sources.query(ds))["results"] == []
            with_trash = await client.data_sources.query(ds, in_trash=True)
            assert [p["id"] for p in with_trash["results"]] == [page["id"]]
            with pytest.raises(APIResponseError) as err:
                await client.pages.update(page["id"], properties={"Amount": {"number": 2}})
            assert err.value.code == APIErrorCode.ValidationError
            assert "archived" in str(err.value)
            restored = await client.pages.update(page["id"], archived=False)  # deprecated alias
            assert restored["in_trash"] is False
            assert (await client.pages.retrieve(page["id"]))["in_trash"] is False

            with pytest.raises(APIResponseError) as missing:
                await client.pages.retrieve("00000000-0000-4000-8000-000000000000")
            assert missing.value.code == APIErrorCode.ObjectNotFound
            assert missing.value.status == 404


async def seed(client: Any, ds: str, rows: list[dict[str, Any]]) -> list[str]:
    ids = []
    for props in rows:
        page = await client.pages.create(parent=parent(ds), properties=props)
        ids.append(page["id"])
    return ids


async def test_query_filters_on_properties_and_sorts() -> None:
    with running_emulator() as emu:
        async with sdk(emu) as client:
            ds = await make_data_source(client, emu)
            await seed(
                client,
                ds,
                [
                    {
                        "Name": title("Alpha"),
                        "Amount": {"number": 10},
                        "Stage": {"select": {"name": "Won"}},
                        "Email": {"email": "a@x.example"},
                    },
                    {
                        "Name": title("Beta"),
                        "Amount": {"number": 30},
                        "Close date": {"date": {"start": "2025-07-01"}},
                    },
                    {
                        "Name": title("Gamma"),
                        "Amount": {"number": 20},
                        "Stage": {"select": {"name": "Won"}},
                        "Close date": {"date": {"start": "2025-05-01"}},
                    },
                ],
            )

            async def names(**kw: Any) -> list[str]:
                res = await client.data_sources.query(ds, **kw)
                return [p["properties"]["Name"]["title"][0]["plain_text"] for p in res["results"]]

            by_amount = [{"property": "Amount", "direction": "ascending"}]
            assert await names(sorts=by_amount) == ["Alpha", "Gamma", "Beta"]
            assert await names(
                filter={"property": "Amount", "number": {"greater_than_or_equal_to": 20}},
                sorts=[{"property": "Amount", "direction": "descending"}],
            ) == ["Beta", "Gamma"]
            assert await names(
                filter={"property": "Stage", "select": {"equals": "Won"}}, sorts=by_amount
            ) == ["Alpha", "Gamma"]
            assert await names(filter={"property": "Name", "title": {"contains": "et"}}) == ["Beta"]
            assert await names(
                filter={"property": "Close date", "date": {"on_or_after": "2025-06-01"}}
            ) == ["Beta"]
            assert await names(filter={"property": "Email", "email": {"is_not_empty": True}}) == [
                "Alpha"
            ]
            assert await names(
                filter={
                    "or": [
                        {"property": "Stage", "select": {"is_empty": True}},
                        {"property": "Amount", "number": {"equals": 10}},
                    ]
                },
                sorts=by_amount,
            ) == ["Alpha", "Beta"]
            with pytest.raises(APIResponseError) as err:
                await names(filter={"property": "Amount", "select": {"equals": "x"}})
            assert err.value.code == APIErrorCode.ValidationError


async def test_timestamps_are_floored_and_last_edited_time_filter_is_minute_inclusive() -> None:
    clock = Clock(frozen=datetime(2025, 5, 1, 10, 0, 57, tzinfo=UTC))
    with running_emulator(clock=clock) as emu:
        async with sdk(emu) as client:
            ds = await make_data_source(client, emu)
            [first] = await seed(client, ds, [{"Name": title("first")}])
            clock.advance(65)  # 10:02:02
            [second] = await seed(client, ds, [{"Name": title("second")}])
            page = await client.pages.retrieve(first)
            assert page["created_time"] == "2025-05-01T10:00:00.000Z"
            assert page["last_edited_time"] == "2025-05-01T10:00:00.000Z"

            async def since(op: str, at: str) -> list[str]:
                res = await client.data_sources.query(
                    ds,
                    filter={"timestamp": "last_edited_time", "last_edited_time": {op: at}},
                    sorts=[{"timestamp": "last_edited_time", "direction": "ascending"}],
                )
                return [p["id"] for p in res["results"]]

            assert await since("on_or_after", "2025-05-01T10:00:30Z") == [first, second]
            assert await since("on_or_after", "2025-05-01T10:01:00.000Z") == [second]
            assert await since("after", "2025-05-01T10:02:00.000Z") == []
            assert await since("before", "2025-05-01T10:02:00.000Z") == [first]

            clock.advance(120)
            await client.pages.update(first, properties={"Amount": {"number": 5}})
            assert await since("on_or_after", "2025-05-01T10:03:00Z") == [first]

    skewed = Clock(skew_seconds=-300)
    with running_emulator(clock=skewed) as emu:
        async with sdk(emu) as client:
            ds = await make_data_source(client, emu)
            [pid] = await seed(client, ds, [{"Name": title("x")}])
            stamp = (await client.pages.retrieve(pid))["created_time"]
            made = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            assert 240 <= (datetime.now(UTC) - made).total_seconds() <= 420


async def test_pagination_walks_every_page_with_opaque_cursors() -> None:
    with running_emulator() as emu:
        async with sdk(emu) as client:
            ds = await make_data_source(client, emu)
            for i in range(230):
                emu.workspace.create_page(
                    {"parent": parent(ds), "properties": {"Amount": {"number": i}}}, BOT
                )
            first = await client.data_sources.query(ds, page_size=100)
            assert len(first["results"]) == 100 and first["has_more"] is True
            assert first["next_cursor"] not in emu.workspace.pages
            everything = await async_collect_paginated_api(
                client.data_sources.query,
                data_source_id=ds,
                sorts=[{"property": "Amount", "direction": "ascending"}],
            )
            assert [p["properties"]["Amount"]["number"] for p in everything] == list(range(230))
            with pytest.raises(APIResponseError) as too_big:
                await client.data_sources.query(ds, page_size=101)
            assert "page_size" in str(too_big.value)
            some_page = next(iter(emu.workspace.pages))
            with pytest.raises(APIResponseError) as bad_cursor:
                await client.data_sources.query(ds, start_cursor=some_page)
            assert bad_cursor.value.code == APIErrorCode.ValidationError
            emu.workspace.result_limit = 150
            capped = await client.data_sources.query(ds)
            assert capped["request_status"]["incomplete_reason"] == "query_result_limit_reached"


async def test_filter_properties_matches_notions_encoded_ids() -> None:
    with running_emulator() as emu:
        async with sdk(emu) as client:
            ds = await make_data_source(client, emu)
            await seed(client, ds, [{"Name": title("a"), "Amount": {"number": 3}}])
            amount = (await client.data_sources.retrieve(ds))["properties"]["Amount"]["id"]
            assert "%" in amount or amount.isalnum()
            res = await client.data_sources.query(ds, filter_properties=[amount])
            assert list(res["results"][0]["properties"]) == ["Amount"]
            # the bracketed spelling some clients send is accepted too
            raw = await raw_http(
                "post",
                f"{emu.url}/v1/data_sources/{ds}/query",
                params={"filter_properties[]": amount},
                headers={"Authorization": f"Bearer {TOKEN}", "Notion-Version": "2025-09-03"},
                json={},
            )
            assert list(raw.json()["results"][0]["properties"]) == ["Amount"]


async def test_validation_errors_use_notions_error_body() -> None:
    with running_emulator() as emu:
        async with sdk(emu) as client:
            ds = await make_data_source(client, emu)
            cases: list[tuple[dict[str, Any], str]] = [
                ({"Notes": {"rich_text": [{"text": {"content": "x" * 2001}}]}}, "≤ `2000`"),
                ({"Email": {"email": "a" * 201}}, "≤ `200`"),
                ({"Amount": {"number": "many"}}, "should be a number"),
                ({"Amount": {"select": {"name": "x"}}}, "Amount is expected to be number"),
                ({"Missing": {"number": 1}}, "Missing is not a property that exists"),
            ]
            for props, message in cases:
                with pytest.raises(APIResponseError) as err:
                    await client.pages.create(parent=parent(ds), properties=props)
                assert err.value.code == APIErrorCode.ValidationError
                assert err.value.status == 400
                assert message in str(err.value)
            assert emu.workspace.pages_in(ds) == []
        raw = await raw_http(
            "post",
            f"{emu.url}/v1/pages",
            headers={"Authorization": f"Bearer {TOKEN}", "Notion-Version": "2025-09-03"},
            json={"parent": parent(ds), "properties": {"Email": {"email": "a" * 201}}},
        )
        body = raw.json()
        assert raw.status_code == 400
        assert set(body) == {"object", "status", "code", "message", "request_id"}
        assert body["object"] == "error" and body["code"] == "validation_error"


async def test_version_header_and_token_are_checked() -> None:
    with running_emulator() as emu:
        missing = await raw_http(
            "get", f"{emu.url}/v1/users/me", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert missing.status_code == 400 and missing.json()["code"] == "missing_version"
        old = await raw_http(
            "get",
            f"{emu.url}/v1/users/me",
            headers={"Authorization": f"Bearer {TOKEN}", "Notion-Version": "2022-06-28"},
        )
        assert old.status_code == 400 and old.json()["code"] == "validation_error"
        async with sdk(emu, token="secret_wrong") as client:
            with pytest.raises(APIResponseError) as err:
                await client.users.me()
            assert err.value.code == APIErrorCode.Unauthorized and err.value.status == 401
        async with sdk(emu) as client:
            assert (await client.users.me())["id"] == BOT
        unknown = await raw_http(
            "get",
            f"{emu.url}/v1/nothing/here",
            headers={"Authorization": f"Bearer {TOKEN}", "Notion-Version": "2025-09-03"},
        )
        assert unknown.status_code == 400 and unknown.json()["code"] == "invalid_request_url"


async def test_request_budget_answers_429_with_retry_after() -> None:
    now = [0.0]
    with running_emulator(budget=(3, 1.0), monotonic=lambda: now[0]) as emu:
        async with sdk(emu) as client:
            for _ in range(3):
                await client.users.me()
            with pytest.raises(APIResponseError) as err:
                await client.users.me()
            assert err.value.code == APIErrorCode.RateLimited
            assert err.value.headers["retry-after"] == "1"
            assert err.value.additional_data == {"rate_limit_reason": "integration_rate_limit"}
            now[0] = 1.0
            await client.users.me()
            assert [r.status for r in emu.log] == [200, 200, 200, 429, 200]


async def test_injected_faults_reach_the_client_as_notion_sends_them() -> None:
    with running_emulator() as emu:
        async with sdk(emu, timeout_ms=300) as client:
            ds = await make_data_source(client, emu)
            emu.inject(Fault(status=529, code="service_overload", retry_after="1.5"))
            with pytest.raises(UnknownHTTPResponseError) as overload:
                await client.data_sources.retrieve(ds)
            assert overload.value.status == 529
            assert overload.value.headers["retry-after"] == "1.5"
            assert '"service_overload"' in overload.value.body

            emu.inject(Fault(status=502, raw_body="<html>Bad gateway</html>"))
            with pytest.raises(UnknownHTTPResponseError) as gateway:
                await client.data_sources.retrieve(ds)
            assert gateway.value.status == 502

            emu.inject(Fault(status=409, code="conflict_error", message="Conflict occurred."))
            with pytest.raises(APIResponseError) as conflict:
                await client.pages.create(parent=parent(ds), properties={})
            assert conflict.value.code == APIErrorCode.ConflictError

            emu.inject(Fault(status=500, method="POST", path=r"/query$"))
            with pytest.raises(APIResponseError) as server:
                await client.data_sources.query(ds)
            assert server.value.code == APIErrorCode.InternalServerError

            emu.inject(Fault(kind="hang", seconds=0.6, path="^/v1/users"))
            with pytest.raises(RequestTimeoutError):
                await client.users.me()

            assert emu.workspace.pages_in(ds) == []  # none of the failed writes landed


async def test_a_write_can_land_while_its_response_is_lost() -> None:
    with running_emulator() as emu:
        async with sdk(emu) as client:
            ds = await make_data_source(client, emu)
            emu.inject(Fault(kind="drop", apply=True, method="POST", path="^/v1/pages$"))
            with pytest.raises(httpx.RemoteProtocolError):
                await client.pages.create(parent=parent(ds), properties={"Name": title("lost")})
            assert len(emu.workspace.pages_in(ds)) == 1
            assert [(r.status, r.applied, r.fault) for r in emu.writes()][-1] == (0, True, "drop")

            emu.inject(Fault(status=500, apply=True, path="^/v1/pages/"))
            pid = emu.workspace.pages_in(ds)[0]["id"]
            with pytest.raises(APIResponseError):
                await client.pages.update(pid, properties={"Amount": {"number": 7}})
            assert (await client.pages.retrieve(pid))["properties"]["Amount"]["number"] == 7


async def test_human_edits_show_another_last_edited_by() -> None:
    with running_emulator() as emu:
        async with sdk(emu) as client:
            ds = await make_data_source(client, emu)
            [pid] = await seed(client, ds, [{"Name": title("Acme"), "Amount": {"number": 1}}])
            emu.human_update(pid, {"Amount": {"number": 2}})
            page = await client.pages.retrieve(pid)
            assert page["last_edited_by"]["id"] == HUMAN_USER_ID
            assert page["created_by"]["id"] == BOT
            assert page["properties"]["Amount"]["number"] == 2
            # the same over HTTP, as the demo does it (no token: demo controls only)
            listed = (await raw_http("get", f"{emu.url}/_emulator/pages")).json()
            assert listed == [{"id": pid, "title": "Acme", "in_trash": False}]
            edited = await raw_http(
                "patch",
                f"{emu.url}/_emulator/human/pages/{pid}",
                json={"properties": {"Stage": {"select": {"name": "Won"}}}},
            )
            edited.raise_for_status()
            page = await client.pages.retrieve(pid)
            assert page["properties"]["Stage"]["select"]["name"] == "Won"
            assert not [r for r in emu.log if r.path.startswith("/v1/pages/") and r.bot is None]


async def test_blocks_append_and_list_is_not_idempotent() -> None:
    with running_emulator() as emu:
        async with sdk(emu) as client:
            ds = await make_data_source(client, emu)
            [pid] = await seed(client, ds, [{"Name": title("Acme")}])
            before = (await client.pages.retrieve(pid))["last_edited_time"]
            para = {
                "object": "block",
                "type": "paragraph",
                "paragraph": {"rich_text": [{"type": "text", "text": {"content": "Call notes"}}]},
            }
            made = await client.blocks.children.append(pid, children=[para])
            assert made["results"][0]["paragraph"]["rich_text"][0]["plain_text"] == "Call notes"
            await client.blocks.children.append(pid, children=[para] * 100)
            listed = await async_collect_paginated_api(
                client.blocks.children.list, block_id=pid, page_size=40
            )
            assert len(listed) == 101  # a retried append appends twice
            assert (await client.pages.retrieve(pid))["last_edited_time"] == before
            with pytest.raises(APIResponseError) as err:
                await client.blocks.children.append(pid, children=[para] * 101)
            assert "≤ `100`" in str(err.value)


async def test_pie_emulate_notion_serves_the_demo_workspace() -> None:
    from pie.sources import registry
    from pie.sources.notion import DEMO_PAGE_ID, DEMO_TOKEN

    plugin = registry.emulator("notion")
    running = plugin.serve("127.0.0.1", 0, registry.EmulatorOptions())
    try:
        me = await raw_http(
            "get",
            f"{running.base_url}/v1/users/me",
            headers={"Authorization": f"Bearer {DEMO_TOKEN}", "Notion-Version": "2025-09-03"},
        )
        assert me.status_code == 200 and me.json()["type"] == "bot"
        root = await raw_http("get", f"{running.base_url}/_emulator/root")
        assert root.json() == {"root_page_id": DEMO_PAGE_ID}
        assert DEMO_PAGE_ID in plugin.connect_hint(running.base_url)
    finally:
        running.stop()


async def test_chaos_fails_a_seeded_share_of_requests_and_replays() -> None:
    async def statuses(seed: int) -> list[int]:
        with running_emulator() as emu:
            emu.chaos(0.3, [Fault(status=503, code="service_unavailable")], seed=seed)
            async with sdk(emu) as client:
                for _ in range(40):
                    with contextlib.suppress(APIResponseError):
                        await client.users.me()
            emu.clear_faults()
            return [r.status for r in emu.log]

    first, again = await statuses(3), await statuses(3)
    assert first == again
    assert 4 <= first.count(503) <= 20 and first.count(200) == 40 - first.count(503)
