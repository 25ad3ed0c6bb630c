"""The baseline of bench/import_bench.py: dlt loading the same PIE JSON file, as a user who
picked dlt instead of PIE would.

What dlt gets: the file's ``accounts``, ``contacts`` and ``deals`` arrays as three resources,
each with ``primary_key="id"`` and ``write_disposition="merge"`` (so a re-run is idempotent,
like PIE's import). dlt's defaults do the rest: its normaliser infers the schema and unnests
the deals' nested lists into child tables (``deals__stage_history``, ``deals__stakeholders``,
``deals__activities`` and further lists inside those, such as ``deals__stakeholders__roles``),
flattens nested objects into columns, and its loader uses its default file format, worker
count and merge strategy (delete-insert through a staging dataset). Nothing is tuned, with one
exception: on SQLite dlt loads with one worker. SQLite has one writer at a time, so dlt's 20
parallel load jobs gain nothing there; they collide ("database is locked"), dlt retries them,
and on a busy machine the merge gives up after five retries and leaves the load unfinished.

Each engine gets a fresh pipeline folder in the temp folder; the re-run uses the same pipeline,
as a scheduled job would. The timer covers parsing the file (orjson, which dlt itself depends
on) and ``pipeline.run`` (extract, normalise, load), not creating the pipeline object.
Telemetry is off (this machine has no network), and dlt's log is quiet: a job that dlt retried
is counted instead.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("RUNTIME__LOG_LEVEL", "CRITICAL")

import dlt
import orjson
from dlt.common.pipeline import LoadInfo

#: The file's arrays, each a dlt resource (and root table) keyed on the record's id.
RESOURCES = ("accounts", "contacts", "deals")
DATASET = "pie_world"


@dataclass(frozen=True)
class DltRun:
    seconds: float
    rows: int  # rows dlt wrote, child tables included (not dlt's own state tables)
    tables: int
    retried_jobs: int


def world(data: dict[str, Any]) -> Any:
    """The file's records as a dlt source: one merge resource per array."""

    @dlt.source(name="pie_world")
    def source() -> Any:
        return [
            dlt.resource(data.get(name, []), name=name, primary_key="id", write_disposition="merge")
            for name in RESOURCES
        ]

    return source()


def _retried(info: LoadInfo) -> int:
    return sum(
        job.job_file_info.retry_count
        for package in info.load_packages
        for job in package.jobs.get("completed_jobs", [])
    )


class DltLoader:
    """One dlt pipeline into one destination, in its own temp folder; ``load`` may be called
    again for a re-run. ``workers``: dlt's load workers (None: its default)."""

    def __init__(self, destination: Any, name: str, *, workers: int | None = None) -> None:
        self._workers = workers
        self._dir = Path(tempfile.mkdtemp(prefix=f"pie_bench_dlt_{name}_"))
        self.pipeline = dlt.pipeline(
            pipeline_name=f"pie_bench_{name}",
            pipelines_dir=str(self._dir / "pipelines"),
            destination=destination,
            dataset_name=DATASET,
        )

    def load(self, path: Path) -> DltRun:
        if self._workers is not None:
            os.environ["LOAD__WORKERS"] = str(self._workers)  # dlt reads it when it loads
        try:
            with warnings.catch_warnings():
                # dlt's SQLAlchemy merge job trips SQLAlchemy's coercion warnings
                warnings.simplefilter("ignore")
                started = time.perf_counter()
                data = orjson.loads(path.read_bytes())
                info = self.pipeline.run(world(data))
                seconds = time.perf_counter() - started
        finally:
            os.environ.pop("LOAD__WORKERS", None)
        info.raise_on_failed_jobs()
        trace = self.pipeline.last_trace
        assert trace is not None and trace.last_normalize_info is not None
        counts = {
            table: rows
            for table, rows in trace.last_normalize_info.row_counts.items()
            if not table.startswith("_dlt")
        }
        return DltRun(seconds, sum(counts.values()), len(counts), _retried(info))

    def count(self, table: str) -> int:
        """Rows in one of the pipeline's tables (to check that a re-run duplicated nothing)."""
        with self.pipeline.sql_client() as client:
            name = client.make_qualified_table_name(table)
            rows = client.execute_sql(f"SELECT count(*) FROM {name}")
        assert rows is not None
        return int(rows[0][0])

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)


def postgres(database: str, *, host: str, port: int, user: str) -> Any:
    """dlt's PostgreSQL destination (psycopg2). The server trusts local connections; dlt insists
    on a password in the URL, so it gets a dummy one."""
    return dlt.destinations.postgres(
        credentials=f"postgresql://{user}:unused@{host}:{port}/{database}"
    )


#: dlt's load workers per engine (None: its default of 20). See the module's docstring.
WORKERS: dict[str, int | None] = {"postgresql": None, "sqlite": 1}


def sqlite(path: Path) -> Any:
    """dlt's SQLAlchemy destination on an SQLite file (each dataset is a file beside it)."""
    return dlt.destinations.sqlalchemy(credentials=f"sqlite:///{path}")
