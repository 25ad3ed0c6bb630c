"""Deletes that come from a source, on the fake, SQLite and PostgreSQL: a deleted record takes
its external ref along (``external_refs`` holds live records only), reading the same delete
again changes nothing, and ``refs.of_source`` lists exactly the records a source has."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from pie.domain.model import EntityKind
from pie.importing import import_source
from pie.importing.mapping import salesforce as m
from pie.importing.report import ImportReport
from tests.contract.test_repositories import Store, store
from tests.fakes.source import FakePagingSource

__all__ = ["store"]
SOURCE = "salesforce"
AT = {"CreatedDate": "2025-01-10T09:12:03.000+0000"}


def account(ident: str, name: str) -> dict[str, Any]:
    return {"Id": ident, "Name": name, **AT}


async def _run(
    store: Store, t: UUID, records: Mapping[str, Sequence[dict[str, Any]]]
) -> ImportReport:
    source = FakePagingSource(records, name=SOURCE)
    return await import_source(store.uow(t), source, m.api_mapper, vendor=SOURCE)


async def _of_source(store: Store, t: UUID, kind: EntityKind) -> dict[str, UUID]:
    async with store.uow(t) as uow:
        return await uow.refs.of_source(kind, SOURCE)


async def test_a_deleted_record_leaves_no_ref_and_a_second_delete_is_a_no_op(
    store: Store,
) -> None:
    t = await store.tenant()
    await _run(
        store,
        t,
        {
            m.ACCOUNTS: [account("001A1", "Acme"), account("001A2", "Globex")],
            m.CONTACTS: [{"Id": "003C1", "LastName": "Ng", "AccountId": "001A1", **AT}],
        },
    )
    accounts = await _of_source(store, t, EntityKind.ACCOUNT)
    contacts = await _of_source(store, t, EntityKind.CONTACT)
    assert set(accounts) == {"001A1", "001A2"} and set(contacts) == {"003C1"}
    async with store.uow(t) as uow:
        seq = await uow.changes.latest()

    deletes = {
        "deleted:Contact": [{"Id": "003C1"}],
        "deleted:Account": [{"Id": "001A2"}, {"Id": "001NEVER"}],  # one never stored
    }
    report = await _run(store, t, deletes)

    assert report.deleted == {EntityKind.CONTACT: 1, EntityKind.ACCOUNT: 1}
    assert await _of_source(store, t, EntityKind.ACCOUNT) == {"001A1": accounts["001A1"]}
    assert await _of_source(store, t, EntityKind.CONTACT) == {}
    async with store.uow(t) as uow:
        assert await uow.refs.resolve(EntityKind.ACCOUNT, SOURCE, ["001A2", "001NEVER"]) == {}
        assert await uow.refs.for_entity(EntityKind.CONTACT, contacts["003C1"]) == []
        assert await uow.accounts.get(accounts["001A2"]) is None
        deleted = [(c.entity, c.entity_id, c.op) for c in await uow.changes.list(since=seq)]
        assert deleted == [
            (EntityKind.CONTACT, contacts["003C1"], "delete"),
            (EntityKind.ACCOUNT, accounts["001A2"], "delete"),
        ]
        seq = await uow.changes.latest()
        for stream in deletes:  # rewind: the next run reads the same deletes again
            await uow.cursors.save(SOURCE, stream, "-1")
        await uow.commit()

    again = await _run(store, t, deletes)

    assert again.deleted == {}
    assert await _of_source(store, t, EntityKind.ACCOUNT) == {"001A1": accounts["001A1"]}
    async with store.uow(t) as uow:
        assert await uow.changes.latest() == seq
        assert await uow.refs.resolve(EntityKind.ACCOUNT, SOURCE, ["001A2", "001NEVER"]) == {}


async def test_a_record_made_and_deleted_in_one_batch_leaves_no_ref(store: Store) -> None:
    """The refs of a batch are written before its deletes, so a record read alive and then
    deleted in the same run is gone with its ref."""
    t = await store.tenant()
    report = await _run(
        store,
        t,
        {
            m.ACCOUNTS: [account("001A1", "Acme"), account("001A2", "Globex")],
            "deleted:Account": [{"Id": "001A2"}],
        },
    )
    assert report.deleted == {EntityKind.ACCOUNT: 1}
    assert set(await _of_source(store, t, EntityKind.ACCOUNT)) == {"001A1"}
