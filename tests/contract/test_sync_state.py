"""The sync engine's state (``uow.sync``) on the fake, SQLite and PostgreSQL: it commits and
rolls back with the unit of work, links are unique per external id, base values are per
field, and a conflict is logged once per divergence."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from pie.domain.crm_fields import RecordKind
from pie.ports.sync import Conflict, ConnectionStatus, Link, LinkStatus, SyncState
from tests.contract.test_repositories import Store, store

__all__ = ["store"]
DEAL = RecordKind.DEAL


async def test_state_links_and_base_values_commit_with_the_unit_of_work(store: Store) -> None:
    t = await store.tenant()
    pie_id = uuid4()
    when = datetime(2026, 1, 5, 9, 3, tzinfo=UTC)
    async with store.uow(t) as uow:
        assert await uow.sync.state("notion") == SyncState()
        await uow.sync.save_state(
            "notion",
            SyncState(cursors={"deal": when.isoformat()}, outbox_seq=7, status=ConnectionStatus.OK),
        )
        await uow.sync.save_link("notion", Link(DEAL, pie_id, "page-1", remote_edited_time=when))
        await uow.sync.save_base("notion", DEAL, pie_id, {"stage": "demo", "value": None})
        await uow.commit()
    async with store.uow(t) as uow:
        await uow.sync.save_base("notion", DEAL, pie_id, {"stage": "lost in a rollback"})
    async with store.uow(t) as uow:
        state = await uow.sync.state("notion")
        assert state.outbox_seq == 7 and state.cursors == {"deal": when.isoformat()}
        assert state.status is ConnectionStatus.OK
        link = await uow.sync.link("notion", DEAL, pie_id)
        assert link is not None and link.external_id == "page-1"
        assert link.remote_edited_time == when
        assert await uow.sync.link_by_external("notion", DEAL, "page-1") == link
        assert await uow.sync.link("other", DEAL, pie_id) is None
        assert await uow.sync.base("notion", DEAL, pie_id) == {"stage": "demo", "value": None}
        await uow.sync.save_base("notion", DEAL, pie_id, {"value": 5.0})
        assert await uow.sync.base("notion", DEAL, pie_id) == {"stage": "demo", "value": 5.0}
        await uow.sync.save_link("notion", Link(DEAL, pie_id, "page-1", status=LinkStatus.TRASHED))
        assert [x.status for x in await uow.sync.links("notion", DEAL)] == [LinkStatus.TRASHED]


async def test_a_conflict_is_logged_once_per_divergence(store: Store) -> None:
    t = await store.tenant()
    pie_id = uuid4()
    c = Conflict(DEAL, pie_id, "page-1", "stage", "demo", "proposal", "negotiation", "crm", "r")
    async with store.uow(t) as uow:
        assert await uow.sync.log_conflicts("notion", [c]) == 1
        await uow.commit()
    async with store.uow(t) as uow:
        assert await uow.sync.log_conflicts("notion", [c]) == 0
        other = Conflict(DEAL, pie_id, "page-1", "stage", "demo", "proposal", "won", "crm", "r")
        assert await uow.sync.log_conflicts("notion", [other]) == 1
        await uow.commit()
    async with store.uow(t) as uow:
        logged = await uow.sync.conflicts("notion")
        assert [(x.local, x.remote) for x in logged] == [
            ("proposal", "negotiation"),
            ("proposal", "won"),
        ]
        assert logged[0].id < logged[1].id and logged[0].at is not None
        assert await uow.sync.count_conflicts("notion") == 2
        assert [x.remote for x in await uow.sync.conflicts("notion", after_id=logged[0].id)] == [
            "won"
        ]


async def test_the_bases_of_many_records_in_one_read(store: Store) -> None:
    t = await store.tenant()
    one, two, never = uuid4(), uuid4(), uuid4()
    async with store.uow(t) as uow:
        await uow.sync.save_base("notion", DEAL, one, {"stage": "demo"})
        await uow.sync.save_base("notion", DEAL, two, {"value": 2.5, "owner": None})
        await uow.sync.save_base("other", DEAL, never, {"stage": "lead"})
        got = await uow.sync.bases("notion", DEAL, [one, two, never])
    assert got == {one: {"stage": "demo"}, two: {"value": 2.5, "owner": None}}
