"""Benchmark: a full Salesforce sync from the emulator into SQLite, against the emulator's own
serving rate for the same pages.

The emulator (``pie.sources.salesforce.emulator``, HTTPS on 127.0.0.1, 2,000 records a page)
holds a sample world of ``--deals`` opportunities (``pie.sample``, without conversations) with
their stage histories, contact roles, tasks and events, accounts and contacts. Timed:

* the sync: ``pie.sources.salesforce.sync.sync`` into a fresh migrated SQLite file, the real
  path (simple-salesforce, pages read ahead while earlier ones are mapped and stored, the
  sink's batches, cursors, commits). The SDK is imported before timing (a once-per-process
  cost of one to two seconds, not a sync's);
* the ceiling: the same SOQL queries the sync sent, replayed in the same run with a plain
  ``requests`` session (the same TLS), following ``nextRecordsUrl`` and decoding each page,
  nothing else: how fast the emulator serves those pages.

Records are the API records served (the same count for both), so the ratio is the ceiling's
seconds over the sync's. ``--breakdown`` also times, after the ceiling, the connector reading
the org alone (the same source, read ahead, no mapping, no store) and reading and mapping
(the pipeline's describe, digest and draft per record, no store): the rows between them say
what reading, mapping and storing each cost. The machine may be loaded by other work:
absolute numbers are unreliable, the ratio is what counts. Beside the wall-clock seconds the
table shows the CPU seconds of this process (all its threads: the sync's SQLite driver thread
too) and of the emulator's, and the ratio in CPU seconds, which the machine's load sways much
less.

    .venv/bin/python bench/connector_bench.py [--deals 300] [--seed 7] [--page-size 2000]
    .venv/bin/python bench/connector_bench.py --deals 100000     # the issue's size
    .venv/bin/python bench/connector_bench.py --deals 3000 --breakdown

Ends with one JSON line:
{"bench": "connector_salesforce", "value": sync rec/s, "unit": "records/s",
 "ratio": sync rate / serving rate, "target": 0.5, "ok": ...}. Exits 1 if the target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson
import requests
import simple_salesforce.api  # noqa: F401  (imported before timing: once per process, ~1-2 s)

from pie.adapters.db import migrate
from pie.adapters.db.engine import make_engine, make_sessions
from pie.adapters.db.tenants import SqlTenantDirectory
from pie.adapters.db.uow import SqlUnitOfWork
from pie.domain.stage_mapping import StageMapper
from pie.importing import pipeline
from pie.importing.draft import SeenIds
from pie.importing.mapping import MapContext
from pie.importing.mapping import salesforce as m
from pie.sources.salesforce.client import Credentials, SalesforceClient
from pie.sources.salesforce.connector import SalesforceSource
from pie.sources.salesforce.emulator import SalesforceEmulator
from pie.sources.salesforce.org import seeded_org
from pie.sources.salesforce.sync import sync

TARGET = 0.5


class RecordingClient(SalesforceClient):
    """Notes every query the sync sends (to replay them for the ceiling)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queries: list[tuple[str, bool]] = []

    def query(self, soql: str, *, include_deleted: bool = False) -> dict[str, Any]:
        self.queries.append((soql, include_deleted))
        return super().query(soql, include_deleted=include_deleted)


@dataclass(frozen=True)
class Served:
    """What the parent needs of the emulator serving in its own process."""

    url: str
    ca_file: str
    client_id: str
    client_secret: str
    refresh_token: str
    sizes: dict[str, int]

    def credentials(self) -> Credentials:
        return Credentials(
            client_id=self.client_id,
            client_secret=self.client_secret,
            refresh_token=self.refresh_token,
            login_url=self.url,
            ca_file=self.ca_file,
        )


@dataclass(frozen=True)
class Timed:
    """Wall seconds, and CPU seconds of this process (all its threads) and of the emulator's."""

    seconds: float
    cpu: float
    emulator_cpu: float


class Clock:
    """Wall and CPU time of this process and of the emulator (asked through the pipe)."""

    def __init__(self, pipe: Connection) -> None:
        self.pipe = pipe

    def _now(self) -> tuple[float, float, float]:
        self.pipe.send("cpu")
        emulator: float = self.pipe.recv()
        return time.perf_counter(), time.process_time(), emulator

    def time(self) -> Callable[[], Timed]:
        """Starts; the function returned stops and tells."""
        start = self._now()

        def stop() -> Timed:
            end = self._now()
            return Timed(*(b - a for a, b in zip(start, end, strict=True)))

        return stop


def serve_child(deals: int, seed: int, page_size: int, pipe: Connection) -> None:
    """The emulator in a process of its own (as the real API is another machine): seed, serve,
    tell the parent where, and stop when told."""
    org = seeded_org(deals, seed=seed)
    with SalesforceEmulator(org, page_size=page_size) as em:
        sizes = {k: len(v) for k, v in org.records.items()}
        assert em.ca_file is not None
        pipe.send(
            Served(em.url, em.ca_file, em.client_id, em.client_secret, em.refresh_token, sizes)
        )
        while pipe.recv() == "cpu":  # until "stop"
            pipe.send(time.process_time())


async def timed_sync(em: Served, folder: Path, clock: Clock) -> tuple[Timed, RecordingClient, Any]:
    url = f"sqlite+aiosqlite:///{folder / 'bench.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        sessions = make_sessions(engine)
        tenant = (await SqlTenantDirectory(sessions).create(f"bench-{uuid.uuid4().hex[:8]}")).tenant
        client = RecordingClient(em.credentials())
        source = SalesforceSource(client)
        stop = clock.time()
        result = await sync(SqlUnitOfWork(sessions, tenant.id, writes=True), source)
        timed = stop()
        if result.stopped or result.report.rejected_total:
            raise SystemExit(f"the sync did not go through: {result.stopped or result.report}")
        return timed, client, result
    finally:
        await engine.dispose()


async def timed_read(em: Served, clock: Clock, *, mapping: bool) -> Timed:
    """The connector reading the whole org (as the sync does, read ahead), each record also
    mapped as the pipeline maps it when ``mapping``; nothing stored."""
    source = SalesforceSource(SalesforceClient(em.credentials()))
    stages = StageMapper(source.name, {}, vendor="salesforce")
    mapper = m.api_mapper(MapContext(stages, SeenIds(), datetime.now(UTC), scope="in this run"))
    salt = pipeline.fingerprint("api", source.name, "salesforce", stages.fingerprint())
    stop = clock.time()
    async for raw in source.records({}):
        if mapping:
            mapper.describe(raw)
            pipeline.digest(raw, salt)
            mapper.draft(raw)
    return stop()


def replay(
    em: Served, queries: list[tuple[str, bool]], token: str, clock: Clock
) -> tuple[Timed, int]:
    """The same queries, pages followed, with a plain session: (time, records served)."""
    session = requests.Session()
    session.verify = em.ca_file
    session.trust_env = False
    headers = {"Authorization": f"Bearer {token}"}
    base = f"{em.url}/services/data/v62.0/"
    records = 0
    stop = clock.time()
    for soql, deleted in queries:
        answer = session.get(
            base + ("queryAll/" if deleted else "query/"), params={"q": soql}, headers=headers
        )
        while True:
            answer.raise_for_status()
            page = orjson.loads(answer.content)
            records += len(page["records"])
            if page.get("done", True):
                break
            answer = session.get(em.url + page["nextRecordsUrl"], headers=headers)
    return stop(), records


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deals", type=int, default=300, help="opportunities in the org")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--page-size", type=int, default=2000)
    parser.add_argument(
        "--breakdown", action="store_true", help="also time reading alone, and reading and mapping"
    )
    args = parser.parse_args()

    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(
        target=serve_child, args=(args.deals, args.seed, args.page_size, child), daemon=True
    )
    process.start()
    try:
        em: Served = parent.recv()
        print(f"org: {em.sizes} (seeded and served in {time.perf_counter() - started:.1f} s)")
        clock = Clock(parent)
        with tempfile.TemporaryDirectory(prefix="pie-connector-bench-") as folder:
            synced, client, result = asyncio.run(timed_sync(em, Path(folder), clock))
        assert client._sf is not None
        served, records = replay(em, client.queries, client._sf.session_id, clock)
        parts: list[tuple[str, Timed]] = []
        if args.breakdown:
            for what, mapping in (("reading only (no map, no store)", False),
                                  ("reading and mapping (no store)", True)):  # fmt: skip
                parts.append((what, asyncio.run(timed_read(em, clock, mapping=mapping))))
    finally:
        parent.send("stop")
        process.join(timeout=30)
    sync_rate, ceiling_rate = records / synced.seconds, records / served.seconds
    ratio = sync_rate / ceiling_rate
    stored = sum(c.created for c in result.report.counts.values())
    print(f"sync: {records:,} API records ({stored:,} records stored) in "
          f"{synced.seconds:.2f} s, {client.calls} API calls")  # fmt: skip
    print(f"{'what':<34} {'seconds':>8} {'records/s':>10} {'CPU s':>6} {'emu CPU':>7}")
    rows = [("full sync into SQLite", synced), ("emulator serving the same pages", served)]
    for what, timed in rows + parts:
        rate = records / timed.seconds
        print(f"{what:<34} {timed.seconds:>8.2f} {rate:>10,.0f} {timed.cpu:>6.2f} "
              f"{timed.emulator_cpu:>7.2f}")  # fmt: skip
    for what, timed in parts:
        print(f"  {what}: ratio {served.seconds / timed.seconds:.2f}")
    cpu_ratio = (served.cpu + served.emulator_cpu) / (synced.cpu + synced.emulator_cpu)
    print(f"ratio {ratio:.2f} (target >= {TARGET}); "
          f"the same in CPU seconds (the emulator's included): {cpu_ratio:.2f}")  # fmt: skip
    line = {
        "bench": "connector_salesforce",
        "value": round(sync_rate, 1),
        "unit": "records/s",
        "ratio": round(ratio, 3),
        "target": TARGET,
        "ok": ratio >= TARGET,
    }
    print(json.dumps(line))
    return 0 if line["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
