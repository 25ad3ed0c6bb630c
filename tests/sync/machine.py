"""The sync proof: a Hypothesis state machine interleaving edits on both sides (agents and
people in PIE, people in the CRM), creates, trashes, deletes, pages hidden from PIE and
visible again (unshared and reshared, moved out of the database and back), a virtual clock,
clock skew, and injected faults (429 with Retry-After, 529, 500, timeouts, writes applied
whose answer is lost, refused connections, 409), running the engine between them.

Checked after every step (S) and after quiescence (Q), see sync-and-notion.md §4:

* I1 (Q) convergence: every linked record has the same values on both sides.
* I2 (S+Q) no silent loss of a person's CRM edit: it reaches PIE, or a later person's edit
  of the same field superseded it, or the sync log names it as a conflict's loser (or the
  record's trash/delete, or the page as a duplicate kept for review), or the page is
  hidden from PIE (detached; once visible again, it is linked again and the edit must
  arrive).
* I3 (S+Q) agent-owned fields are never overwritten from outside; human-owned fields end as
  the CRM's.
* I4 (S) every conflict is logged once, none for equal values.
* I5 (Q) no echoes: once quiet, further runs write nothing to either side.
* I6 (S+Q) no duplicates, stated for what an integration can know (``_check_duplicates``:
  Notion hides pages moved out of the database or disconnected from PIE, even from the
  lookup by PIE id): among the pages PIE can see, one live page per PIE id, the linked one;
  any other is decided by the duplicate rule and logged (trashed, or kept for review and
  never linked), or visible again since the last clean full reconciliation; after
  quiescence, none pending. One link per page, to the page's own PIE id.
* I8 (S) the inbound cursor never goes back, and a complete run's read skips no change its
  first query could show (``_check_read``).
* I9 (S) the rate budget is never exceeded, and nothing is sent during a Retry-After.
* I10 (S) nothing is deleted from PIE by the sync (a 404 only detaches; a page visible
  again is linked again: Q).

``machine_for(config, **crm)`` builds the machine for an engine configuration, so the same
checks run against deliberately broken engines (tests/sync/test_sync_proof.py).
"""

from __future__ import annotations

import asyncio
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from pie.domain.crm_fields import DEAL_FIELDS, Ownership, RecordKind
from pie.domain.ownership import HUMAN, PIE
from pie.ports.crm import CrmRecord
from pie.ports.sync import Conflict, ConnectionStatus, LinkStatus
from pie.sync.engine import SyncConfig
from pie.sync.planner import RECORD, Rule
from tests.fakes.crm import EngineCrash, FakeCrm, Fault, FaultKind, VirtualClock
from tests.sync.harness import CONN, World, make_world

VALUES: dict[str, list[Any]] = {
    "name": ["Acme", "Globex", "Initech"],
    "stage": ["lead", "discovery", "demo", "proposal", "negotiation"],
    "value": [None, 1000.0, 2500.5, 99000.0],
    "expected_close": [None, "2026-03-01", "2026-06-30"],
    "product_line": [None, "core", "plus"],
    "probability": [None, 0.1, 0.5, 0.9],
    "detection_confidence": [None, 0.2, 0.8],
    "owner": [None, "dana", "erin"],
    "lead_source": [None, "web", "referral"],
}
OWNER = {f.name: f.ownership for f in DEAL_FIELDS}
PIE_EDITABLE = sorted(n for n, o in OWNER.items() if o is not Ownership.HUMAN)
AGENT_FIELDS = sorted(n for n, o in OWNER.items() if o is Ownership.AGENT)
BUDGET = (3, 1.0)  # the fake CRM answers 429 beyond 3 requests a second
DUPLICATE_RULES = frozenset({Rule.DUPLICATE_TRASHED.value, Rule.DUPLICATE_KEPT.value})

FAULTS = st.sampled_from(
    [
        FaultKind.RATE_LIMITED,
        FaultKind.OVERLOADED,
        FaultKind.SERVER_ERROR,
        FaultKind.TIMEOUT,
        FaultKind.LOST_RESPONSE,
        FaultKind.REFUSED,
        FaultKind.CONFLICT,
    ]
)
OPS = st.sampled_from(["create", "update", "query", "get", "list", "trash", ""])


@dataclass(frozen=True)
class PieEdit:
    n: int
    deal: UUID
    field: str
    value: Any
    at: datetime  # true time


@dataclass
class HumanEdit:
    n: int
    external_id: str
    field: str
    value: Any
    at: datetime
    done: bool = False


class SyncMachine(RuleBasedStateMachine):
    config: SyncConfig = SyncConfig(connection=CONN)
    crm_options: dict[str, Any] = {}  # noqa: RUF012 (set per subclass)

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.world: World = self.loop.run_until_complete(self._make())
        self.pie_ids: list[UUID] = []  # deals PIE created (never deleted by the machine)
        self.deleted: set[UUID] = set()
        self.pages: list[str] = []
        self.edits: list[HumanEdit] = []
        self.pie_edits: list[PieEdit] = []
        self.agent_values: dict[UUID, dict[str, Any]] = {}
        self.cursors: dict[str, datetime] = {}
        self.retry_windows: list[tuple[datetime, datetime]] = []
        self.checked_requests = 0
        self.resumed_at: list[int] = []  # request counts when the connection was resumed
        #: pages visible again since the last full reconciliation that ran clean
        self.reshared: set[str] = set()

    async def _make(self) -> World:
        clock = VirtualClock()
        options = {"budget": BUDGET, "query_lag": 45.0, **self.crm_options}
        return await make_world(config=self.config, crm=FakeCrm(clock, **options))

    def teardown(self) -> None:
        self.loop.close()

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    @property
    def crm(self) -> FakeCrm:
        return self.world.crm

    # --- PIE's side ------------------------------------------------------------------------

    @initialize(
        n=st.integers(1, 3),
        skew=st.sampled_from([-300.0, -45.0, 0.0, 45.0, 300.0]),
        data=st.data(),
    )
    def start(self, n: int, skew: float, data: st.DataObject) -> None:
        self.crm.skew = skew  # the CRM's clock vs PIE's: fixed for a run (F6)
        for _ in range(n):
            self.create_in_pie(data)
        self.sync()

    @rule(data=st.data())
    def create_in_pie(self, data: st.DataObject) -> None:
        values = {k: data.draw(st.sampled_from(VALUES[k])) for k in PIE_EDITABLE}
        name, stage = values.pop("name"), values.pop("stage")
        values["value"] = None if values["value"] is None else values["value"]
        deal = self.run(self.world.add_deal(name, stage=stage, **_model(values)))
        self.pie_ids.append(deal)
        self.agent_values[deal] = {k: values.get(k) for k in AGENT_FIELDS}

    @precondition(lambda self: self.pie_ids)
    @rule(data=st.data(), by=st.sampled_from([PIE, HUMAN]))
    def edit_in_pie(self, data: st.DataObject, by: str) -> None:
        deal = data.draw(st.sampled_from(self.pie_ids))
        if deal in self.deleted:
            return
        names = PIE_EDITABLE if by == PIE else [n for n in PIE_EDITABLE if n not in AGENT_FIELDS]
        field = data.draw(st.sampled_from(names))
        value = data.draw(st.sampled_from(VALUES[field]))
        if field in ("name", "stage") and value is None:
            return
        before = self.run(self.world.pie_deal(deal))
        self.run(self.world.edit_deal(deal, origin=by, **{field: value}))
        if field in AGENT_FIELDS:
            self.agent_values[deal][field] = value
        after = self.run(self.world.pie_deal(deal))
        if before is not None and after is not None and before[field] != after[field] == value:
            # (a write the store's provenance policy refused, e.g. an agent's over a
            # person's value, is no edit)
            self.pie_edits.append(PieEdit(len(self.pie_edits), deal, field, value, self._now()))

    def _now(self) -> datetime:
        return self.world.clock.now()

    @precondition(lambda self: self.pie_ids)
    @rule(data=st.data(), by=st.sampled_from([PIE, HUMAN]))
    def delete_in_pie(self, data: st.DataObject, by: str) -> None:
        deal = data.draw(st.sampled_from(self.pie_ids))
        if deal in self.deleted:
            return
        self.run(self.world.delete_deal(deal, origin=by))
        self.deleted.add(deal)

    # --- the CRM's side --------------------------------------------------------------------

    @rule(data=st.data())
    def create_in_crm(self, data: st.DataObject) -> None:
        values = {k: data.draw(st.sampled_from(v)) for k, v in VALUES.items()}
        self.pages.append(self.crm.human_create(RecordKind.DEAL, values))

    @precondition(lambda self: self._crm_pages())
    @rule(data=st.data())
    def edit_in_crm(self, data: st.DataObject) -> None:
        ext = data.draw(st.sampled_from(self._crm_pages()))
        field = data.draw(st.sampled_from(sorted(VALUES)))
        value = data.draw(st.sampled_from(VALUES[field]))
        if field in ("name", "stage") and value is None:
            return
        self._human_edit(ext, field, value)

    def _human_edit(self, ext: str, field: str, value: Any) -> None:
        before = self.crm.rows[ext].fields.get(field)
        self.crm.human_edit(RecordKind.DEAL, ext, {field: value})
        if before == value:
            return  # touched, not changed: nothing to deliver
        self.edits.append(HumanEdit(len(self.edits), ext, field, value, self.world.clock.now()))

    @rule(field=st.sampled_from(sorted(VALUES)), data=st.data())
    def edit_in_crm_during_the_next_write(self, field: str, data: st.DataObject) -> None:
        """F7: a person edits a page between PIE's read and PIE's write (another field)."""
        value = data.draw(st.sampled_from(VALUES[field]))
        if field in ("name", "stage") and value is None:
            return

        def edit(page: CrmRecord, writing: Mapping[str, Any]) -> None:
            if field in writing:
                return  # the same field: the CRM has no conditional write (see docs/sync.md)
            self._human_edit(page.external_id, field, value)

        self.crm.before_update.append(edit)

    @precondition(lambda self: self._crm_pages())
    @rule(
        data=st.data(),
        what=st.sampled_from(["trash", "restore", "unshare", "reshare", "move_back"]),
    )
    def trash_in_crm(self, data: st.DataObject, what: str) -> None:
        """A person trashes or restores a page; or hides it from PIE's integration (moves it
        out of the database, or disconnects the connection from it: "unshare"), or makes it
        visible again: reconnected ("reshare", the page itself untouched, so its
        ``last_edited_time`` may be older than any read's window) or moved back into the
        database ("move_back", counted as the person's edit of the page)."""
        ext = data.draw(st.sampled_from(self._crm_pages(any_state=True)))
        row = self.crm.rows[ext]
        if what == "unshare":
            self.crm.unshare(RecordKind.DEAL, ext)
        elif what in ("reshare", "move_back"):
            if not row.visible:
                self.crm.unshare(RecordKind.DEAL, ext, visible=True, touch=what == "move_back")
                self.reshared.add(ext)
        elif row.visible:
            self.crm.human_trash(RecordKind.DEAL, ext, what == "trash")

    # --- time, faults, runs ----------------------------------------------------------------

    @rule(seconds=st.sampled_from([1, 10, 30, 61, 150, 400, -120]))
    def tick(self, seconds: int) -> None:
        """Time passes; a negative tick is PIE's clock jumping back (F6; the CRM's does not)."""
        if seconds < 0:
            self.world.pie_clock.jump(seconds)
        else:
            self.world.clock.advance(seconds)

    @rule(
        kind=FAULTS,
        op=OPS,
        times=st.integers(1, 3),
        retry_after=st.sampled_from([None, 0.5, 2.5, 7.0]),
    )
    def inject_fault(self, kind: FaultKind, op: str, times: int, retry_after: float | None) -> None:
        ops = frozenset({op}) if op else frozenset()
        self.crm.inject(Fault(kind, ops, times, retry_after))

    @rule(what=st.sampled_from(["create", "update", "trash"]))
    def lose_the_next_answer(self, what: str) -> None:
        """F3: the next write of this kind is applied and its answer lost."""
        self.crm.inject(Fault(FaultKind.LOST_RESPONSE, frozenset({what})))

    @rule(retry_after=st.sampled_from([1.5, 7.0, 61.0]), times=st.integers(1, 4))
    def throttle(self, retry_after: float, times: int) -> None:
        """F1: a storm of 429s with Retry-After (decimals, and beyond a minute)."""
        self.crm.inject(Fault(FaultKind.RATE_LIMITED, frozenset(), times, retry_after))

    @rule(
        kind=st.sampled_from(
            [
                FaultKind.CRASH_BEFORE,
                FaultKind.CRASH_AFTER,
                FaultKind.UNAUTHORIZED,
                FaultKind.FORBIDDEN,
                FaultKind.VALIDATION,
            ]
        ),
        op=st.sampled_from(["update", "create", "query", ""]),
        times=st.integers(1, 3),
    )
    def fault_scenario(self, kind: FaultKind, op: str, times: int) -> None:
        """F5: PIE's process dies at the next request of this kind, after the CRM applied it
        (between the external write and PIE's checkpoint) or just before sending it.
        F13: the token is revoked (401) or the databases unshared (403) mid-run: from the
        next request of this kind on, every request is refused until renewed.
        F12: a partial batch: the next ``times`` writes of this kind fail 400."""
        ops = frozenset({op}) if op else frozenset()
        if kind is FaultKind.VALIDATION:
            ops = frozenset({op}) if op in ("create", "update") else frozenset({"update"})
            self.crm.inject(Fault(kind, ops, times))
        else:
            self.crm.inject(Fault(kind, ops))

    @rule()
    def renew_access_and_resume(self) -> None:
        """A person renews the token and runs `pie sync resume`."""
        self.crm.renew_token()
        self._resume()

    @rule()
    def sync(self) -> None:
        paused = self.run(self._paused())
        sent = len(self.crm.requests)
        queries = len(self.crm.query_shown)
        seen = self.run(self._seen())
        try:
            report = self.run(self.world.run())
        except EngineCrash:
            self.world.restart()  # F5: the process comes back; nothing in memory survives
        else:
            if not report.errors:  # a run that stopped early (401, retries given up) aside
                self._check_read(queries, seen)
                if report.reconciled:
                    self.reshared.clear()
        if paused:  # F13: a paused connection sends nothing and changes nothing
            assert len(self.crm.requests) == sent, "requests sent while paused"
        self._after_run()

    async def _paused(self) -> bool:
        async with self.world.uow() as uow:
            return (await uow.sync.state(CONN)).status is ConnectionStatus.PAUSED

    def _resume(self) -> None:
        self.run(self.world.engine.resume())
        self.resumed_at.append(len(self.crm.requests))

    # --- checks ----------------------------------------------------------------------------

    def _after_run(self) -> None:
        self.run(self._check_edits(final=False))
        self.run(self._check_cursor())
        self._check_requests()
        self.run(self._check_agent_fields())

    @invariant()
    def no_duplicates(self) -> None:  # I6
        self.run(self._check_duplicates(final=False))

    async def _check_duplicates(self, *, final: bool) -> None:  # I6
        """I6, stated for what an integration can know. Notion shows an integration only the
        pages shared with it: a page a person moved out of the database, or disconnected the
        connection from, answers 404 and drops out of every query, the lookup by PIE id
        included, and nothing in the API finds it (sync-and-notion.md §1.5, docs/sync.md).
        So after a create whose answer PIE never read (F5) and such a move, PIE cannot tell
        "hidden" from "never made" and creates the record again: two pages with one PIE id
        can exist while one of them is hidden. What PIE guarantees, checked here:

        * at every step, among the pages the integration can see, one live page per PIE id,
          and it is the linked one when there is a link; any other is a duplicate the rule
          decided and logged (trashed, or kept for review, never linked), or one visible
          again since the last full reconciliation that ran clean (not found yet: a page
          reconnected untouched is older than any incremental read's window);
        * after quiescence (``final``: full reconciliations, faults healed), none pending:
          every duplicate visible again is decided, logged, and a trashed one is in the
          trash (soft: it is still there, never deleted);
        * never a second link: a page is linked once, and a linked page carries its link's
          PIE id (PIE's links are keyed by PIE id, so never a second PIE record either)."""
        logged: dict[str, list[str]] = {}
        for c in await self.world.conflicts():
            if c.field == RECORD and c.rule in DUPLICATE_RULES and c.external_id is not None:
                logged.setdefault(c.external_id, []).append(c.rule)
        async with self.world.uow() as uow:
            links = await uow.sync.links(CONN, RecordKind.DEAL)
        exts = [link.external_id for link in links]
        assert len(exts) == len(set(exts)), "a page linked twice"
        linked = {link.pie_id: link.external_id for link in links}
        for link in links:
            carried = self.crm.rows[link.external_id].pie_id
            assert carried in (None, link.pie_id), f"{link} links a page of {carried}"
        pages: dict[UUID, list[str]] = {}
        for record in self.crm.all_records(RecordKind.DEAL):
            if record.pie_id is None or not self.crm.rows[record.external_id].visible:
                continue
            if not record.in_trash:
                pages.setdefault(record.pie_id, []).append(record.external_id)
        for pie_id, exts in pages.items():
            the_one = [e for e in exts if e == linked.get(pie_id)]
            for ext in exts:
                rules = logged.get(ext, [])
                if ext in the_one or (rules and rules[-1] == Rule.DUPLICATE_KEPT.value):
                    continue  # the linked page, or one kept for review (never linked)
                if rules:  # decided: trashed; a trash may wait for a fault to heal
                    assert not final, f"{ext}: {rules[-1]} decided, yet it is live"
                    continue
                if not final and ext in self.reshared:
                    continue  # visible again, not reconciled yet
                the_one.append(ext)
            assert len(the_one) <= 1, f"two pages for {pie_id}: {sorted(the_one)}"

    @invariant()
    def nothing_deleted_by_the_sync(self) -> None:  # I10
        async def check() -> None:
            async with self.world.uow() as uow:
                for deal in self.pie_ids:
                    if deal not in self.deleted:
                        assert await uow.deals.get(deal) is not None, f"{deal} was deleted"

        self.run(check())

    @invariant()
    def conflicts_logged_once(self) -> None:  # I4
        logged = self.run(self.world.conflicts())
        keys = [(c.pie_id, c.field, c.base, c.local, c.remote) for c in logged]
        assert len(keys) == len(set(keys)), "a conflict logged twice"
        for c in logged:
            if c.field != RECORD:
                assert c.local != c.remote, f"a conflict logged for equal values: {c}"

    async def _seen(self) -> dict[str, tuple[datetime | None, str | None]]:
        """Per linked page, the ``last_edited_time`` and ``last_edited_by`` PIE last saw."""
        async with self.world.uow() as uow:
            links = await uow.sync.links(CONN, RecordKind.DEAL)
        return {
            link.external_id: (link.remote_edited_time, link.remote_edited_by)
            for link in links
            if link.status is LinkStatus.LINKED
        }

    def _check_read(
        self, queries: int, seen: Mapping[str, tuple[datetime | None, str | None]]
    ) -> None:  # I8: the read skips no change
        """After a run that completed: its read of deals returned every linked page that its
        first query could show (live, visible to PIE, its last edit in the query index) in
        a state PIE had not seen before the run (another ``last_edited_time`` or
        ``last_edited_by``; times are floored to the minute). Pages visible again since the
        last full reconciliation are excused: untouched, they can be older than any
        incremental read's window (the reconciliation takes them in)."""
        reads = [(s, got) for k, s, got in self.crm.query_shown[queries:] if k is RecordKind.DEAL]
        if not reads:
            return
        first = reads[0][0]
        returned = frozenset().union(*(got for _, got in reads))
        for ext, before in seen.items():
            at = first.get(ext)
            if at is None or at == before or ext in self.reshared:
                continue
            assert ext in returned, f"the read skipped a change of {ext}: {at} (PIE saw {before})"

    async def _check_cursor(self) -> None:  # I8
        async with self.world.uow() as uow:
            state = await uow.sync.state(CONN)
        for kind, text in state.cursors.items():
            now = datetime.fromisoformat(text)
            before = self.cursors.get(kind)
            assert before is None or now >= before, "the cursor went back"
            self.cursors[kind] = now

    def _check_requests(self) -> None:  # I9, on every request sent (lookups and retries too)
        requests = self.crm.requests
        limit, window = BUDGET
        assert not any(r.kind == "429-budget" for r in requests), "the rate budget was exceeded"
        rate, burst = self.config.requests_per_second, self.config.burst
        times = [r.at for r in requests]
        for i in range(self.checked_requests, len(requests)):
            for span, most in ((window, limit), (10.0, rate * 10.0 + burst)):
                sent = i + 1 - bisect_right(times, times[i] - timedelta(seconds=span))
                assert sent <= most, f"{sent} requests sent in {span}s (budget {most})"
        for i in range(self.checked_requests, len(requests)):
            r = requests[i]
            before = requests[i - 1].kind if i else None
            if before in ("401", "403"):  # F13: nothing more until a person resumes
                assert i in self.resumed_at, f"a request after a {before} before `pie sync resume`"
            if r.kind not in ("429", "529"):
                continue
            fault_after = self._retry_after_of(i)
            if fault_after is None:
                continue
            for later in requests[i + 1 :]:
                gap = (later.at - r.at).total_seconds()
                assert gap >= fault_after - 1e-6, (
                    f"a request {gap:.2f}s after a 429 with Retry-After {fault_after}"
                )
                break
        del limit, window
        self.checked_requests = len(requests)

    def _retry_after_of(self, index: int) -> float | None:
        return self.crm.retry_afters.get(index)

    async def _check_agent_fields(self) -> None:  # I3 (agent-owned, at every step)
        async with self.world.uow() as uow:
            for deal, values in self.agent_values.items():
                if deal in self.deleted:
                    continue
                got = await uow.deals.get(deal)
                assert got is not None
                for name, value in values.items():
                    assert getattr(got, name) == value, (
                        f"agent-owned {name} of {deal} is {getattr(got, name)!r}, "
                        f"the agent wrote {value!r}"
                    )

    async def _check_edits(self, *, final: bool) -> None:  # I2
        logged = await self.world.conflicts()
        async with self.world.uow() as uow:
            for e in self.edits:
                if e.done:
                    continue
                if any(
                    x.external_id == e.external_id and x.field == e.field and x.n > e.n
                    for x in self.edits
                ):
                    e.done = True  # superseded by a later human edit
                    continue
                link = await uow.sync.link_by_external(CONN, RecordKind.DEAL, e.external_id)
                if link is None:
                    row = self.crm.rows[e.external_id]
                    if any(
                        c.external_id == e.external_id
                        and c.field == RECORD
                        and c.rule == Rule.DUPLICATE_KEPT.value
                        for c in logged
                    ):
                        e.done = True  # on a duplicate kept for review: logged, not synced
                        continue
                    if final:
                        assert row.in_trash or not row.visible, f"edit never synced: {e}"
                    continue
                hidden = not self.crm.rows[e.external_id].visible
                if link.status is not LinkStatus.LINKED and (
                    (link.status is LinkStatus.DETACHED and hidden)  # visible again: relinked
                    or any(c.pie_id == link.pie_id and _ends_sync(c) for c in logged)
                ):
                    e.done = True
                    continue
                deal = await uow.deals.get(link.pie_id)
                from pie.sync.store import from_model

                if deal is not None and from_model(RecordKind.DEAL, deal)[e.field] == e.value:
                    e.done = True
                    continue
                if any(
                    c.pie_id == link.pie_id and c.field in (e.field, RECORD) and c.remote == e.value
                    for c in logged
                ):
                    e.done = True
                    continue
                if deal is None and link.pie_id in self.deleted:
                    e.done = True  # deleted in PIE: the delete rule logged it (RECORD row)
                    continue
                current = self.crm.rows[e.external_id].fields.get(e.field)
                if current != e.value and self._raced(e):
                    e.done = True  # the documented same-field race (docs/sync.md)
                    continue
                assert current == e.value, f"a human edit was overwritten silently: {e}"
                assert not final, f"a human edit never reached PIE: {e}"

    def _check_no_echo_writes(self) -> None:  # I5: every write PIE sent changed something
        for index in self.crm.noop_writes:  # (the resend of an unanswered write is excused)
            raise AssertionError(f"an echo: PIE rewrote values the CRM had (request {index})")

    def _raced(self, e: HumanEdit) -> bool:
        """PIE wrote the same field while none of its reads since the edit could show it: the
        CRM has no conditional write, so nobody can see this (a documented limit). A query
        cannot show a page that is trashed, or whose last edit (this one, or a later one of
        any field) its index has not caught up with; a get shows the page as it is."""
        for at, ext, fields in self.crm.write_log:
            if ext != e.external_id or e.field not in fields or at < e.at:
                continue
            got = any(e.at <= t <= at and x == ext for t, x in self.crm.got)
            shown = any(
                e.at <= t <= at and kind is RecordKind.DEAL and ext not in hidden
                for t, kind, hidden in self.crm.query_hidden
            )
            if not got and not shown:
                return True  # no read of PIE's between the edit and this write showed it
        return False

    # --- quiescence ------------------------------------------------------------------------

    def quiesce(self) -> None:
        """Heal every fault, let time pass, run until a run does nothing, then check I1, I2,
        I3 and I5."""
        self.crm.heal()
        if self.crm.revoked is not None or self.run(self._paused()):
            self.crm.renew_token()
            self._resume()
        self.world.clock.advance(180)
        for _ in range(8):
            report = self.run(self.world.run(reconcile=True))
            self._after_run()
            self.world.clock.advance(61)
            if not report.errors:
                self.reshared.clear()
            if report.idle and not report.errors:
                break
        writes = self.crm.writes_applied
        for _ in range(2):
            report = self.run(self.world.run(reconcile=True))
            self.world.clock.advance(61)
            assert report.idle, f"an echo after quiescence: {report}"
        assert self.crm.writes_applied == writes, "CRM writes after quiescence"
        self._check_no_echo_writes()
        self.run(self._check_duplicates(final=True))
        self.run(self._check_converged())
        self.run(self._check_edits(final=True))
        self.run(self._check_pie_edits())

    async def _check_pie_edits(self) -> None:  # I2's mirror: no edit made in PIE lost silently
        from pie.sync.store import from_model

        logged = await self.world.conflicts()
        async with self.world.uow() as uow:
            for e in self.pie_edits:
                if e.deal in self.deleted or any(
                    x.deal == e.deal and x.field == e.field and x.n > e.n for x in self.pie_edits
                ):
                    continue  # deleted, or superseded by a later edit in PIE
                deal = await uow.deals.get(e.deal)
                assert deal is not None
                if from_model(RecordKind.DEAL, deal)[e.field] == e.value:
                    continue
                if any(
                    c.pie_id == e.deal
                    and (_ends_sync(c) or (c.field == e.field and c.local == e.value))
                    for c in logged
                ):
                    continue  # logged as a conflict's loser (or the record's trash)
                link = await uow.sync.link(CONN, RecordKind.DEAL, e.deal)
                if (
                    link is not None
                    and link.status is LinkStatus.DETACHED
                    and not self.crm.rows[link.external_id].visible
                ):
                    continue  # hidden from PIE (once visible again, it is linked again)
                if link is not None and any(
                    x.external_id == link.external_id and x.field == e.field and x.at >= e.at
                    for x in self.edits
                ):
                    continue  # a person's later edit in the CRM replaced it
                raise AssertionError(f"an edit made in PIE was lost silently: {e}")

    async def _check_converged(self) -> None:  # I1, I3 (human-owned)
        async with self.world.uow() as uow:
            for link in await uow.sync.links(CONN, RecordKind.DEAL):
                row = self.crm.rows[link.external_id]
                if link.status is LinkStatus.DETACHED:  # hidden from PIE, and still hidden
                    assert row.in_trash or not row.visible, f"visible again, not synced: {link}"
                if link.status is not LinkStatus.LINKED:
                    continue
                if row.in_trash or not row.visible:
                    continue
                if link.error is not None:  # F12: in the error queue, with the CRM's message
                    assert link.error, "an error queue entry without the CRM's message"
                    continue
                deal = await uow.deals.get(link.pie_id)
                assert deal is not None, f"linked {link.pie_id} is gone from PIE"
                from pie.sync.store import from_model

                mine = from_model(RecordKind.DEAL, deal)
                theirs = self.crm.record(RecordKind.DEAL, link.external_id).fields
                assert mine == dict(theirs), f"not converged: {mine} != {dict(theirs)}"

    def _crm_pages(self, *, any_state: bool = False) -> list[str]:
        pages = [ext for ext, row in sorted(self.crm.rows.items()) if row.kind is RecordKind.DEAL]
        if any_state:
            return pages
        return [p for p in pages if self.crm.rows[p].visible and not self.crm.rows[p].in_trash]


def _ends_sync(c: Conflict) -> bool:
    """A record-level log row that ends the sync of a record (a trash, a delete; not the row
    of a duplicate page or of a record linked again)."""
    return c.field == RECORD and c.rule not in (*DUPLICATE_RULES, Rule.VISIBLE_AGAIN.value)


def _model(values: dict[str, Any]) -> dict[str, Any]:
    from tests.sync.harness import _model_value

    return {k: _model_value(k, v) for k, v in values.items()}


def machine_for(config: SyncConfig, **crm_options: Any) -> type[SyncMachine]:
    """The machine for an engine configuration (and fake CRM options); it ends every run
    with quiescence and the final checks."""

    class Machine(SyncMachine):
        pass

    Machine.config = config
    Machine.crm_options = crm_options
    original = Machine.teardown

    def teardown(self: SyncMachine) -> None:
        try:
            self.quiesce()
        finally:
            original(self)

    Machine.teardown = teardown  # type: ignore[method-assign]
    return Machine


__all__ = ["SyncMachine", "machine_for", "timedelta"]
