"""The pipeline forecast's deal rows (``forecast pipeline --deals``) over the in-memory store."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import pytest

from pie.importing import import_file
from pie.sample import generate
from pie.services.simulation import forecast_pipeline
from tests.fakes.uow import InMemoryStore, InMemoryUnitOfWork


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pipeline") / "world.json"
    generate(out, deals=300, seed=4, conversations=False)
    return out


async def test_deals_open_at_as_of_are_listed_with_their_refs_also_when_closed_since(
    sample: Path,
) -> None:
    store, tenant = InMemoryStore(), uuid4()
    await import_file(InMemoryUnitOfWork(tenant, store), sample)
    async with InMemoryUnitOfWork(tenant, store) as uow:
        deals = {d.id: d async for batch in uow.deals.iter_all() for d in batch}
    closed = sorted(d.closed_at for d in deals.values() if d.closed_at is not None)
    as_of = closed[len(closed) // 2]  # many of today's closed deals were open then

    out = await forecast_pipeline(
        InMemoryUnitOfWork(tenant, store), runs=200, as_of=as_of, deals=True
    )

    assert out.deals is not None
    assert len(out.deals) == out.periods[0].open_deals > 0
    for row in out.deals:
        deal = deals[row.deal_id]
        ((source, external),) = deal.external_ids.items()
        assert (row.ref, row.name) == (f"{source}:{external}", deal.name)
        assert deal.created_at <= as_of
    assert any(deals[row.deal_id].closed_at is not None for row in out.deals)
