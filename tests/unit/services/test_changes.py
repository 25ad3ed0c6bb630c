"""Paging through the change feed."""

from __future__ import annotations

import uuid

import pytest

from pie.domain.errors import InvalidInput
from pie.domain.model import EntityKind
from pie.services.changes import list_changes, parse_entity
from tests.contract import records as r
from tests.fakes.uow import InMemoryStore, InMemoryUnitOfWork


async def test_pages_follow_each_other_without_gaps_or_repeats() -> None:
    store, tenant = InMemoryStore(), uuid.uuid4()
    async with InMemoryUnitOfWork(tenant, store) as uow:
        await uow.accounts.upsert_many([r.account(tenant, name=f"a{i}") for i in range(5)])
        await uow.deals.upsert_many([r.deal(tenant, None) for _ in range(2)])
        await uow.commit()
    seen: list[int] = []
    since = 0
    while True:
        page = await list_changes(InMemoryUnitOfWork(tenant, store), since=since, limit=3)
        seen += [c.seq for c in page.changes]
        assert page.latest == 7
        if not page.more:
            break
        since = page.next_since
    assert seen == list(range(1, 8))
    deals = await list_changes(
        InMemoryUnitOfWork(tenant, store), entity=parse_entity("deal"), limit=10
    )
    assert [c.entity for c in deals.changes] == [EntityKind.DEAL] * 2
    empty = await list_changes(InMemoryUnitOfWork(tenant, store), since=7)
    assert (empty.changes, empty.next_since, empty.more) == ([], 7, False)


@pytest.mark.parametrize(("since", "limit"), [(-1, 10), (0, 0), (0, 10_000)])
async def test_bad_paging_is_refused(since: int, limit: int) -> None:
    with pytest.raises(InvalidInput):
        await list_changes(
            InMemoryUnitOfWork(uuid.uuid4(), InMemoryStore()), since=since, limit=limit
        )


def test_an_unknown_entity_is_named() -> None:
    with pytest.raises(InvalidInput, match="unknown entity 'dael'"):
        parse_entity("dael")
