"""The sync proof (tests/sync/machine.py) on the real engine, and evidence that it can fail:
each deliberately broken engine variant is caught."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from pie.domain.crm_fields import RecordKind
from pie.ports.sync import LinkStatus
from pie.sync.engine import SyncConfig
from pie.sync.planner import RECORD, Rule
from tests.fakes.crm import FaultKind
from tests.sync.harness import CONN, PIE
from tests.sync.machine import PIE_EDITABLE, SyncMachine, machine_for

# derandomize: the same 100 sequences on every run, so `make test` is repeatable. What random
# seeds found is kept as replayed regressions (below, and in test_engine.py). (Seed
# 221229465933728951292978150754115413816 was recorded against an older machine: its draws no
# longer replay that example; with today's machine it runs clean.)
FAST = settings(
    max_examples=100,
    stateful_step_count=30,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


def test_the_engine_keeps_every_invariant() -> None:
    run_state_machine_as_test(machine_for(SyncConfig(connection=CONN)), settings=FAST)


BROKEN: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "cursor without overlap": ({"overlap": 0.0, "inclusive": False}, {}),
    "base refreshed from the write response": ({"refresh_all_from_write": True}, {}),
    "no echo suppression (the sync's own applies pushed back)": (
        {"echo_suppression": False},
        {},
    ),
    "Retry-After ignored": ({"honour_retry_after": False}, {}),
    "404 treated as a delete": ({"detach_on_404": False}, {}),
    "agent-owned fields not protected": ({"agent_rule": False}, {}),
    "create retried without the PIE-id lookup": ({}, {"dedupe_creates": False}),
    "the limiter counts operations, not requests sent": ({"count_operations": True}, {}),
}


#: hunts that need more sequences: a cursor without overlap misses only an edit made in the
#: minute of the newest edit already read, and no later run may happen to repair it (a
#: write of PIE's to that page, the full reconciliation); its step-by-step replay is below
HUNT_BUDGET = {"cursor without overlap": 300}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_the_proof_catches_a_broken_engine(name: str) -> None:
    config, crm = BROKEN[name]
    machine = machine_for(SyncConfig(connection=CONN, **config), **crm)
    hunt = settings(
        FAST,
        max_examples=HUNT_BUDGET.get(name, 200),
        phases=[Phase.generate],
        report_multiple_bugs=False,
    )
    with pytest.raises(AssertionError):
        run_state_machine_as_test(machine, settings=hunt)


class _Draws:
    """Stands in for ``st.data()`` when a test replays rules by hand."""

    def __init__(self, *values: Any) -> None:
        self.values = list(values)

    def draw(self, strategy: Any) -> Any:
        del strategy
        return self.values.pop(0)


def _crash_before_an_update(m: SyncMachine) -> None:  # F5
    m.fault_scenario(FaultKind.CRASH_BEFORE, "update", 1)
    m.edit_in_pie(_Draws(m.pie_ids[0], "stage", "demo"), PIE)
    m.sync()


def _revoked_mid_run(m: SyncMachine) -> None:  # F13
    m.edit_in_pie(_Draws(m.pie_ids[0], "stage", "demo"), PIE)
    m.fault_scenario(FaultKind.UNAUTHORIZED, "update", 1)
    m.sync()
    m.tick(61)
    m.sync()


def _edited_in_the_cursor_s_minute(m: SyncMachine) -> None:  # I8
    page = m.run(m.world.external_id(m.pie_ids[0]))
    assert page is not None
    m.tick(50)
    m.sync()  # the inbound cursor: the page's minute
    m.edit_in_crm(_Draws(page, "owner", "erin"))  # the same minute
    m.tick(61)
    m.sync()


REPLAYED: dict[str, tuple[dict[str, Any], Callable[[SyncMachine], None]]] = {
    "cursor without overlap, a change in the cursor's minute (I8)": (
        {"overlap": 0.0, "inclusive": False},
        _edited_in_the_cursor_s_minute,
    ),
    "the base checkpointed before the CRM confirmed the write (F5)": (
        {"checkpoint_before_write": True},
        _crash_before_an_update,
    ),
    "401/403 do not pause the connection (F13)": (
        {"pause_on_auth_error": False},
        _revoked_mid_run,
    ),
}


@pytest.mark.parametrize("name", sorted(REPLAYED))
def test_the_proof_catches_a_broken_engine_in_a_replayed_fault(name: str) -> None:
    """The fault scenarios added last (F5 crashes, F13 401/403 mid-run), and a cursor
    without overlap caught at the step its read skips a change (I8, ``_check_read``),
    replayed step by step through the machine's own rules and checks: the real engine
    passes, the broken one is caught. (The random hunts above find them too, but not within
    their fixed budget, or, for the cursor, only at the end.)"""
    broken, steps = REPLAYED[name]
    for config, caught in (({}, False), (broken, True)):
        m = machine_for(SyncConfig(connection=CONN, **config))()
        start = [{"name": "Acme", "stage": "lead"}.get(k) for k in PIE_EDITABLE]
        m.start(n=1, skew=0.0, data=_Draws(*start))
        if not caught:
            _play(m, steps)
            continue
        with pytest.raises(AssertionError):
            _play(m, steps)


def _play(m: SyncMachine, steps: Callable[[SyncMachine], None]) -> None:
    """The steps, then quiescence and the final checks (the machine's teardown)."""
    try:
        steps(m)
    finally:
        m.teardown()


def _trashed_and_restored(m: SyncMachine, page: str) -> None:
    m.trash_in_crm(_Draws(page), "trash")
    m.edit_in_pie(_Draws(m.pie_ids[0], "probability", 0.9), PIE)
    m.trash_in_crm(_Draws(page), "restore")
    m.edit_in_crm(_Draws(page, "probability", 0.5))  # set again: the page is touched


def _edited_again(m: SyncMachine, page: str) -> None:
    m.edit_in_pie(_Draws(m.pie_ids[0], "probability", 0.9), PIE)
    m.edit_in_crm(_Draws(page, "stage", "proposal"))


@pytest.mark.parametrize("then", [_trashed_and_restored, _edited_again])
def test_a_person_s_edit_on_a_page_the_read_no_longer_shows_is_logged(
    then: Callable[[SyncMachine, str], None],
) -> None:
    """Found by a random hunt (3 deals, skew -300 s): a person sets a deal's agent-owned
    probability in the CRM; 30 s later an agent sets it in PIE, and the person trashes and
    restores the page (or edits another of its fields): the CRM's queries do not show the page
    again until their index catches up. PIE last saw the page inside the read's window, so
    its absence means something happened to it: PIE reads the page before writing, PIE's
    value wins (agent-owned) and the person's value is logged (it was overwritten silently)."""
    m = machine_for(SyncConfig(connection=CONN))()
    start = [{"name": "Acme", "stage": "lead", "probability": 0.1}.get(k) for k in PIE_EDITABLE]
    m.start(n=3, skew=-300.0, data=_Draws(*start * 3))
    page = m.run(m.world.external_id(m.pie_ids[0]))
    assert page is not None

    def steps(m: SyncMachine) -> None:
        m.edit_in_crm(_Draws(page, "probability", 0.5))
        m.tick(30)
        then(m, page)
        m.sync()
        logged = [
            (c.field, c.local, c.remote, c.winner, c.rule) for c in m.run(m.world.conflicts())
        ]
        assert ("probability", 0.9, 0.5, "pie", "agent_owned") in logged
        m.conflicts_logged_once()

    _play(m, steps)


@pytest.mark.parametrize("edited", [False, True], ids=["untouched", "edited by a person"])
def test_a_page_created_before_a_crash_and_hidden_is_resolved_when_visible_again(
    edited: bool,
) -> None:
    """Found by random hunts (seeds 55 and 1002, derandomize off): PIE sends a create, Notion
    applies it, PIE's process dies before the link is saved (F5); a person then moves the new
    page out of the database (or disconnects PIE's connection from it): the next run's lookup
    by PIE id cannot see it and creates a second page. Notion gives an integration no way to
    find a page it cannot see, so the second page is unavoidable; what the proof demands is
    what happens when the first page is visible again (moved back, re-shared): one rule, one
    log row, never a second PIE record or link. A copy PIE made that nobody edited since is
    trashed (soft); one a person edited is kept, not linked, and logged for review."""
    m = machine_for(SyncConfig(connection=CONN))()
    start = [{"name": "Acme", "stage": "lead"}.get(k) for k in PIE_EDITABLE]
    m.start(n=1, skew=0.0, data=_Draws(*start))
    made = [{"name": "Globex", "stage": "demo", "value": 2500.5}.get(k) for k in PIE_EDITABLE]

    def steps(m: SyncMachine) -> None:
        m.create_in_pie(_Draws(*made))
        m.fault_scenario(FaultKind.CRASH_AFTER, "create", 1)
        m.sync()  # Notion made the page; PIE died before saving its link
        deal = m.pie_ids[-1]
        (first,) = [e for e, r in m.crm.rows.items() if r.pie_id == deal]
        assert m.run(m.world.external_id(deal)) is None
        m.trash_in_crm(_Draws(first), "unshare")
        if edited:  # people still see and edit a page moved out of the database
            m._human_edit(first, "owner", "erin")
        m.tick(30)
        m.sync()  # the lookup by PIE id cannot see the first page: a second one is made
        second = m.run(m.world.external_id(deal))
        assert second is not None and second != first
        m.no_duplicates()
        m.trash_in_crm(_Draws(first), "reshare")
        m.no_duplicates()  # visible again, not yet reconciled: pending, not a failure
        m.quiesce()  # full reconciliations: I6 with nothing pending (_check_duplicates)
        rows = [
            (c.external_id, c.rule)
            for c in m.run(m.world.conflicts())
            if c.field == RECORD and c.pie_id == deal
        ]
        rule = Rule.DUPLICATE_KEPT if edited else Rule.DUPLICATE_TRASHED
        assert rows == [(first, rule.value)]
        assert m.crm.rows[first].in_trash is not edited
        assert not m.crm.rows[second].in_trash
        assert m.run(m.world.external_id(deal)) == second

        async def deals() -> int:
            async with m.world.uow() as uow:
                return await uow.deals.count()

        assert m.run(deals()) == 2  # never a second PIE record

    _play(m, steps)


def test_a_page_hidden_then_visible_again_is_synced_again() -> None:
    """A person moves a linked page out of the database (or disconnects PIE from it): the
    full reconciliation reads it, gets a 404 and detaches the link (nothing deleted). An
    agent edits the deal meanwhile. The page is moved back, untouched, so its
    ``last_edited_time`` is older than any incremental read's window: the next full
    reconciliation finds it, links it again (logged once) and merges it with the last agreed
    values: the agent's edit reaches the page."""
    m = machine_for(SyncConfig(connection=CONN))()
    start = [{"name": "Acme", "stage": "lead"}.get(k) for k in PIE_EDITABLE]
    m.start(n=2, skew=0.0, data=_Draws(*start * 2))
    deal = m.pie_ids[0]
    page, other = (m.run(m.world.external_id(d)) for d in m.pie_ids)
    assert page is not None and other is not None

    def reconcile(m: SyncMachine) -> None:
        m.run(m.world.run(reconcile=True))
        m._after_run()

    def steps(m: SyncMachine) -> None:
        m.tick(400)
        m.trash_in_crm(_Draws(page), "unshare")
        reconcile(m)

        async def status() -> LinkStatus | None:
            async with m.world.uow() as uow:
                link = await uow.sync.link(CONN, RecordKind.DEAL, deal)
            return None if link is None else link.status

        assert m.run(status()) is LinkStatus.DETACHED
        m.edit_in_pie(_Draws(deal, "stage", "proposal"), PIE)
        m.tick(400)
        m.edit_in_crm(_Draws(other, "stage", "demo"))
        m.tick(61)  # the query index has caught up: the inbound cursor moves on
        m.sync()
        m.trash_in_crm(_Draws(page), "reshare")
        m.tick(30)
        m.sync()  # not a full reconciliation: the page is too old for the incremental read
        assert m.run(status()) is LinkStatus.DETACHED
        m.no_duplicates()
        reconcile(m)
        assert m.run(status()) is LinkStatus.LINKED
        assert m.world.page(page)["stage"] == "proposal"
        rows = [c.rule for c in m.run(m.world.conflicts()) if c.field == RECORD]
        assert rows == [Rule.VISIBLE_AGAIN.value]

    _play(m, steps)


def test_an_edit_made_before_a_page_was_hidden_arrives_when_it_is_visible_again() -> None:
    """Found by a random hunt (seed 55, 500 examples, with the re-share rule): a person edits
    a linked page and hides it (moves it out of the database) before PIE's next read; PIE's
    cursor moves on; the page comes back untouched, its ``last_edited_time`` now older than
    any incremental read's window, and PIE never detached it (no full reconciliation ran
    while it was hidden). The full reconciliation takes in every linked page edited since
    PIE last saw it: the edit arrives (I1, I2)."""
    m = machine_for(SyncConfig(connection=CONN))()
    start = [{"name": "Acme", "stage": "lead"}.get(k) for k in PIE_EDITABLE]
    m.start(n=2, skew=0.0, data=_Draws(*start * 2))
    page, other = (m.run(m.world.external_id(d)) for d in m.pie_ids)
    assert page is not None and other is not None

    def steps(m: SyncMachine) -> None:
        m.tick(400)
        m.edit_in_crm(_Draws(page, "owner", "erin"))
        m.trash_in_crm(_Draws(page), "unshare")
        m.tick(400)
        m.edit_in_crm(_Draws(other, "stage", "demo"))
        m.tick(61)
        m.sync()  # the cursor moves past the first page's edit
        m.trash_in_crm(_Draws(page), "reshare")
        m.sync()
        assert m.run(m.world.pie_deal(m.pie_ids[0]))["owner"] is None  # not read yet
        m.run(m.world.run(reconcile=True))
        m._after_run()
        assert m.run(m.world.pie_deal(m.pie_ids[0]))["owner"] == "erin"

    _play(m, steps)
