"""Benchmark: mining, the pipeline forecast, the back-test and a warm single-deal forecast as
the store grows (SQLite), with peak memory, growth exponents and the read floor.

For each size, a generated sample world (``pie.sample.generate`` without conversations) is
imported once into its own SQLite store; both are cached in ``--cache`` and reused by later
runs. Each size is then measured in a fresh child process (so its peak memory is its own):

* read: ``uow.columns.read()``: the same columns mining reads, nothing else;
* mine: read + the model with its calibration map + the directly-follows graph (what a cold
  ``pie mine`` does);
* pipeline: every open deal's state and the pipeline forecast (2,000 runs), on that model;
* pipeline deals: the rows ``--deals`` adds to it (each open deal read back by id), no target;
* backtest: three cutoffs (``default_cutoffs``), one read, every forecaster (2,000 runs);
* deal warm: ``forecast_deal`` of one open deal with a warm model cache (median of 5);
* peak: the child's peak RSS right after mining, and at its end.

The floor is fetching the same columns with Python's C sqlite3 driver, converting nothing;
the ratio is mine / floor (all of mining, its own read included, against the bare fetch),
in wall time (the target) and in CPU time (this process's, every thread: steadier when other
jobs share the machine). Growth exponents are log(t2 / t1) / log(n2 / n1) between
consecutive sizes.

    .venv/bin/python bench/scale_bench.py                     # 2,000 and 10,000 deals (make
                                                              # bench: a few minutes)
    .venv/bin/python bench/scale_bench.py --large             # 10,000 and 100,000 (issue 12's
                                                              # targets; a first import of
                                                              # 100,000 takes 4-6 minutes)
    .venv/bin/python bench/scale_bench.py --large --million --build clone
                                                              # and 1,000,000, its store
                                                              # cloned from the 100,000 one
    .venv/bin/python bench/scale_bench.py --sizes 5000,20000  # any sizes

``--build clone`` makes every store larger than ``--clone-from`` (100,000) deals from that
one instead of importing a generated world: its tenant's records copied in SQL, each copy
with fresh ids and external ids (``clone_store``). The copies have the original's times,
values and stages, so the same distributions; what is timed is read, mine, forecast and
back-test on the store, never the import, so this only saves building the store (about 20
minutes for 1,000,000 deals against an estimated 45-60 for generating and importing them).
The store notes how it was made (``store-N-SEED.built``) and each row says it ("built").

Ends with one JSON line per target:
{"bench": NAME, "value": ..., "unit": ..., "ratio": ..., "target": ..., "ok": true|false}.
The machine may be shared: absolute times are then unreliable; ratios and exponents count.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from uuid import UUID

DEFAULT_SIZES = (2_000, 10_000)
LARGE_SIZES = (10_000, 100_000)
MILLION = 1_000_000
RUNS = 2_000
TARGET_RATIO = 3.0  # fit within 3x of the read floor
TARGET_GROWTH = 1.05
TARGET_WARM_MS = 50.0
TARGET_PEAK_MB_AT_1M = 2048.0
PROJECT_FROM = 100_000  # the memory at 1,000,000 deals is projected from this size up


def peak_mb() -> float:
    """This process's peak resident memory so far: VmHWM (reset at exec, unlike ru_maxrss,
    which a child inherits from the process it was forked from)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


#: the columns ``uow.columns.read()`` reads on SQLite (``adapters/db/columns.py``) for a tenant
#: alone in its store (the bench's), fetched raw, row by row, in the order the reader reads
#: them: the floor of any read. Deals, their accounts' industries, transitions and deal
#: stakeholders (with the ids and rowids their order needs) in stored order, by table scans;
#: the deals' external refs (their stream identities) from their covering index; activities'
#: deal and time from their (tenant, deal, time) index alone; the deals with objections (their
#: partial index); then every activity of the deals with objections. The reader sorts the
#: first four in numpy (not timed here), and has SQLite join some values before they reach
#: Python (activities' and stakeholders' ids and times, a transition's deal and time: docs/
#: scale.md, "Values joined by SQLite"); the floor stays the plain fetch of the same columns.
FLOOR_QUERIES = (
    "SELECT id, source, stage, created_at, closed_at, value, account_id, probability"
    " FROM deals WHERE +tenant_id = :t ORDER BY rowid",
    "SELECT id, industry FROM accounts WHERE +tenant_id = :t ORDER BY rowid",
    "SELECT entity_id, source, external_id FROM external_refs WHERE tenant_id = :t"
    " AND kind = 'deal' ORDER BY entity_id, source, external_id",
    "SELECT deal_id, from_stage, to_stage, at, days_in_from_stage, value, probability, rowid"
    " FROM stage_transitions WHERE +tenant_id = :t ORDER BY rowid",
    "SELECT deal_id, contact_id, created_at, (instr(roles, '\"champion\"') > 0) * 1"
    " + (instr(roles, '\"blocker\"') > 0) * 2, id FROM stakeholders WHERE deal_id IS NOT NULL"
    " AND +tenant_id = :t ORDER BY rowid",
    "SELECT deal_id, occurred_at FROM activities WHERE tenant_id = :t AND deal_id IS NOT NULL"
    " ORDER BY deal_id, occurred_at",
    "SELECT DISTINCT deal_id FROM activities WHERE tenant_id = :t AND deal_id IS NOT NULL"
    " AND json_array_length(objections) > 0",
)
#: the activities of the deals with objections (found by the last query), a chunk at a time
FLOOR_DETAILS = (
    "SELECT deal_id, occurred_at, participants, CASE WHEN json_array_length(objections) > 0"
    " THEN objections END FROM activities WHERE tenant_id = ? AND deal_id IN ({})"
    " ORDER BY deal_id, occurred_at, id"
)


def read_floor(store: Path, tenant: UUID) -> tuple[float, float]:
    """Seconds (wall, CPU) to run the reader's queries with the C driver, converting nothing."""
    import sqlite3

    from pie.adapters.db.columns import DETAIL_DEALS

    started, cpu = time.perf_counter(), time.process_time()
    noted: set[str] = set()
    with sqlite3.connect(store) as db:
        for query in FLOOR_QUERIES:
            cursor = db.execute(query, {"t": tenant.hex})
            while rows := cursor.fetchmany(10_000):
                if query is FLOOR_QUERIES[-1]:
                    noted.update([row[0] for row in rows])
        wanted = sorted(noted)
        for lo in range(0, len(wanted), DETAIL_DEALS):
            chunk = wanted[lo : lo + DETAIL_DEALS]
            query = FLOOR_DETAILS.format(", ".join("?" * len(chunk)))
            cursor = db.execute(query, [tenant.hex, *chunk])
            while cursor.fetchmany(10_000):
                pass
    return time.perf_counter() - started, time.process_time() - cpu


def prepare(
    size: int, cache: Path, seed: int, *, clone_from: int | None = None
) -> tuple[Path, UUID]:
    """The cached world file and SQLite store of ``size`` deals (made on first use). With
    ``clone_from``, a larger size is the store of ``clone_from`` deals cloned
    ``size // clone_from`` times (``clone_store``) instead of a generated world imported."""
    from pie.bootstrap import build, ensure_embedded_schema
    from pie.config import Settings
    from pie.importing import import_file
    from pie.sample import generate

    cache.mkdir(parents=True, exist_ok=True)
    world = cache / f"world-{size}-{seed}.json"
    store = cache / f"store-{size}-{seed}.db"
    marker = cache / f"store-{size}-{seed}.tenant"
    if marker.exists() and store.exists():
        return store, UUID(marker.read_text().strip())
    if clone_from is not None and size > clone_from:
        if size % clone_from:
            raise SystemExit(f"--build clone: {size:,} is not a multiple of {clone_from:,}")
        source, tenant = prepare(clone_from, cache, seed)
        started = time.perf_counter()
        clone_store(source, tenant, store, size // clone_from)
        log(f"cloned {clone_from:,} deals to {size:,} in {time.perf_counter() - started:.0f} s")
        built(store).write_text(f"{size // clone_from} copies of {clone_from:,} imported deals\n")
        marker.write_text(str(tenant))
        return store, tenant
    built(store).unlink(missing_ok=True)
    if not world.exists():
        started = time.perf_counter()
        generate(world, deals=size, seed=seed, conversations=False)
        log(f"generated {size:,} deals in {time.perf_counter() - started:.0f} s")
    store.unlink(missing_ok=True)
    settings = Settings(data_dir=cache, database_url=f"sqlite+aiosqlite:///{store}")
    ensure_embedded_schema(settings)

    async def load() -> UUID:
        container = build(settings)
        try:
            tenant = (await container.tenants.create(f"scale-{size}")).tenant.id
            await import_file(container.uow(tenant, writes=True), world)
            return tenant
        finally:
            await container.aclose()

    started = time.perf_counter()
    tenant = asyncio.run(load())
    log(f"imported {size:,} deals in {time.perf_counter() - started:.0f} s")
    marker.write_text(str(tenant))
    return store, tenant


#: the tables a clone copies (every table mining, forecasting and back-testing read, plus
#: accounts and contacts), each with its columns that hold the id of a cloned row
CLONED: dict[str, tuple[str, ...]] = {
    "accounts": ("id",),
    "contacts": ("id", "account_id"),
    "deals": ("id", "account_id"),
    "activities": ("id", "deal_id", "account_id"),
    "stage_transitions": ("id", "deal_id", "trigger_activity_id"),
    "stakeholders": ("id", "account_id", "deal_id", "contact_id"),
    "external_refs": ("entity_id",),
}


#: a copy's version digit in its ids: any hex digit but 5, the originals'
COPY_DIGITS = "012346789abcdef"


def clone_store(source: Path, tenant: UUID, dest: Path, copies: int) -> None:
    """``dest``: the store ``source`` with its tenant's records ``copies`` times over.

    Copy ``k`` (1 .. copies - 1) of a row gets the ids of its row and of every row it refers to
    with the UUID's version digit (``5``: every id PIE derives is a version-5 UUID) replaced by
    the copy's own digit (ids, foreign keys and an activity's participants alike, so every
    reference stays inside its copy and no two ids of a table can meet), and every external id
    gets ``~k`` appended (each deal has its own stream identity). Everything else, times, values,
    stages, texts, is the original's: the copies have the original's distributions. Not copied:
    the change feed, versions and model cache (mining reads none of them); the model cache of
    the tenant is emptied, so nothing fitted on the source is reused. The source is not changed.
    """
    import shutil
    import sqlite3

    if not 1 <= copies <= len(COPY_DIGITS) + 1:
        raise ValueError(f"copies must be between 1 and {len(COPY_DIGITS) + 1}")
    with sqlite3.connect(source) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    partial = dest.with_name(dest.name + ".partial")
    shutil.copyfile(source, partial)
    db = sqlite3.connect(partial, isolation_level=None)
    try:
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-2000000"):
            db.execute(f"PRAGMA {pragma}")
        t = tenant.hex
        last = {
            table: db.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0] or 0
            for table in CLONED
        }
        for k in range(1, copies):
            started = time.perf_counter()
            db.execute("BEGIN")
            for table, ids in CLONED.items():
                names = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
                values = []
                for name in names:
                    if name in ids:
                        values.append(f"substr({name}, 1, 12) || :k || substr({name}, 14)")
                    elif table == "activities" and name == "participants":
                        values.append(
                            "(SELECT json_group_array(substr(value, 1, 14) || :k"
                            " || substr(value, 16))"
                            " FROM json_each(participants))"
                        )
                    elif table == "external_refs" and name == "external_id":
                        values.append("external_id || '~' || :k")
                    else:
                        values.append(name)
                db.execute(
                    f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(values)}"
                    f" FROM {table} WHERE tenant_id = :t AND rowid <= :last ORDER BY rowid",
                    {"k": COPY_DIGITS[k - 1], "t": t, "last": last[table]},
                )
            db.execute("COMMIT")
            log(f"clone {k}/{copies - 1} in {time.perf_counter() - started:.0f} s")
        db.execute("DELETE FROM model_cache WHERE tenant_id = :t", {"t": t})
        db.execute("PRAGMA journal_mode=WAL")
    finally:
        db.close()
    partial.replace(dest)


def built(store: Path) -> Path:
    """The note of how a cloned store was made (absent for an imported one)."""
    return store.with_suffix(".built")


def progress(out: dict[str, Any]) -> None:
    """A measuring child's figures so far, on stderr (shown as they come: a long run that is
    stopped still leaves its finished steps)."""
    log(f"  so far: {json.dumps({k: round(v, 3) for k, v in out.items()})}")


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def measure(store: Path, tenant: UUID, runs: int) -> dict[str, Any]:
    """Every timing of one size, in this (fresh) process."""
    from pie.bootstrap import build, ensure_embedded_schema
    from pie.config import Settings
    from pie.mining.dfg import discover_dfg
    from pie.services import simulation as svc
    from pie.services.model_cache import ModelCache
    from pie.services.process import event_log
    from pie.services.world import World, fit_model, snapshot
    from pie.simulation.pipeline import parse_period, pipeline_forecast_by_deal
    from pie.simulation.streams import generator

    settings = Settings(data_dir=store.parent, database_url=f"sqlite+aiosqlite:///{store}")
    ensure_embedded_schema(settings)  # a store cached by an older PIE: its indexes brought up
    container = build(settings)
    out: dict[str, Any] = {"peak_start_mb": peak_mb()}
    read_floor(store, tenant)  # warm the file cache, as for every read after it
    floors = [read_floor(store, tenant) for _ in range(2)]
    out["floor_s"] = min(w for w, _ in floors)
    out["floor_cpu_s"] = min(c for _, c in floors)
    progress(out)
    try:
        uow = container.uow(tenant)
        started, cpu = time.perf_counter(), time.process_time()
        async with uow:
            deals = await uow.columns.read()
        out["read_s"] = time.perf_counter() - started
        out["read_cpu_s"] = time.process_time() - cpu
        out["peak_read_mb"] = peak_mb()
        out["deals"] = len(deals)
        out["transitions"] = int(deals.t_us.size)
        out["activities"] = int(deals.a_us.size)
        out["columns_mb"] = deals.nbytes / 2**20
        progress(out)
        del deals

        started, cpu = time.perf_counter(), time.process_time()
        async with uow:
            deals = await uow.columns.read()
        known, moment = snapshot(deals, None)
        model = fit_model(known, as_of=moment)
        discover_dfg(event_log(known))
        out["mine_s"] = time.perf_counter() - started
        out["mine_cpu_s"] = time.process_time() - cpu
        out["peak_mine_mb"] = peak_mb()
        progress(out)

        world = World(known, moment, model)
        periods = [parse_period(p) for p in svc.default_periods(moment)]
        started, cpu = time.perf_counter(), time.process_time()
        states = world.open_states()
        _, contributions = pipeline_forecast_by_deal(
            model, states, periods, as_of=moment, runs=runs, rng=generator(0)
        )
        out["pipeline_s"] = time.perf_counter() - started
        out["pipeline_cpu_s"] = time.process_time() - cpu
        out["open_deals"] = len(states)
        progress(out)

        started, cpu = time.perf_counter(), time.process_time()
        await svc._deal_rows(container.uow(tenant), world, periods, contributions)
        out["pipeline_deals_s"] = time.perf_counter() - started
        out["pipeline_deals_cpu_s"] = time.process_time() - cpu
        progress(out)
        del contributions

        started, cpu = time.perf_counter(), time.process_time()
        report = await svc.backtest_histories(deals, runs=runs)
        out["backtest_s"] = time.perf_counter() - started
        out["backtest_cpu_s"] = time.process_time() - cpu
        out["backtest_forecasts"] = report.model.pooled.n_forecast
        progress(out)
        del report, world, known, deals

        cache = ModelCache(keep_deals=0)
        deal_id = states[len(states) // 2].deal_id
        await svc.forecast_deal(container.uow(tenant), deal_id, cache=cache)  # warms the cache
        times, cpus = [], []
        for _ in range(5):
            started, cpu = time.perf_counter(), time.process_time()
            await svc.forecast_deal(container.uow(tenant), deal_id, cache=cache)
            times.append(time.perf_counter() - started)
            cpus.append(time.process_time() - cpu)
        out["deal_warm_ms"] = statistics.median(times) * 1000
        out["deal_warm_cpu_ms"] = statistics.median(cpus) * 1000
        times, cpus = [], []
        for _ in range(5):
            started, cpu = time.perf_counter(), time.process_time()
            await svc.simulate_deal(container.uow(tenant), deal_id, cache=cache)
            times.append(time.perf_counter() - started)
            cpus.append(time.process_time() - cpu)
        out["deal_sim_warm_ms"] = statistics.median(times) * 1000
        out["deal_sim_warm_cpu_ms"] = statistics.median(cpus) * 1000
        out["fits"] = cache.fits
        out["peak_end_mb"] = peak_mb()
    finally:
        await container.aclose()
    return out


def exponent(n1: int, t1: float, n2: int, t2: float) -> float:
    return math.log(max(t2, 1e-9) / max(t1, 1e-9)) / math.log(n2 / n1)


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'deals':>9} {'floor s':>7} {'read s':>7} {'mine s':>7} {'pipe s':>7} {'back s':>7} "
        f"{'deal ms':>7} {'sim ms':>6} {'mine MB':>7} {'mine/floor':>10}"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"{r['deals']:>9,} {r['floor_s']:>7.2f} {r['read_s']:>7.2f} {r['mine_s']:>7.2f} "
            f"{r['pipeline_s']:>7.2f} {r['backtest_s']:>7.2f} {r['deal_warm_ms']:>7.1f} "
            f"{r['deal_sim_warm_ms']:>6.1f} {r['peak_mine_mb']:>7.0f} "
            f"{r['mine_s'] / r['floor_s']:>5.2f} {r['mine_cpu_s'] / r['floor_cpu_s']:>4.2f}"
        )
    lines.append("(mine/floor: wall, then CPU)")
    steps = (
        "floor_s",
        "read_s",
        "mine_s",
        "pipeline_s",
        "pipeline_deals_s",
        "backtest_s",
        "deal_warm_ms",
    )
    for a, b in itertools.pairwise(rows):
        growth = "  ".join(
            f"{s.removesuffix('_s').removesuffix('_ms')} "
            f"{exponent(a['deals'], a[s], b['deals'], b[s]):.2f}"
            + (
                f" (CPU {exponent(a['deals'], a[c], b['deals'], b[c]):.2f})"
                if c in a and c in b
                else ""
            )
            for s in steps
            for c in [s.replace("_s", "_cpu_s").replace("_ms", "_cpu_ms")]
        )
        lines.append(f"growth {a['deals']:,} -> {b['deals']:,}: {growth}")
    return "\n".join(lines)


def verdicts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    last = rows[-1]
    ratio = last["mine_s"] / last["floor_s"]
    out = [
        {
            "bench": "scale_fit_vs_read_floor",
            "value": round(ratio, 3),
            "unit": "x",
            "ratio": round(ratio, 3),
            "target": TARGET_RATIO,
            "ok": ratio <= TARGET_RATIO,
            "deals": last["deals"],
            "cpu_ratio": round(last["mine_cpu_s"] / last["floor_cpu_s"], 3),
        },
        {
            "bench": "scale_deal_forecast_warm",
            "value": round(last["deal_warm_ms"], 2),
            "unit": "ms",
            "ratio": round(last["deal_warm_ms"] / TARGET_WARM_MS, 3),
            "target": TARGET_WARM_MS,
            "ok": last["deal_warm_ms"] <= TARGET_WARM_MS,
            "deals": last["deals"],
            "cpu_ms": round(last["deal_warm_cpu_ms"], 2),
        },
        {
            "bench": "scale_deal_simulate_warm",
            "value": round(last["deal_sim_warm_ms"], 2),
            "unit": "ms",
            "ratio": round(last["deal_sim_warm_ms"] / TARGET_WARM_MS, 3),
            "target": TARGET_WARM_MS,
            "ok": last["deal_sim_warm_ms"] <= TARGET_WARM_MS,
            "deals": last["deals"],
            "cpu_ms": round(last["deal_sim_warm_cpu_ms"], 2),
        },
    ]
    # peak memory of mining at 1,000,000 deals: measured there, else projected linearly
    # from the two largest sizes when the largest is 100,000 or more (below, the process's
    # fixed memory, libraries loaded on first use, swamps the per-deal slope)
    peak: float | None = None
    if last["deals"] >= MILLION:
        peak, how = last["peak_mine_mb"], "measured"
    elif len(rows) >= 2 and last["deals"] >= PROJECT_FROM:
        a = rows[-2]
        slope = (last["peak_mine_mb"] - a["peak_mine_mb"]) / (last["deals"] - a["deals"])
        peak = last["peak_mine_mb"] + slope * (MILLION - last["deals"])
        how = f"projected linearly from {a['deals']:,} and {last['deals']:,} deals"
    if peak is not None:
        out.append(
            {
                "bench": "scale_mine_peak_memory_1m",
                "value": round(peak),
                "unit": "MB",
                "ratio": round(peak / TARGET_PEAK_MB_AT_1M, 3),
                "target": TARGET_PEAK_MB_AT_1M,
                "ok": peak <= TARGET_PEAK_MB_AT_1M,
                "how": how,
            }
        )
    if len(rows) >= 2:
        a, b = rows[-2], rows[-1]
        for step in ("mine_s", "pipeline_s", "backtest_s"):
            g = exponent(a["deals"], a[step], b["deals"], b[step])
            cpu = step.replace("_s", "_cpu_s")
            out.append(
                {
                    "bench": f"scale_growth_{step.removesuffix('_s')}",
                    "value": round(g, 3),
                    "unit": "exponent",
                    "ratio": round(g / TARGET_GROWTH, 3),
                    "target": TARGET_GROWTH,
                    "ok": g <= TARGET_GROWTH,
                    "between": [a["deals"], b["deals"]],
                    "cpu_value": (
                        round(exponent(a["deals"], a[cpu], b["deals"], b[cpu]), 3)
                        if cpu in a and cpu in b
                        else None
                    ),
                }
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=None, help="comma-separated deal counts")
    parser.add_argument(
        "--large", action="store_true", help="10,000 and 100,000 deals (issue 12's targets)"
    )
    parser.add_argument("--million", action="store_true", help="also 1,000,000 deals")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "pie-scale-bench")
    parser.add_argument(
        "--build",
        choices=("import", "clone"),
        default="import",
        help="how a store larger than --clone-from is made: its generated world imported, or"
        " the --clone-from store's records cloned (minutes instead of hours)",
    )
    parser.add_argument("--clone-from", type=int, default=100_000, help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=2, metavar=("STORE", "TENANT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = asyncio.run(measure(Path(args.child[0]), UUID(args.child[1]), args.runs))
        print(json.dumps(result))
        return
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else []
    if args.large:
        sizes.extend(s for s in LARGE_SIZES if s not in sizes)
    sizes = sizes or list(DEFAULT_SIZES)
    if args.million and MILLION not in sizes:
        sizes.append(MILLION)
    rows = []
    for size in sorted(sizes):
        clone_from = args.clone_from if args.build == "clone" else None
        store, tenant = prepare(size, args.cache, args.seed, clone_from=clone_from)
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                str(store),
                str(tenant),
                "--runs",
                str(args.runs),
            ],
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        )
        row = json.loads(child.stdout.strip().splitlines()[-1])
        note = built(store)
        row["built"] = note.read_text().strip() if note.exists() else "imported"
        log(f"{size:,} deals: {json.dumps(row)}")
        rows.append(row)
    print(table(rows))
    lines = verdicts(rows)
    for line in lines:
        print(json.dumps(line))
    if not all(line["ok"] for line in lines):
        sys.exit(1)


if __name__ == "__main__":
    main()
