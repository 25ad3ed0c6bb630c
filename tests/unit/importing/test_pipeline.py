"""The pipeline with a resumable source: each batch commits with its cursor, a source that
fails mid-stream leaves the cursor at the last committed batch and names the record, and the
next run resumes from there."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from pie.domain.errors import InvalidInput, UnmappedStages
from pie.domain.model import EntityKind, derive_id
from pie.domain.stages import Stage
from pie.importing import import_source
from pie.importing.mapping import salesforce
from tests.fakes.source import FakePagingSource
from tests.fakes.uow import InMemoryStore, InMemoryUnitOfWork


def opportunity(i: int, stage: str = "Prospecting") -> dict[str, Any]:
    return {
        "attributes": {"type": "Opportunity", "url": f"/sobjects/Opportunity/006{i:05d}"},
        "Id": f"006{i:05d}",
        "Name": f"Deal {i}",
        "StageName": stage,
        "Amount": 1000.0 * i,
        "CloseDate": "2025-06-30",
        "CreatedDate": "2025-01-10T09:12:03.000+0000",
        "LastModifiedDate": f"2025-05-{i + 1:02d}T14:00:00.000+0000",
        "IsClosed": False,
        "IsWon": False,
        "AccountId": "001A",
        "Account": {"attributes": {"type": "Account"}, "Name": "Acme Corp"},
    }


OPPORTUNITIES = [opportunity(i) for i in range(1, 11)]


def deal_ids(store: InMemoryStore, tenant: UUID) -> set[UUID]:
    return set(store.tables_for(tenant).rows["deals"])


def expected(tenant: UUID, *numbers: int) -> set[UUID]:
    return {derive_id(tenant, EntityKind.DEAL, "fakecrm", f"006{i:05d}") for i in numbers}


async def test_each_batch_commits_with_its_cursor(store: InMemoryStore, tenant: UUID) -> None:
    source = FakePagingSource({"deals": OPPORTUNITIES})

    report = await import_source(
        InMemoryUnitOfWork(tenant, store),
        source,
        salesforce.mapper,
        vendor="salesforce",
        chunk_size=4,
    )

    assert report.count(EntityKind.DEAL).created == 10
    assert report.cursors == {"deals": "00000009"}
    assert store.commits == 3 + 1  # three batches (4, 4, 2), then the run's end
    async with InMemoryUnitOfWork(tenant, store) as uow:
        cursor = await uow.cursors.get("fakecrm", "deals")
    assert cursor is not None and cursor.value == "00000009"


async def test_a_source_failing_mid_stream_keeps_the_committed_batches_and_resumes(
    store: InMemoryStore, tenant: UUID
) -> None:
    failing = FakePagingSource({"deals": OPPORTUNITIES}, fail_after=6)

    with pytest.raises(InvalidInput) as err:
        await import_source(
            InMemoryUnitOfWork(tenant, store), failing, salesforce.mapper, chunk_size=4
        )

    # the record that failed: source, stream, where and id, and the reason
    assert err.value.source == "fake://fakecrm"
    assert err.value.record == "deals page 3, record 1 (id 00600007)"
    assert "500 Internal Server Error" in err.value.problem
    # records 1-4 were committed with their cursor; 5-6 were read but not committed
    assert deal_ids(store, tenant) == expected(tenant, 1, 2, 3, 4)
    async with InMemoryUnitOfWork(tenant, store) as uow:
        cursor = await uow.cursors.get("fakecrm", "deals")
    assert cursor is not None and cursor.value == "00000003"

    healthy = FakePagingSource({"deals": OPPORTUNITIES})
    report = await import_source(
        InMemoryUnitOfWork(tenant, store), healthy, salesforce.mapper, chunk_size=4
    )

    assert healthy.since_seen == [{"deals": "00000003"}]
    assert report.count(EntityKind.DEAL).created == 6  # 5-10: nothing read twice
    assert deal_ids(store, tenant) == expected(tenant, *range(1, 11))
    assert report.cursors == {"deals": "00000009"}


async def test_a_bad_record_fails_the_run_at_the_last_committed_batch(
    store: InMemoryStore, tenant: UUID
) -> None:
    records = [*OPPORTUNITIES[:5], {**OPPORTUNITIES[5], "CloseDate": "someday"}]
    source = FakePagingSource({"deals": records})

    with pytest.raises(InvalidInput) as err:
        await import_source(
            InMemoryUnitOfWork(tenant, store), source, salesforce.mapper, chunk_size=2
        )

    assert (err.value.record, err.value.field) == (
        "deals page 2, record 3 (id 00600006)",
        "CloseDate",
    )
    assert deal_ids(store, tenant) == expected(tenant, 1, 2, 3, 4)


async def test_skip_bad_rows_lists_the_record_and_moves_the_cursor_past_it(
    store: InMemoryStore, tenant: UUID
) -> None:
    records = [*OPPORTUNITIES[:2], {**OPPORTUNITIES[2], "Amount": -5}, *OPPORTUNITIES[3:4]]
    source = FakePagingSource({"deals": records})

    report = await import_source(
        InMemoryUnitOfWork(tenant, store), source, salesforce.mapper, skip_bad_rows=True
    )

    assert [(r.record_id, r.field) for r in report.rejected] == [("00600003", "Amount")]
    assert report.cursors == {"deals": "00000003"}
    assert deal_ids(store, tenant) == expected(tenant, 1, 2, 4)


async def test_unmapped_stages_stop_the_writes_after_the_committed_batches(
    store: InMemoryStore, tenant: UUID
) -> None:
    records = [*OPPORTUNITIES[:4], opportunity(5, stage="Legal Review"), *OPPORTUNITIES[5:]]
    source = FakePagingSource({"deals": records})

    with pytest.raises(UnmappedStages) as err:
        await import_source(
            InMemoryUnitOfWork(tenant, store), source, salesforce.mapper, chunk_size=2
        )

    assert err.value.names == ("Legal Review",)
    assert deal_ids(store, tenant) == expected(tenant, 1, 2, 3, 4)
    async with InMemoryUnitOfWork(tenant, store) as uow:
        cursor = await uow.cursors.get("fakecrm", "deals")
    assert cursor is not None and cursor.value == "00000003"


async def test_stage_names_map_with_the_vendor_defaults(store: InMemoryStore, tenant: UUID) -> None:
    source = FakePagingSource({"deals": [opportunity(1, stage="Negotiation/Review")]})
    await import_source(
        InMemoryUnitOfWork(tenant, store), source, salesforce.mapper, vendor="salesforce"
    )
    (deal,) = store.tables_for(tenant).rows["deals"].values()
    assert deal.stage is Stage.NEGOTIATION


def task(ext: str, opportunity: str) -> dict[str, Any]:
    return {
        "attributes": {"type": "Task"},
        "Id": ext,
        "WhatId": opportunity,
        "Subject": f"Call about {opportunity}",
        "CreatedDate": "2025-02-01T10:00:00.000+0000",
        "LastModifiedDate": "2025-02-01T10:00:00.000+0000",
    }


class CountingResolves(InMemoryUnitOfWork):
    """The fake unit of work, counting its store look-ups of external ids."""

    resolves = 0

    async def __aenter__(self) -> CountingResolves:
        await super().__aenter__()
        resolve = self.refs.resolve

        async def counted(*args: Any, **kwargs: Any) -> dict[str, UUID]:
            self.resolves += 1
            return await resolve(*args, **kwargs)

        self.refs.resolve = counted  # type: ignore[method-assign]
        return self


async def test_a_first_load_finds_the_records_of_earlier_batches_without_asking_the_store(
    store: InMemoryStore, tenant: UUID
) -> None:
    tasks = [task(f"00T{i}", f"006{i:05d}") for i in range(1, 4)]
    source = FakePagingSource({"deals": OPPORTUNITIES, "tasks": tasks})
    uow = CountingResolves(tenant, store)

    report = await import_source(uow, source, salesforce.api_mapper, chunk_size=2)

    assert report.count(EntityKind.ACTIVITY).created == 3
    assert uow.resolves == 0  # nothing of this source was stored before
    activities = store.tables_for(tenant).rows["activities"].values()
    assert {a.deal_id for a in activities} == expected(tenant, 1, 2, 3)

    more = FakePagingSource({"tasks": [*tasks, task("00T4", "00600004")]})  # one more
    later = CountingResolves(tenant, store)
    again = await import_source(later, more, salesforce.api_mapper)
    assert again.count(EntityKind.ACTIVITY).created == 1
    assert later.resolves > 0  # the store holds this source's records now


async def test_after_a_batch_deleted_a_record_later_batches_no_longer_find_it(
    store: InMemoryStore, tenant: UUID
) -> None:
    source = FakePagingSource(
        {
            "deals": OPPORTUNITIES[:2],
            "deleted:Opportunity": [{"Id": "00600001"}],
            "tasks": [task("00T1", "00600001"), task("00T2", "00600002")],
        }
    )

    report = await import_source(
        InMemoryUnitOfWork(tenant, store),
        source,
        salesforce.api_mapper,
        chunk_size=1,
        skip_bad_rows=True,
    )

    assert report.deleted == {EntityKind.DEAL: 1}
    assert [(r.record_id, r.field) for r in report.rejected] == [("00T1", "WhatId")]
    assert report.count(EntityKind.ACTIVITY).created == 1
    assert deal_ids(store, tenant) == expected(tenant, 2)
