"""Benchmark: pushing PIE's changes to Notion (the emulator, over real HTTP, through the real
Notion adapter and notion-client).

1,000 deals are synced out once (fast, not measured), then every deal gets several separate
field edits in PIE (stage, value, probability: three writes, three change-feed entries). One
sync run pushes them through the connection's rate limiter (``--rps``, default 10 requests a
second; Notion's real budget is about 3 and PIE's default 2.5, which only stretches the run).

Measured in the same run:

* requests per changed deal: the engine coalesces per record (target <= 1.05); the baseline
  is a naive engine that sends one request per field change from the change feed, run on
  ``--naive-deals`` other changed deals through the same limiter;
* wall time of the run against the rate-limit floor (changed deals / budget; target within
  10 %);
* the busiest second of requests the emulator received (every request counts: lookups,
  retries; target: the budget plus the limiter's burst of one, and no 429).

    .venv/bin/python bench/sync_bench.py [--deals 1000] [--rps 10] [--naive-deals 60]

Ends with one JSON line per bench:
{"bench": NAME, "value": ..., "unit": ..., "ratio": ..., "target": ..., "ok": true|false}.
The machine may be shared: absolute times are unreliable, the ratios are what count.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from pie.bootstrap import Container, build, ensure_embedded_schema
from pie.config import Settings
from pie.domain.crm_fields import RecordKind
from pie.domain.model import Deal, EntityKind
from pie.domain.ownership import PIE
from pie.domain.stages import Stage
from pie.ports.credentials import Secret
from pie.services import notion
from pie.sources.notion.emulator import NotionEmulator, RateBudget
from pie.sync.engine import RateLimiter, SyncConfig, SyncEngine, SystemClock

TOKEN = "secret_bench_sync_5e1f"
BOT = "5e1f0000-0000-4000-8000-0000000000be"
EDITS: tuple[tuple[str, Any], ...] = (
    ("stage", Stage.PROPOSAL),
    ("value", Decimal("4321.00")),
    ("probability", 0.42),
)


async def _add_deals(c: Container, tenant: UUID, n: int) -> list[UUID]:
    now = datetime.now(UTC)
    deals = [
        Deal(
            id=uuid4(),
            tenant_id=tenant,
            name=f"bench deal {i}",
            account_id=None,
            stage=Stage.DISCOVERY,
            value=Decimal("1000.00"),
            probability=0.1,
            created_at=now,
            updated_at=now,
        )
        for i in range(n)
    ]
    async with c.uow(tenant, writes=True) as uow:
        await uow.deals.upsert_many(deals, origin=PIE)
        await uow.commit()
    return [d.id for d in deals]


async def _edit(c: Container, tenant: UUID, ids: list[UUID]) -> None:
    """Each deal: three separate writes of one field each (three feed entries)."""
    for name, value in EDITS:
        async with c.uow(tenant, writes=True) as uow:
            for deal_id in ids:
                deal = await uow.deals.get(deal_id)
                assert deal is not None
                changed = dataclasses.replace(deal, **{name: value})
                await uow.deals.update(changed, origin=PIE, fields=frozenset({name}))
            await uow.commit()


async def _naive_push(c: Container, tenant: UUID, crm: Any, since: int, ids: set[UUID]) -> int:
    """The baseline: one request per field change on the feed (no coalescing)."""
    requests = 0
    async with c.uow(tenant) as uow:
        changes = await uow.changes.list(since=since, entity=EntityKind.DEAL, limit=10_000)
        links = {
            link.pie_id: link.external_id
            for link in await uow.sync.links("notion", RecordKind.DEAL)
        }
    for change in changes:
        if change.entity_id not in ids or change.origin != PIE:
            continue
        for name, (_, new) in change.fields.items():
            if name == "updated_at":
                continue
            # the engine's gate (its limiter) is still on the adapter: every request waits
            await crm.update_record(RecordKind.DEAL, links[change.entity_id], {name: new})
            requests += 1
    return requests


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp, NotionEmulator(tokens={TOKEN: BOT}) as emu:
        settings = Settings(data_dir=Path(tmp), notion_base_url=emu.url)
        ensure_embedded_schema(settings)
        c = build(settings)
        try:
            tenant = (await c.tenants.create("bench")).tenant.id
            ids = await _add_deals(c, tenant, args.deals + args.naive_deals)
            deps = c.notion_deps()
            await notion.setup(deps, tenant, emu.workspace.root_page_id, token=Secret(TOKEN))
            async with notion.crm(deps, tenant) as crm:
                fast = SyncEngine(
                    lambda: c.uow(tenant, writes=True),
                    crm,
                    config=SyncConfig(requests_per_second=10_000.0),
                )
                print(f"linking {len(ids)} deals ...", file=sys.stderr)
                while not (await fast.run_once()).idle:
                    pass
                async with c.uow(tenant) as uow:
                    before_edits = await uow.changes.latest()
                measured, baseline = ids[: args.deals], ids[args.deals :]
                await _edit(c, tenant, measured)
                print(f"{len(measured)} deals edited 3x; syncing ...", file=sys.stderr)
                config = SyncConfig(requests_per_second=args.rps)
                limiter = RateLimiter(config.requests_per_second, config.burst, SystemClock())
                engine = SyncEngine(
                    lambda: c.uow(tenant, writes=True), crm, config=config, limiter=limiter
                )
                # from now on the emulator enforces the budget too (429 beyond it)
                emu.budget = RateBudget(int(args.rps) + 1, 1.0, emu.monotonic)
                seen = len(emu.log)
                started = time.perf_counter()
                report = await engine.run_once()
                wall = time.perf_counter() - started
                requests = len(emu.log) - seen
                busiest = _busiest_second([r.at for r in emu.log[seen:]])
                throttled = sum(1 for r in emu.log[seen:] if r.status == 429)
                assert report.pushed == len(measured) and not report.errors, report
                # the baseline, in the same run, through the same limiter
                async with c.uow(tenant) as uow:
                    since = await uow.changes.latest()
                await _edit(c, tenant, baseline)
                naive = await _naive_push(c, tenant, crm, since, set(baseline))
                del before_edits
        finally:
            await c.aclose()
    per_deal = requests / len(measured)
    naive_per_deal = naive / max(1, len(baseline))
    floor = len(measured) / args.rps
    return [
        {
            "bench": "sync_requests_per_changed_deal",
            "value": round(per_deal, 4),
            "unit": "requests/deal",
            "ratio": round(per_deal / naive_per_deal, 4),
            "target": 1.05,
            "ok": per_deal <= 1.05,
            "naive_requests_per_deal": round(naive_per_deal, 4),
            "changed_deals": len(measured),
            "requests": requests,
            "crm": "notion emulator over HTTP",
        },
        {
            "bench": "sync_wall_vs_rate_floor",
            "value": round(wall, 2),
            "unit": "s",
            "ratio": round(wall / floor, 4),
            "target": 1.10,
            "ok": wall / floor <= 1.10,
            "floor_s": round(floor, 2),
            "requests_per_second": args.rps,
        },
        {
            # the budget, checked on the requests Notion received (lookups and retries too)
            "bench": "sync_busiest_second",
            "value": busiest,
            "unit": "requests/s",
            "ratio": round(busiest / (args.rps + 1), 4),
            "target": args.rps + 1,  # the rate plus the limiter's burst of one
            "ok": busiest <= args.rps + 1 and throttled == 0,
            "throttled": throttled,
            "engine_counted": report.requests,
            "received": requests,
        },
    ]


def _busiest_second(times: list[float]) -> int:
    """The most requests received within any one second."""
    most, start = 0, 0
    for end, at in enumerate(times):
        while times[start] <= at - 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deals", type=int, default=1000)
    parser.add_argument("--rps", type=float, default=10.0)
    parser.add_argument("--naive-deals", type=int, default=60)
    args = parser.parse_args()
    lines = asyncio.run(main_async(args))
    for line in lines:
        print(json.dumps(line))
    if not all(line["ok"] for line in lines):
        sys.exit(1)


if __name__ == "__main__":
    main()
