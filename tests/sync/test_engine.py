"""The SyncEngine against the fake CRM and the in-memory store, one behaviour per test."""

from __future__ import annotations

import itertools

import pytest

from pie.domain.crm_fields import RecordKind
from pie.domain.ownership import HUMAN
from tests.fakes.crm import EngineCrash, Fault, FaultKind
from tests.sync.harness import World, make_world


async def test_a_new_deal_goes_out_once_and_a_quiet_run_writes_nothing() -> None:
    w = await make_world()
    deal = await w.add_deal("Acme", owner="dana")
    report = await w.run()
    assert report.created_remote == 1, report
    ext = await w.external_id(deal)
    assert ext is not None
    page = w.crm.record(RecordKind.DEAL, ext)
    assert page.pie_id == deal and page.fields["name"] == "Acme"
    assert page.fields["owner"] == "dana"
    w.clock.advance(60)
    writes = w.crm.writes_applied
    again = await w.run()
    assert again.idle and w.crm.writes_applied == writes, again


async def test_a_human_edit_in_the_crm_reaches_pie_and_is_not_echoed() -> None:
    w = await make_world()
    deal = await w.add_deal("Acme")
    await w.run()
    ext = await w.external_id(deal)
    assert ext is not None
    w.clock.advance(90)
    w.crm.human_edit(RecordKind.DEAL, ext, {"stage": "proposal", "owner": "erin"})
    writes = w.crm.writes_applied
    w.clock.advance(60)
    report = await w.run()
    assert report.applied == 1 and report.pushed == 0, report
    got = await w.pie_deal(deal)
    assert got is not None and got["stage"] == "proposal" and got["owner"] == "erin"
    w.clock.advance(60)
    await w.run()
    assert w.crm.writes_applied == writes
    assert await w.conflicts() == []


async def test_several_edits_of_a_deal_are_one_write() -> None:
    w = await make_world()
    deal = await w.add_deal("Acme")
    await w.run()
    w.clock.advance(60)
    await w.edit_deal(deal, stage="demo")
    await w.edit_deal(deal, value=1000)
    await w.edit_deal(deal, probability=0.4, expected_close="2026-03-01")
    updates = sum(1 for r in w.crm.requests if r.op == "update")
    report = await w.run()
    assert report.pushed == 1
    assert sum(1 for r in w.crm.requests if r.op == "update") == updates + 1
    ext = await w.external_id(deal)
    assert ext is not None
    page = w.page(ext)
    assert (page["stage"], page["value"], page["probability"], page["expected_close"]) == (
        "demo",
        1000.0,
        0.4,
        "2026-03-01",
    )


async def test_an_agent_owned_field_edited_in_the_crm_is_restored_and_logged_once() -> None:
    w = await make_world()
    deal = await w.add_deal("Acme", probability=0.3)
    await w.run()
    ext = await w.external_id(deal)
    assert ext is not None
    w.clock.advance(120)
    w.crm.human_edit(RecordKind.DEAL, ext, {"probability": 0.9})
    w.clock.advance(60)
    await w.run()
    assert w.page(ext)["probability"] == 0.3
    got = await w.pie_deal(deal)
    assert got is not None and got["probability"] == 0.3
    w.clock.advance(60)
    await w.run()
    logged = await w.conflicts()
    assert [(c.field, c.winner, c.rule) for c in logged] == [("probability", "pie", "agent_owned")]


async def test_a_shared_field_changed_on_both_sides_at_once_goes_to_the_human() -> None:
    w = await make_world()
    deal = await w.add_deal("Acme")
    await w.run()
    ext = await w.external_id(deal)
    assert ext is not None
    w.clock.advance(300)
    await w.edit_deal(deal, stage="demo")
    w.clock.advance(10)
    w.crm.human_edit(RecordKind.DEAL, ext, {"stage": "proposal"})
    w.clock.advance(30)
    await w.run()
    got = await w.pie_deal(deal)
    assert got is not None and got["stage"] == "proposal" and w.page(ext)["stage"] == "proposal"
    [c] = await w.conflicts()
    assert (c.local, c.remote, c.winner, c.rule) == (
        "demo",
        "proposal",
        "crm",
        "shared_concurrent_to_human",
    )


async def test_a_later_pie_edit_of_a_shared_field_wins() -> None:
    w = await make_world()
    deal = await w.add_deal("Acme")
    await w.run()
    ext = await w.external_id(deal)
    assert ext is not None
    w.clock.advance(300)
    w.crm.human_edit(RecordKind.DEAL, ext, {"stage": "proposal"})
    w.clock.advance(600)
    await w.edit_deal(deal, stage="negotiation", origin=HUMAN)
    await w.run()
    assert w.page(ext)["stage"] == "negotiation"
    [c] = await w.conflicts()
    assert (c.winner, c.rule) == ("pie", "shared_later_wins")


async def test_a_lost_create_response_does_not_duplicate_the_page() -> None:
    w = await make_world()
    w.crm.inject(Fault(FaultKind.LOST_RESPONSE, ops=frozenset({"create"})))
    deal = await w.add_deal("Acme")
    await w.run()
    pages = [r for r in w.crm.all_records(RecordKind.DEAL) if r.pie_id == deal]
    assert len(pages) == 1
    assert await w.external_id(deal) == pages[0].external_id


async def test_429_with_retry_after_is_honoured() -> None:
    w = await make_world()
    deal = await w.add_deal("Acme")
    await w.run()
    w.clock.advance(60)
    await w.edit_deal(deal, stage="demo")
    w.crm.inject(Fault(FaultKind.RATE_LIMITED, ops=frozenset({"update"}), retry_after=2.5))
    report = await w.run()
    assert report.pushed == 1 and report.throttled == 1
    limited = next(r for r in w.crm.requests if r.kind == "429")
    after = [r for r in w.crm.requests if r.at > limited.at]
    assert after and (after[0].at - limited.at).total_seconds() >= 2.5


async def test_a_human_trash_beats_an_agent_edit_and_pie_keeps_the_record() -> None:
    w = await make_world()
    deal = await w.add_deal("Acme")
    await w.run()
    ext = await w.external_id(deal)
    assert ext is not None
    w.clock.advance(120)
    w.crm.human_trash(RecordKind.DEAL, ext)
    await w.edit_deal(deal, stage="demo")
    await w.run(reconcile=True)
    assert w.crm.record(RecordKind.DEAL, ext).in_trash
    assert w.page(ext)["stage"] != "demo"
    assert await w.pie_deal(deal) is not None
    rules = {(c.field, c.rule) for c in await w.conflicts()}
    assert ("stage", "remote_trash_wins") in rules and ("_record", "remote_trash_wins") in rules


async def test_a_pie_delete_trashes_the_page_and_404_only_detaches() -> None:
    w = await make_world()
    one = await w.add_deal("One")
    two = await w.add_deal("Two")
    await w.run()
    ext1, ext2 = await w.external_id(one), await w.external_id(two)
    assert ext1 and ext2
    w.clock.advance(60)
    await w.delete_deal(one, origin=HUMAN)
    w.crm.unshare(RecordKind.DEAL, ext2)
    await w.run(reconcile=True)
    assert w.crm.record(RecordKind.DEAL, ext1).in_trash
    assert await w.pie_deal(two) is not None


async def test_rejected_records_wait_in_the_error_queue_and_the_others_go_out() -> None:
    w = await make_world()
    deals = [await w.add_deal(f"deal {i}") for i in range(5)]
    await w.run()
    w.clock.advance(60)
    for i, deal in enumerate(deals):
        await w.edit_deal(deal, product_line="x" * 2001 if i < 2 else "plus")
    report = await w.run()
    assert report.pushed == 3 and len(report.errors) == 2, report
    assert all("2000" in e for e in report.errors)
    async with w.uow() as uow:
        links = await uow.sync.links("notion", RecordKind.DEAL)
    assert sum(1 for x in links if x.error) == 2
    w.clock.advance(60)
    again = await w.run()  # not retried until the data changes
    assert (
        again.pushed == 0
        and not again.errors
        and not any(r.op == "update" for r in w.crm.requests[-again.requests :])
    )
    await w.edit_deal(deals[0], product_line="core")
    fixed = await w.run()
    assert fixed.pushed == 1 and not fixed.errors
    ext = await w.external_id(deals[0])
    assert ext is not None and w.page(ext)["product_line"] == "core"


async def test_a_rejected_write_keeps_what_pie_last_saw_of_the_page() -> None:
    """Found by a random hunt (seed 200, 50 steps) through I8's read check: a person edits a
    page, PIE reads it and then writes an agent's change Notion rejects (400): the error
    queue entry must not put back the page's edit PIE saw before (it would take the
    person's edit, already merged, for one PIE never read)."""
    w = await make_world()
    deal = await w.add_deal("Acme")
    await w.run()
    ext = await w.external_id(deal)
    assert ext is not None
    w.clock.advance(120)
    w.crm.human_edit(RecordKind.DEAL, ext, {"owner": "erin"})
    await w.edit_deal(deal, product_line="plus")
    w.clock.advance(60)
    w.crm.inject(Fault(FaultKind.VALIDATION, frozenset({"update"})))
    report = await w.run()
    assert report.errors and report.applied == 1
    async with w.uow() as uow:
        link = await uow.sync.link("notion", RecordKind.DEAL, deal)
    assert link is not None and link.error
    seen = w.crm.record(RecordKind.DEAL, ext)
    assert (link.remote_edited_time, link.remote_edited_by) == (
        seen.last_edited_time,
        seen.last_edited_by,
    )


async def test_401_pauses_the_connection_until_resumed() -> None:
    w = await make_world()
    deal = await w.add_deal("Acme")
    await w.run()
    w.clock.advance(60)
    await w.edit_deal(deal, stage="demo")
    w.crm.inject(Fault(FaultKind.UNAUTHORIZED, ops=frozenset({"update"})))
    report = await w.run()
    assert report.status.value == "paused" and report.pushed == 0
    before = len(w.crm.requests)
    paused = await w.run()
    assert paused.status.value == "paused" and len(w.crm.requests) == before
    w.crm.renew_token()  # a person renews the token, then `pie sync resume`
    await w.engine.resume()
    resumed = await w.run()
    assert resumed.pushed == 1
    ext = await w.external_id(deal)
    assert ext is not None and w.page(ext)["stage"] == "demo"


async def test_a_field_a_person_changed_and_changed_back_is_not_overwritten_silently() -> None:
    """The proof's counterexample (random seed, skew -300 s), shrunk: PIE renames a deal;
    in the same minute a person renames its page to PIE's new name and back. Notion's values
    show no change (Globex = the base) and its timestamps are per page and per minute, so
    no read tells whether the person re-set the name: PIE's value is written (most such page
    edits are of other fields) and the overwrite is logged, never silent."""
    for skew in (-300.0, 0.0, 300.0):
        w = await make_world(skew=skew, query_lag=45.0, budget=(3, 1.0))
        deal = await w.add_deal("Globex", stage="lead")
        await w.run()
        ext = await w.external_id(deal)
        assert ext is not None
        await w.add_deal("Acme", stage="lead")
        await w.edit_deal(deal, name="Acme")
        w.crm.human_edit(RecordKind.DEAL, ext, {"name": "Acme"})
        w.crm.human_edit(RecordKind.DEAL, ext, {"name": "Globex"})
        w.clock.advance(180)
        for _ in range(3):
            await w.run()
            w.clock.advance(61)
        assert w.page(ext)["name"] == "Acme"
        [row] = await w.conflicts()
        assert (row.field, row.base, row.local, row.remote) == ("name", "Globex", "Acme", "Globex")
        assert (row.winner, row.rule) == ("pie", "page_edit_may_include_field")


async def test_a_page_edit_pie_has_seen_is_not_logged_again() -> None:
    """Once PIE has read the page after a person's edit, a later change in PIE is an
    ordinary push: no log row."""
    w = await make_world()
    deal = await w.add_deal("Acme", stage="lead")
    await w.run()
    ext = await w.external_id(deal)
    assert ext is not None
    w.clock.advance(120)
    w.crm.human_edit(RecordKind.DEAL, ext, {"owner": "erin"})
    w.clock.advance(61)
    await w.run()
    w.clock.advance(120)
    await w.edit_deal(deal, name="Globex")
    await w.run()
    assert w.page(ext)["name"] == "Globex"
    assert await w.conflicts() == []


async def test_a_lost_create_then_a_person_edit_is_merged_not_overwritten() -> None:
    """A create lands in Notion but every answer is lost; a person edits the new page before
    PIE finds it again by its PIE id: the person's edit is merged (their value wins, logged),
    not overwritten as if PIE's create values were agreed."""
    for lag in (0.0, 45.0):
        w = await make_world(query_lag=lag)
        deal = await w.add_deal("Acme", value=1000)
        w.crm.inject(Fault(FaultKind.LOST_RESPONSE, frozenset({"create"})))
        w.crm.inject(Fault(FaultKind.TIMEOUT, frozenset({"create"}), times=10))
        await w.run()
        assert await w.external_id(deal) is None
        w.crm.heal()
        [page] = w.crm.all_records(RecordKind.DEAL)
        w.clock.advance(30)
        w.crm.human_edit(RecordKind.DEAL, page.external_id, {"value": 2500.5})
        for _ in range(3):
            w.clock.advance(61)
            await w.run()
        assert await w.external_id(deal) == page.external_id
        assert w.page(page.external_id)["value"] == 2500.5
        got = await w.pie_deal(deal)
        assert got is not None and got["value"] == 2500.5
        [row] = await w.conflicts()
        assert (row.field, row.local, row.remote, row.winner) == ("value", 1000.0, 2500.5, "crm")


async def test_a_crash_between_the_write_and_the_checkpoint_replays_without_duplicates() -> None:
    """F5: the CRM applied the create (then the update) and PIE died before recording it; the
    restarted engine finds the page by its PIE id, resends nothing twice, loses nothing."""
    w = await make_world(query_lag=45.0)
    deal = await w.add_deal("Acme", value=1000)
    w.crm.inject(Fault(FaultKind.CRASH_AFTER, frozenset({"create"})))
    with pytest.raises(EngineCrash):
        await w.run()
    w.restart()
    await w.run()
    ext = await w.external_id(deal)
    assert ext is not None and len(w.crm.all_records(RecordKind.DEAL)) == 1
    w.clock.advance(60)
    await w.edit_deal(deal, stage="demo")
    w.crm.inject(Fault(FaultKind.CRASH_AFTER, frozenset({"update"})))
    with pytest.raises(EngineCrash):
        await w.run()
    w.restart()
    w.clock.advance(60)
    again = await w.run()  # Notion shows the change already: agreed, not resent
    assert again.pushed == 0 and w.page(ext)["stage"] == "demo"
    w.clock.advance(60)
    assert (await w.run()).idle and len(w.crm.all_records(RecordKind.DEAL)) == 1
    assert await w.conflicts() == []


async def test_every_request_sent_is_counted_and_spaced_by_the_budget() -> None:
    """A create costs the PIE-id lookup and the create: both go through the limiter."""
    w = await make_world(budget=(3, 1.0))
    for i in range(5):
        await w.add_deal(f"deal {i}")
    sent = len(w.crm.requests)
    report = await w.run()
    new = w.crm.requests[sent:]
    assert report.created_remote == 5
    assert report.requests == len(new) >= 10
    gaps = [(b.at - a.at).total_seconds() for a, b in itertools.pairwise(new)]
    assert min(gaps) >= 1 / w.engine.config.requests_per_second - 1e-6
    assert not any(r.kind == "429-budget" for r in w.crm.requests)


@pytest.mark.parametrize(
    ("deleted_in", "deleter", "editor", "expect_rule", "record_survives_in_notion"),
    [
        # a person trashes in Notion; PIE edits (an agent's, or a person's in PIE): trash wins
        ("notion", HUMAN, "pie", "remote_trash_wins", False),
        ("notion", HUMAN, HUMAN, "remote_trash_wins", False),
        # PIE deletes; a person edits in Notion: a person's delete wins, an agent's loses
        ("pie", HUMAN, "notion", "local_delete_wins", False),
        ("pie", "pie", "notion", "human_edit_beats_agent_delete", True),
    ],
)
async def test_the_delete_rule_from_both_sides(
    deleted_in: str,
    deleter: str,
    editor: str,
    expect_rule: str,
    record_survives_in_notion: bool,
) -> None:
    """One rule, both directions: a delete beats an agent's edit, a person's edit beats an
    agent's delete, a person's delete beats a person's edit; the loser is logged."""
    w = await make_world()
    deal = await w.add_deal("Acme", stage="lead")
    await w.run()
    ext = await w.external_id(deal)
    assert ext is not None
    w.clock.advance(120)
    if deleted_in == "notion":
        w.crm.human_trash(RecordKind.DEAL, ext)
        await w.edit_deal(deal, origin=editor, stage="demo")
    else:
        await w.delete_deal(deal, origin=deleter)
        w.crm.human_edit(RecordKind.DEAL, ext, {"stage": "proposal"})
    w.clock.advance(61)
    await w.run(reconcile=True)
    w.clock.advance(61)
    await w.run(reconcile=True)
    rows = await w.conflicts()
    assert any(c.rule == expect_rule for c in rows), rows
    assert w.crm.record(RecordKind.DEAL, ext).in_trash is not record_survives_in_notion
    kept = await w.pie_deal(deal)
    if deleted_in == "notion":
        assert kept is not None and kept["stage"] == "demo"  # nothing hard-deleted by the sync
    elif record_survives_in_notion:
        assert kept is not None and kept["stage"] == "proposal"  # back from Notion
    else:
        assert kept is None


@pytest.mark.parametrize("fault", [FaultKind.CRASH_BEFORE, FaultKind.SERVER_ERROR])
async def test_a_restore_notion_called_for_survives_a_failed_write(fault: FaultKind) -> None:
    """Found by a random seed with the crash rule: a person edits an agent-owned field, PIE's
    restoring write fails (a crash just before it, or retries given up) and another page's
    edit moves Notion's newest time on. The inbound cursor does not pass the record whose
    write failed: the next run reads it again and restores it."""
    w = await make_world(skew=-300.0)
    one = await w.add_deal("One", probability=0.5)
    two = await w.add_deal("Two")
    await w.run()
    ext1, ext2 = await w.external_id(one), await w.external_id(two)
    assert ext1 and ext2
    w.crm.human_edit(RecordKind.DEAL, ext1, {"probability": 0.9})
    w.clock.advance(400)
    w.crm.human_edit(RecordKind.DEAL, ext2, {"owner": "erin"})
    w.crm.inject(Fault(fault, frozenset({"update"}), times=10))
    try:
        await w.run()
    except EngineCrash:
        w.restart()
    w.crm.heal()
    for _ in range(2):
        w.clock.advance(61)
        await w.run()
    assert w.page(ext1)["probability"] == 0.5
    assert [(c.field, c.rule) for c in await w.conflicts()] == [("probability", "agent_owned")]


async def _out_of_the_read_window(w: World) -> None:
    """Time passes and another page's edit moves the inbound cursor on: PIE's last sight of
    the other pages is older than the next read's window (their absence from it is normal)."""
    other = await w.add_deal("Other")
    await w.run()
    w.clock.advance(400)
    ext = await w.external_id(other)
    assert ext is not None
    w.crm.human_edit(RecordKind.DEAL, ext, {"owner": "erin"})
    w.clock.advance(61)
    await w.run()


@pytest.mark.parametrize("seen_lately", [True, False])
async def test_a_write_to_a_page_trashed_meanwhile_is_refused_then_tombstoned(
    seen_lately: bool,
) -> None:
    """Found by a random seed: a person edits a page, then trashes it, while an agent edits
    the deal in PIE. A page PIE saw inside the read's window and missing from it is read
    before the write: the trash is confirmed at once (tombstone, logged). Otherwise Notion
    refuses the write (400: the page is archived); the record waits in the error queue, and
    the next full reconciliation confirms the trash. The person's edit stays on the page."""
    w = await make_world()
    deal = await w.add_deal("Acme", stage="demo")
    await w.run()
    if not seen_lately:
        await _out_of_the_read_window(w)
    ext = await w.external_id(deal)
    assert ext is not None
    w.crm.human_edit(RecordKind.DEAL, ext, {"stage": "discovery"})
    w.clock.advance(30)
    w.crm.human_trash(RecordKind.DEAL, ext)
    await w.edit_deal(deal, stage="lead")
    report = await w.run()
    if seen_lately:
        assert report.tombstoned == 1 and not report.errors, report
    else:
        assert report.pushed == 0 and any("archived" in e for e in report.errors), report
        w.clock.advance(61)
        await w.run(reconcile=True)
    assert w.page(ext)["stage"] == "discovery"
    rules = {(c.field, c.rule) for c in await w.conflicts()}
    assert ("_record", "remote_trash_wins") in rules and ("stage", "remote_trash_wins") in rules


@pytest.mark.parametrize("seen_lately", [True, False])
async def test_a_record_refused_because_trashed_goes_out_once_the_page_is_restored(
    seen_lately: bool,
) -> None:
    """The error queue holds a record until its data changes on either side: a page restored
    in Notion is such a change (found by a random seed). A page PIE saw inside the read's
    window is read first instead: the trash tombstones it, the restore relinks it."""
    w = await make_world()
    deal = await w.add_deal("Acme")
    await w.run()
    if not seen_lately:
        await _out_of_the_read_window(w)
    ext = await w.external_id(deal)
    assert ext is not None
    await w.edit_deal(deal, detection_confidence=0.2)
    w.crm.human_trash(RecordKind.DEAL, ext)
    report = await w.run()
    assert report.tombstoned == 1 if seen_lately else report.errors, report
    w.crm.human_trash(RecordKind.DEAL, ext, False)
    w.clock.advance(61)
    report = await w.run()
    assert report.pushed == 1 and w.page(ext)["detection_confidence"] == 0.2, report
