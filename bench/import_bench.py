"""Benchmark: importing a generated PIE JSON file into PostgreSQL and SQLite, against dlt.

The file is a generated sample world (``pie.sample.generate`` without conversations, 5,000
deals by default: about 115,000 records, the whole run a few minutes on 2 cores; the issue's
size is ``--deals 100000``; cached by seed and size in the temp folder). Each engine gets a
fresh migrated database (PostgreSQL: a new database migrated by the superuser and used through
a non-owner app role, so row-level security applies, as tests/dbfixtures.py does; SQLite: a
new file) and a tenant, then the real import path ``pie.importing.service.import_file(uow,
path)`` is timed, reading and validating the file included, with its defaults (on PostgreSQL
each 1,000-draft batch is written while the next ones are read, mapped, built and made ready
to write, up to two writes queued, in the one transaction; on SQLite, whose driver needs the
interpreter lock for every row, batches of 5,000 are written in turn), twice: the first load,
and the same file again (an unchanged re-run: nothing may change). Records are every stored record
(accounts, contacts, deals, stakeholders, activities, stage transitions; the external-id refs
the import also writes are not counted); rec/s = records / seconds.

Compared in the same run against:

* dlt (bench/baselines/dlt_load.py: the file's three arrays as merge resources keyed on
  ``id``, dlt's
  default normaliser and loader, a fresh pipeline folder), the tool a user would otherwise
  pick: into a new database on the same PostgreSQL server and into an SQLite file (dlt's
  SQLAlchemy destination), first load and unchanged re-run. dlt's rate is over the same
  records, so PIE/dlt is the ratio of the times;
* the floor: a naive ORM insert, one row at a time (``session.add`` + ``flush`` per row), of
  the same rows (ids renamed, then rolled back), timed on a sample of ``--floor-rows`` rows
  (every table represented, foreign keys closed) and extrapolated to rec/s;
* the ceiling (PostgreSQL): a raw binary COPY (asyncpg ``copy_records_to_table``) of all the
  same rows the import wrote (the records and their external_refs rows), as tuples read back
  and prepared before the timer starts, into unindexed tables with the same columns and no
  constraints, committed.

    .venv/bin/python bench/import_bench.py [--deals 5000] [--seed 7] [--floor-rows 5000]

Ends with one JSON line per measure:
{"bench": NAME, "value": ..., "unit": ..., "ratio": ..., "target": ..., "ok": true|false}.
``import_postgres``: ratio = COPY seconds / import seconds (the same rows), target 0.25;
``import_sqlite``: ratio = import rec/s / naive ORM rec/s, target 10;
``import_vs_dlt_{postgresql,sqlite}_{first,rerun}``: ratio = PIE rec/s / dlt rec/s, targets
1.5 (first load) and 3 (unchanged re-run). Exits 1 if any target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg  # type: ignore[import-untyped]
from baselines import dlt_load
from baselines.dlt_load import DltLoader, DltRun
from sqlalchemy import Table, func, select

from pie.adapters.db import migrate
from pie.adapters.db.engine import make_engine, make_sessions
from pie.adapters.db.tables import (
    AccountRow,
    ActivityRow,
    Base,
    ContactRow,
    DealRow,
    ExternalRefRow,
    StageTransitionRow,
    StakeholderRow,
)
from pie.adapters.db.tenants import SqlTenantDirectory
from pie.adapters.db.uow import SqlUnitOfWork, bind_tenant
from pie.importing.service import import_file
from pie.sample import generate

PG_HOST, PG_PORT, PG_SUPERUSER = "127.0.0.1", 5432, "postgres"
APP_ROLE = "pie_bench_app"
PG_TARGET = 0.25  # of the COPY ceiling
SQLITE_TARGET = 10.0  # times the naive ORM floor
DLT_FIRST_TARGET = 1.5  # PIE rec/s over dlt's, first load
DLT_RERUN_TARGET = 3.0  # PIE rec/s over dlt's, unchanged re-run

#: The stored records, in foreign-key order (activities before the transitions naming them).
MODELS: tuple[type[Base], ...] = (
    AccountRow,
    ContactRow,
    DealRow,
    StakeholderRow,
    ActivityRow,
    StageTransitionRow,
)
TABLES: tuple[Table, ...] = tuple(m.__table__ for m in MODELS)  # type: ignore[misc]
REFS: Table = ExternalRefRow.__table__  # type: ignore[assignment]
#: What the ceiling copies: the same rows the import writes, external-id refs included.
COPIED: tuple[Table, ...] = (*TABLES, REFS)
JSON_COLUMNS = {
    t.name: {c.name for c in t.c if c.type.__class__.__name__ == "JSON"} for t in TABLES
}


def pg_url(database: str, user: str = PG_SUPERUSER) -> str:
    return f"postgresql+asyncpg://{user}@{PG_HOST}:{PG_PORT}/{database}"


async def superuser(database: str = "postgres") -> Any:
    return await asyncpg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_SUPERUSER, database=database, timeout=10
    )


# --- setup --------------------------------------------------------------------------------------


def sample_file(deals: int, seed: int) -> Path:
    """The sample world for (deals, seed), generated once into the temp folder."""
    folder = Path(tempfile.gettempdir()) / "pie_import_bench"
    folder.mkdir(exist_ok=True)
    path = folder / f"sample-seed{seed}-deals{deals}.json"
    if not path.exists():
        started = time.perf_counter()
        partial = folder / f"partial-{uuid.uuid4().hex[:8]}.json"
        generate(partial, deals=deals, seed=seed, conversations=False)
        partial.replace(path)
        for extra in folder.glob(f"{partial.stem}.*"):
            extra.unlink()
        print(f"generated {path} in {time.perf_counter() - started:.1f} s")
    return path


async def create_postgres_database() -> str:
    """A new database ``pie_bench_<random>``, with the app role, as tests/dbfixtures.py makes
    them; migrated afterwards by the caller."""
    name = f"pie_bench_{uuid.uuid4().hex[:12]}"
    conn = await superuser()
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", APP_ROLE):
            with contextlib.suppress(asyncpg.DuplicateObjectError):
                await conn.execute(f'CREATE ROLE "{APP_ROLE}" LOGIN')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def drop_postgres_database(name: str) -> None:
    conn = await superuser()
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@dataclass
class Timed:
    engine: str
    what: str
    records: int
    seconds: float
    note: str = ""

    @property
    def rate(self) -> float:
        return self.records / self.seconds


# --- the import ---------------------------------------------------------------------------------


class _Timed:
    """A repository whose ``upsert_many``, ``add_many`` and ``resolve`` calls add to a stopwatch."""

    def __init__(self, repo: Any, clock: list[float]) -> None:
        self._repo, self._clock = repo, clock

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._repo, name)
        if name not in ("upsert_many", "add_many", "resolve"):
            return attr

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await attr(*args, **kwargs)
            finally:
                self._clock[0] += time.perf_counter() - started

        return timed


class _TimedBatch:
    """A record batch whose ``store`` adds to a stopwatch (``add`` makes the write ready in
    Python, beside the write in flight: not counted)."""

    def __init__(self, batch: Any, clock: list[float]) -> None:
        self._batch, self._clock = batch, clock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._batch, name)

    async def store(self) -> Any:
        started = time.perf_counter()
        try:
            return await self._batch.store()
        finally:
            self._clock[0] += time.perf_counter() - started


class StoreTimingUnitOfWork(SqlUnitOfWork):
    """The real unit of work; also adds up the time spent in the store calls the importer makes
    (``store`` of its record batches, ``upsert_many`` of every repository, ``refs.add_many``
    and ``refs.resolve``)."""

    store_seconds: list[float]

    def batch(self, *, origin: str) -> Any:
        return _TimedBatch(super().batch(origin=origin), self.store_seconds)

    async def __aenter__(self) -> StoreTimingUnitOfWork:
        await super().__aenter__()
        self.store_seconds = getattr(self, "store_seconds", [0.0])
        for name in ("accounts", "contacts", "deals", "stakeholders", "activities"):
            setattr(self, name, _Timed(getattr(self, name), self.store_seconds))
        self.transitions = _Timed(self.transitions, self.store_seconds)
        self.refs = _Timed(self.refs, self.store_seconds)
        return self


@dataclass
class PieRuns:
    first: Timed  # the first import into an empty tenant
    store: Timed  # the first import's store calls
    rerun: Timed  # the same file again: nothing changes
    tenant: UUID


async def pie_import(engine_name: str, url: str, path: Path) -> PieRuns:
    """The real import path, twice: into a new tenant, then the same file again."""
    engine = make_engine(url)
    try:
        sessions = make_sessions(engine)
        made = await SqlTenantDirectory(sessions).create(f"bench-{uuid.uuid4().hex[:10]}")
        tenant = made.tenant.id
        uow = StoreTimingUnitOfWork(sessions, tenant)
        started = time.perf_counter()
        report = await import_file(uow, path)
        seconds = time.perf_counter() - started
        if report.rejected or report.updated or report.unchanged:
            raise SystemExit(f"{engine_name}: unexpected import report {report}")
        stored = await count_records(sessions, tenant)
        if stored != report.created:
            raise SystemExit(f"{engine_name}: {stored} rows stored, report says {report.created}")
        started = time.perf_counter()
        again = await import_file(SqlUnitOfWork(sessions, tenant), path)
        rerun_seconds = time.perf_counter() - started
        if again.rejected or again.created or again.updated:
            raise SystemExit(f"{engine_name}: the unchanged re-run changed something: {again}")
        if await count_records(sessions, tenant) != stored:
            raise SystemExit(f"{engine_name}: the unchanged re-run added records")
        return PieRuns(
            Timed(engine_name, "PIE import_file (read + validate + store)", stored, seconds),
            Timed(
                engine_name,
                "  of which store calls (upsert_many, resolve)",
                stored,
                uow.store_seconds[0],
                note="the DB adapter's share of the import",
            ),
            Timed(engine_name, "PIE import_file, unchanged re-run", stored, rerun_seconds),
            tenant,
        )
    finally:
        await engine.dispose()


async def count_records(sessions: Any, tenant: UUID) -> int:
    async with sessions() as session:
        bind_tenant(session, tenant)
        stored = 0
        for table in TABLES:
            counted = await session.scalar(
                select(func.count()).select_from(table).where(table.c.tenant_id == tenant)
            )
            stored += int(counted or 0)
    return stored


# --- the baseline: dlt -------------------------------------------------------------------------


def dlt_runs(engine_name: str, destination: Any, path: Path, records: int) -> tuple[Timed, Timed]:
    """dlt's first load and unchanged re-run of the same file (see
    bench/baselines/dlt_load.py); rates are over the same records PIE stores, so the ratio is
    the ratio of the times."""
    loader = DltLoader(destination, engine_name, workers=dlt_load.WORKERS[engine_name])
    try:
        first = loader.load(path)
        counted = {table: loader.count(table) for table in ("deals", "deals__activities")}
        rerun = loader.load(path)
        if {table: loader.count(table) for table in counted} != counted:
            raise SystemExit(f"{engine_name}: dlt's re-run changed the row counts")
    finally:
        loader.close()

    def note(run: DltRun) -> str:
        retried = f", {run.retried_jobs} jobs retried" if run.retried_jobs else ""
        return f"dlt wrote {run.rows:,} rows into {run.tables} tables{retried}"

    return (
        Timed(
            engine_name, "dlt pipeline.run, merge (baseline)", records, first.seconds, note(first)
        ),
        Timed(
            engine_name, "dlt pipeline.run, unchanged re-run", records, rerun.seconds, note(rerun)
        ),
    )


# --- the rows, read back ------------------------------------------------------------------------


@dataclass
class Dump:
    """Every stored row of the tenant: per table, the column names and the rows as tuples
    (JSON columns as their text, as COPY takes them)."""

    columns: dict[str, list[str]]
    rows: dict[str, list[tuple[Any, ...]]]

    @property
    def total(self) -> int:
        """The stored records (external-id refs not counted)."""
        return sum(len(self.rows[t.name]) for t in TABLES)


async def dump_rows(database: str, tenant: UUID) -> Dump:
    conn = await superuser(database)
    try:
        columns: dict[str, list[str]] = {}
        rows: dict[str, list[tuple[Any, ...]]] = {}
        for table in COPIED:
            names = [c.name for c in table.c]
            columns[table.name] = names
            order = ", ".join(c.name for c in table.primary_key.columns)
            found = await conn.fetch(
                f"SELECT {', '.join(names)} FROM {table.name} WHERE tenant_id = $1"
                f" ORDER BY {order}",
                tenant,
            )
            rows[table.name] = [tuple(r) for r in found]
        return Dump(columns, rows)
    finally:
        await conn.close()


# --- the ceiling: raw COPY into unindexed tables ------------------------------------------------


async def copy_ceiling(database: str, dump: Dump) -> Timed:
    conn = await superuser(database)
    try:
        for table in COPIED:
            # the same columns and types, no constraints (not even NOT NULL), no indexes
            described = await conn.fetch(
                """
                SELECT a.attname, format_type(a.atttypid, a.atttypmod)
                FROM pg_attribute a
                WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
                ORDER BY a.attnum
                """,
                table.name,
            )
            cols = ", ".join(f"{name} {kind}" for name, kind in described)
            await conn.execute(f"DROP TABLE IF EXISTS bench_copy_{table.name}")
            await conn.execute(f"CREATE TABLE bench_copy_{table.name} ({cols})")
        started = time.perf_counter()
        async with conn.transaction():
            for table in COPIED:
                await conn.copy_records_to_table(
                    f"bench_copy_{table.name}",
                    records=dump.rows[table.name],
                    columns=dump.columns[table.name],
                )
        seconds = time.perf_counter() - started
        for table in COPIED:
            await conn.execute(f"DROP TABLE bench_copy_{table.name}")
        refs = len(dump.rows[REFS.name])
        return Timed(
            "postgresql",
            "COPY into unindexed tables (ceiling)",
            dump.total,
            seconds,
            note=f"the same rows: records plus {refs:,} external_refs rows",
        )
    finally:
        await conn.close()


# --- the floor: naive ORM, one row at a time ----------------------------------------------------


def floor_sample(dump: Dump, want: int) -> list[tuple[type[Base], dict[str, Any]]]:
    """About ``want`` rows of every kind, deal by deal with the accounts and contacts they
    refer to, in foreign-key order."""
    as_dicts: dict[str, list[dict[str, Any]]] = {}
    for table in TABLES:
        names, json_cols = dump.columns[table.name], JSON_COLUMNS[table.name]
        as_dicts[table.name] = [
            {n: json.loads(v) if n in json_cols else v for n, v in zip(names, row, strict=True)}
            for row in dump.rows[table.name]
        ]
    accounts = {r["id"]: r for r in as_dicts["accounts"]}
    contacts = {r["id"]: r for r in as_dicts["contacts"]}
    by_deal: dict[str, dict[Any, list[dict[str, Any]]]] = {}
    for name in ("stakeholders", "activities", "stage_transitions"):
        index: dict[Any, list[dict[str, Any]]] = {}
        for r in as_dicts[name]:
            index.setdefault(r["deal_id"], []).append(r)
        by_deal[name] = index
    picked: dict[str, dict[Any, dict[str, Any]]] = {t.name: {} for t in TABLES}

    def take(name: str, row: dict[str, Any]) -> None:
        picked[name].setdefault(row["id"], row)

    for deal in as_dicts["deals"]:
        if sum(len(p) for p in picked.values()) >= want:
            break
        if deal["account_id"] is not None:
            take("accounts", accounts[deal["account_id"]])
        for s in by_deal["stakeholders"].get(deal["id"], []):
            contact = contacts[s["contact_id"]]
            if contact["account_id"] is not None:
                take("accounts", accounts[contact["account_id"]])
            take("contacts", contact)
        take("deals", deal)
        for name in ("stakeholders", "activities", "stage_transitions"):
            for r in by_deal[name].get(deal["id"], []):
                take(name, r)
    return [(m, r) for m, t in zip(MODELS, TABLES, strict=True) for r in picked[t.name].values()]


def renamed(
    sample: Sequence[tuple[type[Base], dict[str, Any]]], tenant: UUID
) -> list[tuple[type[Base], dict[str, Any]]]:
    """The sample with fresh ids (references follow), owned by ``tenant``."""
    new_ids: dict[UUID, UUID] = {}
    out = []
    for model, row in sample:
        copy = dict(row)
        for k, val in row.items():
            if k == "tenant_id":
                copy[k] = tenant
            elif isinstance(val, UUID):
                copy[k] = new_ids.setdefault(val, uuid.uuid4())
        out.append((model, copy))
    return out


async def orm_floor(
    engine_name: str, url: str, tenant: UUID, sample: Sequence[tuple[type[Base], dict[str, Any]]]
) -> Timed:
    engine = make_engine(url)
    try:
        rows = renamed(sample, tenant)
        async with make_sessions(engine)() as session:
            bind_tenant(session, tenant)
            await session.connection()  # begin (and set the tenant) before the timer
            started = time.perf_counter()
            for model, row in rows:
                session.add(model(**row))
                await session.flush()
            seconds = time.perf_counter() - started
            await session.rollback()
        return Timed(
            engine_name,
            "naive ORM, add + flush per row (floor)",
            len(rows),
            seconds,
            note=f"timed on {len(rows):,} rows, extrapolated",
        )
    finally:
        await engine.dispose()


# --- main ---------------------------------------------------------------------------------------


def bench_line(name: str, rate: float, ratio: float, target: float) -> dict[str, Any]:
    return {
        "bench": name,
        "value": round(rate, 1),
        "unit": "records/s",
        "ratio": round(ratio, 3),
        "target": target,
        "ok": ratio >= target,
    }


def against_dlt(pie: PieRuns, dlt: tuple[Timed, Timed]) -> list[tuple[str, Timed, Timed, float]]:
    """(run, PIE, dlt, target) for the first load and the unchanged re-run."""
    return [
        ("first", pie.first, dlt[0], DLT_FIRST_TARGET),
        ("rerun", pie.rerun, dlt[1], DLT_RERUN_TARGET),
    ]


async def run(args: argparse.Namespace) -> int:
    path = sample_file(args.deals, args.seed)
    size_mb = path.stat().st_size / 1e6
    print(f"sample: {path.name} ({size_mb:,.0f} MB, {args.deals:,} deals, seed {args.seed})")
    results: list[Timed] = []

    database = await create_postgres_database()
    dlt_database = await create_postgres_database()
    sqlite_dir = Path(tempfile.mkdtemp(prefix="pie_import_bench_"))
    try:
        migrate.upgrade(pg_url(database), app_role=APP_ROLE)
        app_url = pg_url(database, APP_ROLE)
        pg = await pie_import("postgresql", app_url, path)
        results += [pg.first, pg.store, pg.rerun]
        print(f"postgresql PIE: {pg.first.records:,} records in {pg.first.seconds:.1f} s")
        dump = await dump_rows(database, pg.tenant)
        assert dump.total == pg.first.records
        ceiling = await copy_ceiling(database, dump)
        results.append(ceiling)
        sample = floor_sample(dump, args.floor_rows)
        pg_floor = await orm_floor("postgresql", app_url, pg.tenant, sample)
        results.append(pg_floor)
        dest = dlt_load.postgres(dlt_database, host=PG_HOST, port=PG_PORT, user=PG_SUPERUSER)
        pg_dlt = await asyncio.to_thread(dlt_runs, "postgresql", dest, path, pg.first.records)
        results += pg_dlt
        print(f"postgresql dlt: first load in {pg_dlt[0].seconds:.1f} s")

        sqlite_url = f"sqlite+aiosqlite:///{sqlite_dir / 'pie.db'}"
        migrate.upgrade(sqlite_url)
        lite = await pie_import("sqlite", sqlite_url, path)
        results += [lite.first, lite.store, lite.rerun]
        print(f"sqlite PIE: {lite.first.records:,} records in {lite.first.seconds:.1f} s")
        sqlite_floor = await orm_floor("sqlite", sqlite_url, lite.tenant, sample)
        results.append(sqlite_floor)
        dest = dlt_load.sqlite(sqlite_dir / "dlt.db")
        lite_dlt = await asyncio.to_thread(dlt_runs, "sqlite", dest, path, lite.first.records)
        results += lite_dlt
        print(f"sqlite dlt: first load in {lite_dlt[0].seconds:.1f} s")
    finally:
        await drop_postgres_database(database)
        await drop_postgres_database(dlt_database)
        shutil.rmtree(sqlite_dir, ignore_errors=True)

    print()
    print(f"{'engine':<11} {'what':<44} {'records':>10} {'seconds':>9} {'rec/s':>11}")
    for r in results:
        print(
            f"{r.engine:<11} {r.what:<44} {r.records:>10,} {r.seconds:>9.2f} {r.rate:>11,.0f}"
            + (f"  ({r.note})" if r.note else "")
        )
    pg_ratio = ceiling.seconds / pg.first.seconds  # the same rows both ways
    sqlite_ratio = lite.first.rate / sqlite_floor.rate
    print(
        f"\npostgresql store calls alone = {ceiling.seconds / pg.store.seconds:.1%} of raw COPY "
        f"({pg.store.seconds:.1f} of the import's {pg.first.seconds:.1f} s; the rest is "
        "reading, validating and mapping the file)"
    )
    print(
        f"postgresql import = {pg_ratio:.1%} of raw COPY, "
        f"{pg.first.rate / pg_floor.rate:.1f}x the naive ORM; "
        f"sqlite import = {sqlite_ratio:.1f}x the naive ORM"
    )

    lines = [
        bench_line("import_postgres", pg.first.rate, pg_ratio, PG_TARGET),
        bench_line("import_sqlite", lite.first.rate, sqlite_ratio, SQLITE_TARGET),
    ]
    print(f"\nPIE against dlt (merge on id), the same {pg.first.records:,} records:")
    print(f"{'engine':<11} {'load':<17} {'PIE rec/s':>10} {'dlt rec/s':>10} {'PIE/dlt':>8} target")
    for engine_name, pie, dlt in (("postgresql", pg, pg_dlt), ("sqlite", lite, lite_dlt)):
        for kind, ours, theirs, target in against_dlt(pie, dlt):
            ratio = ours.rate / theirs.rate
            load = "first load" if kind == "first" else "unchanged re-run"
            print(
                f"{engine_name:<11} {load:<17} {ours.rate:>10,.0f} {theirs.rate:>10,.0f} "
                f"{ratio:>7.2f}x {target:>5}x"
            )
            name = f"import_vs_dlt_{engine_name}_{kind}"
            lines.append(bench_line(name, ours.rate, ratio, target))
    print(f"(ceiling for context: raw COPY {ceiling.rate:,.0f} rec/s on postgresql)")
    for line in lines:
        print(json.dumps(line))
    return 0 if all(line["ok"] for line in lines) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--deals", type=int, default=5_000, help="sample size (the issue's: 100000)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--floor-rows", type=int, default=5_000)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
