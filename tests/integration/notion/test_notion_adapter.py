"""The Notion adapter against the emulator: retries PIE owns (the SDK's are off), errors it
reports, duplicates it never makes, and the data source it resolves once."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from pie.adapters.notion import NotionAdapter, NotionTarget, RetryPolicy
from pie.adapters.notion.setup import check_databases, create_databases
from pie.domain.crm_fields import RecordKind
from pie.ports.credentials import Secret
from pie.ports.crm import (
    ActivityInput,
    CrmConflict,
    CrmRateLimited,
    CrmRejected,
    CrmTimeout,
    CrmUnavailable,
    FieldValue,
)
from pie.sources.notion.emulator import Fault
from tests.contract.crm_notion_harness import notion_harness
from tests.emulators.notion import TOKEN, running_emulator

DEAL: dict[str, FieldValue] = {"name": "Acme renewal", "stage": "demo", "value": 12000.0}


class Sleeps:
    """Records the waits tenacity asks for instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def policy(attempts: int = 4) -> RetryPolicy:
    return RetryPolicy(attempts=attempts, initial=0.5, maximum=8.0, jitter=0.1)


async def test_429_and_529_are_retried_honouring_decimal_retry_after() -> None:
    async with notion_harness(policy()) as (adapter, emu, _):
        sleeps = Sleeps()
        adapter._sleep = sleeps
        emu.inject(
            Fault(status=429, code="rate_limited", retry_after="1.5", path="/query$"),
            Fault(status=529, code="service_overload", retry_after="2", path="/query$"),
        )
        page = await adapter.list_deals()
        assert page.records == []
        assert len(sleeps.waits) == 2
        assert 1.5 <= sleeps.waits[0] <= 1.6
        assert 2.0 <= sleeps.waits[1] <= 2.1

        # a wait longer than the policy sleeps through goes back to the caller's scheduler
        emu.inject(Fault(status=429, code="rate_limited", retry_after="120", path="/query$"))
        with pytest.raises(CrmRateLimited) as err:
            await adapter.list_deals()
        assert err.value.retry_after == 120.0 and len(sleeps.waits) == 2


async def test_5xx_and_timeouts_back_off_exponentially_then_give_up() -> None:
    async with notion_harness(policy(attempts=3)) as (adapter, emu, _):
        sleeps = Sleeps()
        adapter._sleep = sleeps
        emu.inject(Fault(status=500, path="/query$", times=3))
        with pytest.raises(CrmUnavailable) as err:
            await adapter.list_deals()
        assert err.value.status == 500 and err.value.retryable
        assert len(sleeps.waits) == 2
        assert 0.25 <= sleeps.waits[0] <= 0.5 and 0.5 <= sleeps.waits[1] <= 1.0
        queries = [r for r in emu.log if r.path.endswith("/query")]
        assert len(queries) == 3  # the SDK added no retries of its own

        emu.inject(Fault(status=502, raw_body="<html>bad gateway</html>", path="/query$"))
        assert (await adapter.list_deals()).records == []

    async with notion_harness(policy(attempts=1), timeout_s=0.3) as (adapter, emu, _):
        emu.inject(Fault(kind="hang", seconds=0.6, path="/query$"))
        with pytest.raises(CrmTimeout):
            await adapter.list_deals()


async def test_client_errors_are_not_retried_and_carry_notions_message() -> None:
    async with notion_harness(policy()) as (adapter, emu, _):
        sleeps = Sleeps()
        adapter._sleep = sleeps
        made = await adapter.create_deal(uuid4(), DEAL)
        before = len(emu.log)
        with pytest.raises(CrmRejected) as err:
            await adapter.update_deal(made.external_id, {"stage": "won, mostly"})
        assert err.value.status == 400 and err.value.code == "validation_error"
        assert "cannot contain commas" in err.value.message
        emu.inject(Fault(status=403, code="restricted_resource", message="No access."))
        with pytest.raises(CrmRejected) as forbidden:
            await adapter.get_deal(made.external_id)
        assert forbidden.value.pauses_connection and forbidden.value.message == "No access."
        emu.inject(Fault(status=409, code="conflict_error", message="Conflict occurred."))
        with pytest.raises(CrmConflict):
            await adapter.update_deal(made.external_id, {"stage": "proposal"})
        assert sleeps.waits == []
        assert len(emu.log) == before + 3


async def test_a_bad_token_is_reported_without_the_token() -> None:
    with running_emulator() as emu:
        adapter = NotionAdapter(
            Secret("secret_not_valid_123"),
            deals=NotionTarget(str(uuid4())),
            contacts=NotionTarget(str(uuid4())),
            base_url=emu.url,
        )
        try:
            with pytest.raises(CrmRejected) as err:
                await adapter.open()
        finally:
            await adapter.aclose()
        assert err.value.status == 401 and "API token is invalid" in str(err.value)
        assert "secret_not_valid_123" not in str(err.value)
        assert len(emu.log) == 1


async def test_a_create_whose_response_was_lost_is_not_duplicated() -> None:
    async with notion_harness(policy()) as (adapter, emu, _):
        adapter._sleep = Sleeps()
        pie_id = uuid4()
        emu.inject(Fault(kind="drop", apply=True, method="POST", path="^/v1/pages$"))
        made = await adapter.create_deal(pie_id, DEAL)
        assert not made.created  # the retry found the page the lost create had made
        ds = adapter.resolved[RecordKind.DEAL].data_source_id
        assert ds is not None
        assert len(emu.workspace.pages_in(ds)) == 1
        emu.inject(Fault(status=500, apply=True, method="POST", path="^/v1/pages$"))
        second = await adapter.create_deal(uuid4(), DEAL)
        assert len(emu.workspace.pages_in(ds)) == 2 and second.record.pie_id is not None


async def test_an_activity_append_whose_response_was_lost_is_not_duplicated() -> None:
    async with notion_harness(policy()) as (adapter, emu, _):
        adapter._sleep = Sleeps()
        deal = await adapter.create_deal(uuid4(), DEAL)
        act = ActivityInput(
            uuid4(), "meeting", datetime(2026, 1, 5, 10, tzinfo=UTC), "Demo", "x" * 2500
        )
        emu.inject(Fault(kind="drop", apply=True, method="PATCH", path="/children$"))
        made = await adapter.create_activity(deal.external_id, act)
        listed = await adapter.list_activities(deal.external_id)
        assert [a.pie_id for a in listed] == [act.pie_id]
        assert made.external_id == listed[0].external_id
        blocks = emu.workspace.page_children[deal.external_id]
        assert len(blocks) == 1


async def test_the_data_source_is_resolved_once_and_kept() -> None:
    async with notion_harness() as (adapter, emu, _):
        for _ in range(3):
            await adapter.list_deals()
            await adapter.list_records(RecordKind.CONTACT)
        reads = [r for r in emu.log if r.path.startswith("/v1/databases/")]
        assert len(reads) == 2  # deals and contacts, each once at open()
        kept = adapter.resolved
        again = NotionAdapter(
            Secret(TOKEN),
            deals=kept[RecordKind.DEAL],
            contacts=kept[RecordKind.CONTACT],
            base_url=emu.url,
        )
        await again.open()
        await again.aclose()
        assert len([r for r in emu.log if r.path.startswith("/v1/databases/")]) == 2


async def test_a_database_with_two_data_sources_must_be_told_which() -> None:
    async with notion_harness() as (adapter, emu, _):
        db = adapter.resolved[RecordKind.DEAL].database_id
        emu.workspace.create_data_source(
            {"parent": {"database_id": db}, "title": [{"text": {"content": "Other"}}]}, "x"
        )
        with pytest.raises(CrmRejected) as err:
            await adapter.resolve_data_source(db)
        assert "2 data sources" in str(err.value) and "'Other'" in str(err.value)


async def test_check_names_every_missing_or_mistyped_property() -> None:
    with running_emulator() as emu:
        targets = await create_databases(
            Secret(TOKEN), emu.workspace.root_page_id, base_url=emu.url
        )
        ok = await check_databases(Secret(TOKEN), targets, base_url=emu.url)
        assert ok.ok, ok.problems
        ds = targets[RecordKind.DEAL].data_source_id
        assert ds is not None
        emu.workspace.update_data_source(
            ds, {"properties": {"Stage": None, "Value": {"rich_text": {}}}}, "human"
        )
        only_db = {k: NotionTarget(t.database_id) for k, t in targets.items()}
        bad = await check_databases(Secret(TOKEN), only_db, base_url=emu.url)
        assert not bad.ok
        assert bad.problems[RecordKind.DEAL] == [
            "missing property 'Stage' (expected type select)",
            "property 'Value' has type rich_text, expected number",
        ]
        assert bad.problems[RecordKind.CONTACT] == []
        assert bad.targets[RecordKind.DEAL].data_source_id == ds
        gone = {k: NotionTarget(str(uuid4())) for k in targets}
        missing = await check_databases(Secret(TOKEN), gone, base_url=emu.url)
        assert "Could not find database" in missing.problems[RecordKind.DEAL][0]


async def test_pages_edited_by_a_person_show_their_id_and_values() -> None:
    async with notion_harness() as (adapter, emu, clock):
        made = await adapter.create_deal(uuid4(), DEAL)
        me = adapter.capabilities.self_actor
        assert made.last_edited_by == me
        assert made.record.created_by == me  # the duplicate rule trusts this (docs/sync.md)
        clock.advance(120)
        emu.human_update(made.external_id, {"Stage": {"select": {"name": "negotiation"}}})
        page = await adapter.changes_since(RecordKind.DEAL, made.last_edited_time)
        [record] = page.records
        assert record.fields["stage"] == "negotiation"
        assert record.fields["name"] == DEAL["name"]
        assert record.last_edited_by != me
        assert record.created_by == me  # made by PIE, edited by a person since
        assert record.last_edited_time > made.last_edited_time


async def test_appending_activities_lists_the_page_once() -> None:
    async with notion_harness(policy()) as (adapter, emu, _):
        adapter._sleep = Sleeps()
        deal = await adapter.create_deal(uuid4(), DEAL)
        before = len(emu.log)
        acts = [
            ActivityInput(uuid4(), "call", datetime(2026, 1, 5, 10 + i, tzinfo=UTC), f"call {i}")
            for i in range(3)
        ]
        for act in acts:
            assert (await adapter.create_activity(deal.external_id, act)).created
        paths = [(r.method, r.path.rsplit("/", 1)[-1]) for r in emu.log[before:]]
        assert paths == [("GET", "children")] + [("PATCH", "children")] * 3
        # a failed append forgets what it knew: the retry lists again, and finds it landed
        emu.inject(Fault(kind="drop", apply=True, method="PATCH", path="/children$"))
        late = ActivityInput(uuid4(), "email", datetime(2026, 1, 6, tzinfo=UTC), "late")
        assert not (await adapter.create_activity(deal.external_id, late)).created
        listed = await adapter.list_activities(deal.external_id)
        assert [a.pie_id for a in listed] == [a.pie_id for a in acts] + [late.pie_id]


async def test_the_requests_of_opening_wait_for_the_gate_too() -> None:
    """The connection's rate limiter counts the requests ``open()`` sends (the data-source
    lookups), not only those of the sync's operations."""
    from pie.adapters.notion.admin import NotionWorkspaceAdmin
    from pie.ports.notion import NotionDatabase

    async with notion_harness() as (adapter, emu, _):
        kept = adapter.resolved
        gated = 0

        async def gate() -> None:
            nonlocal gated
            gated += 1

        before = len(emu.log)
        unresolved = {k: NotionDatabase(t.database_id) for k, t in kept.items()}
        again, _ = await NotionWorkspaceAdmin().open_adapter(
            Secret(TOKEN), unresolved, emu.url, gate=gate
        )
        assert isinstance(again, NotionAdapter)
        await again.list_deals()
        await again.aclose()
        sent = len(emu.log) - before
        assert sent >= 4  # two data-source lookups, users/me, the query
        assert gated == sent
