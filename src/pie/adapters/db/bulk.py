"""The bulk idempotent write behind every ``upsert_many``.

PostgreSQL: each chunk is COPYed (binary) into a temporary staging table, then moved with one
``INSERT ... SELECT ... ON CONFLICT DO UPDATE ... WHERE (cols) IS DISTINCT FROM (new cols)
RETURNING (xmax = 0)``: rows that did not exist are created, rows whose business columns differ
are updated, the rest are not touched, and the RETURNING tells created from updated.

SQLite: the keys already stored are read first, then one ``executemany`` of
``INSERT ... ON CONFLICT DO UPDATE ... WHERE <a column differs>``; the change count minus the
rows created is the number updated.

Both run inside the caller's transaction, never commit, and never touch another tenant's row:
a record whose key belongs to another tenant raises Conflict.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import JSON, CursorResult, Date, Table, Uuid, and_, or_, select, tuple_
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from pie.adapters.db.engine import json_dumps
from pie.adapters.db.types import Money, UtcDateTime, to_money
from pie.domain.errors import Conflict
from pie.ports.repositories import UpsertCounts

PG_CHUNK = 20_000
SQLITE_CHUNK = 2_000
SQLITE_CACHE_KIB = 64 * 1024  # page cache per connection during bulk writes
NOT_COMPARED = frozenset({"updated_at"})


def _dedupe(rows: Sequence[dict[str, Any]], key: Sequence[str]) -> list[dict[str, Any]]:
    """The last record of each key (a batch may name a record twice; the later one wins)."""
    by_key = {tuple(r[k] for k in key): r for r in rows}
    return list(by_key.values())


async def upsert_rows(
    session: AsyncSession,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    key: Sequence[str] = ("id",),
) -> UpsertCounts:
    """Create or update ``rows`` (dicts keyed by column name) of ``table`` by ``key``.

    ``created + updated + unchanged == len(rows)``; a record repeated in ``rows`` counts as
    unchanged for each repetition after the first.
    """
    if not rows:
        return UpsertCounts()
    unique = _dedupe(rows, key)
    repeated = len(rows) - len(unique)
    conn = await session.connection()
    total = UpsertCounts(unchanged=repeated)
    if conn.dialect.name == "postgresql":
        columns = list(table.c.keys())
        records = _pg_records(table, columns, unique)
        for start in range(0, len(records), PG_CHUNK):
            part = records[start : start + PG_CHUNK]
            total += await _pg_upsert(session, table, columns, part, key)
        return total
    for start in range(0, len(unique), SQLITE_CHUNK):
        total += await _sqlite_upsert(session, table, unique[start : start + SQLITE_CHUNK], key)
    return total


async def upsert_items(
    session: AsyncSession,
    table: Table,
    items: Sequence[Any],
    *,
    to_row: Callable[[Any], dict[str, Any]],
    to_pg: Callable[[Any], tuple[Any, ...]],
    pg_columns: Sequence[str],
    key: Sequence[str] = ("id",),
    key_of: Callable[[Any], Any] = lambda item: item.id,
) -> UpsertCounts:
    """``upsert_rows`` for domain objects (keyed by ``id`` unless ``key``/``key_of`` say
    otherwise): on PostgreSQL their COPY records are
    built straight from the objects with ``to_pg`` (in the order ``pg_columns``, which must be
    the table's), elsewhere the rows come from ``to_row``."""
    if not items:
        return UpsertCounts()
    unique = list({key_of(item): item for item in items}.values())  # the later record wins
    conn = await session.connection()
    columns = list(pg_columns)
    if columns != list(table.c.keys()):
        raise AssertionError(f"{table.name}: COPY columns {columns} are not the table's")
    total = UpsertCounts(unchanged=len(items) - len(unique))
    if conn.dialect.name == "sqlite":
        converters = _sqlite_converters(table, columns)
        for start in range(0, len(unique), SQLITE_CHUNK):
            records = [
                tuple(
                    conv(v) if conv and v is not None else v
                    for conv, v in zip(converters, rec, strict=True)
                )
                for rec in map(to_pg, unique[start : start + SQLITE_CHUNK])
            ]
            total += await _sqlite_upsert_raw(session, table, columns, records, key)
        return total
    if conn.dialect.name != "postgresql":
        rows = [to_row(item) for item in unique]
        return await upsert_rows(session, table, rows, key=key) + total
    for start in range(0, len(unique), PG_CHUNK):
        records = [to_pg(item) for item in unique[start : start + PG_CHUNK]]
        total += await _pg_upsert(session, table, columns, records, key)
    return total


# --- PostgreSQL ---------------------------------------------------------------------------------


def _pg_converter(table: Table, column: str) -> Callable[[Any], Any] | None:
    col_type = table.c[column].type
    if isinstance(col_type, JSON):
        return lambda v: None if v is None else json_dumps(v)
    if isinstance(col_type, Money):
        return lambda v: None if v is None else to_money(v)
    return None


def _pg_records(
    table: Table, columns: list[str], rows: Sequence[dict[str, Any]]
) -> list[tuple[Any, ...]]:
    converters = [_pg_converter(table, c) for c in columns]
    if not any(converters):
        return [tuple(r[c] for c in columns) for r in rows]
    plan = list(zip(columns, converters, strict=True))
    return [tuple(conv(r[c]) if conv else r[c] for c, conv in plan) for r in rows]


async def _pg_upsert(
    session: AsyncSession,
    table: Table,
    columns: list[str],
    records: list[tuple[Any, ...]],
    key: Sequence[str],
) -> UpsertCounts:
    stage = f"pie_stage_{table.name}"
    conn = await session.connection()
    # Through SQLAlchemy, so the transaction (and the tenant setting) is begun before raw COPY.
    await conn.exec_driver_sql(
        f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table.name}) ON COMMIT DROP"
    )
    raw = (await conn.get_raw_connection()).driver_connection
    assert isinstance(raw, asyncpg.Connection)
    compared = [c for c in columns if c not in key and c != "tenant_id" and c not in NOT_COMPARED]
    updated = [c for c in columns if c not in key and c != "tenant_id"]
    cols = ", ".join(columns)
    target = ", ".join(f"{table.name}.{c}" for c in compared)
    excluded = ", ".join(f"EXCLUDED.{c}" for c in compared)
    sql = f"""
        WITH written AS (
            INSERT INTO {table.name} ({cols}) SELECT {cols} FROM {stage}
            ON CONFLICT ({", ".join(key)}) DO UPDATE
            SET {", ".join(f"{c} = EXCLUDED.{c}" for c in updated)}
            WHERE {table.name}.tenant_id = EXCLUDED.tenant_id
              AND ({target}) IS DISTINCT FROM ({excluded})
            RETURNING (xmax = 0) AS created
        )
        SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created) FROM written
    """
    if len(compared) == 1:  # a one-column row constructor is just the column
        sql = sql.replace(
            f"({target}) IS DISTINCT FROM ({excluded})", f"{target} IS DISTINCT FROM {excluded}"
        )
    try:
        await raw.copy_records_to_table(stage, records=records, columns=columns)
        result = await raw.fetchrow(sql)
        await raw.execute(f"TRUNCATE {stage}")
    except asyncpg.InsufficientPrivilegeError as exc:
        raise Conflict(
            f"{table.name}: some records have ids that belong to another tenant"
        ) from exc
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise Conflict(f"{table.name}: {exc}") from exc
    assert result is not None
    created, changed = int(result[0]), int(result[1])
    return UpsertCounts(created, changed, len(records) - created - changed)


# --- SQLite -------------------------------------------------------------------------------------


async def _sqlite_existing(
    session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]], key: Sequence[str]
) -> set[tuple[Any, ...]]:
    if tuple(key) == ("id",):
        found = await session.execute(
            select(table.c.id, table.c.tenant_id).where(table.c.id.in_([r["id"] for r in rows]))
        )
        existing = set()
        tenant = rows[0]["tenant_id"]
        for ident, owner in found:
            if owner != tenant:
                raise Conflict(f"{table.name}: some records have ids that belong to another tenant")
            existing.add((ident,))
        return existing
    key_cols = [table.c[k] for k in key]
    found = await session.execute(
        select(*key_cols).where(tuple_(*key_cols).in_([tuple(r[k] for k in key) for r in rows]))
    )
    return {tuple(row) for row in found}


async def _sqlite_upsert(
    session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]], key: Sequence[str]
) -> UpsertCounts:
    existing = await _sqlite_existing(session, table, rows, key)
    created = sum(1 for r in rows if tuple(r[k] for k in key) not in existing)
    columns = list(table.c.keys())
    compared = [c for c in columns if c not in key and c != "tenant_id" and c not in NOT_COMPARED]
    stmt = sqlite_insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(key),
        set_={c: stmt.excluded[c] for c in columns if c not in key and c != "tenant_id"},
        where=and_(
            table.c.tenant_id == stmt.excluded.tenant_id,
            or_(*(table.c[c].is_distinct_from(stmt.excluded[c]) for c in compared)),
        ),
    )
    result = cast(CursorResult[Any], await session.execute(stmt, list(rows)))
    changed = result.rowcount - created
    return UpsertCounts(created, changed, len(rows) - created - changed)


# --- SQLite, straight from the COPY tuples ------------------------------------------------------


def _sqlite_datetime(value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} (PIE stores aware UTC only)")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_converters(table: Table, columns: Sequence[str]) -> list[Callable[[Any], Any] | None]:
    """Per column, what turns a ``*_to_pg`` value into the value SQLAlchemy's column type
    stores on SQLite (uuid as 32 hex digits, timestamps as naive UTC text, dates as ISO text,
    money as integer cents); JSON is already canonical text, the rest passes as it is."""
    out: list[Callable[[Any], Any] | None] = []
    for name in columns:
        col_type = table.c[name].type
        if isinstance(col_type, Uuid):
            out.append(lambda v: v.hex)
        elif isinstance(col_type, UtcDateTime):
            out.append(_sqlite_datetime)
        elif isinstance(col_type, Money):
            out.append(lambda v: int(to_money(v).scaleb(2)))
        elif isinstance(col_type, Date):
            out.append(lambda v: v.isoformat())
        else:
            out.append(None)
    return out


async def _sqlite_upsert_raw(
    session: AsyncSession,
    table: Table,
    columns: list[str],
    records: list[tuple[Any, ...]],
    key: Sequence[str],
) -> UpsertCounts:
    """The SQLite upsert of ``_sqlite_upsert``, with parameters bound by the driver as they
    are: the keys already stored are read first (and any other tenant's refused), then one
    ``executemany`` of ``INSERT ... ON CONFLICT DO UPDATE ... WHERE <a column differs>``."""
    conn = await session.connection()
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    if not getattr(raw, "_pie_cache_set", False):
        # A bigger page cache than SQLite's 2 MB default: inserts of random (uuid) keys
        # otherwise reread B-tree pages from disk once the tables outgrow the cache.
        await raw.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        raw._pie_cache_set = True
    position = {c: i for i, c in enumerate(columns)}
    key_at = [position[k] for k in key]
    keys = [tuple(r[i] for i in key_at) for r in records]
    existing: set[tuple[Any, ...]] = set()
    if tuple(key) == ("id",):
        tenant = records[0][position["tenant_id"]]
        ids = [k[0] for k in keys]
        cursor = await raw.execute(
            f"SELECT id, tenant_id FROM {table.name} WHERE id IN ({','.join('?' * len(ids))})",
            ids,
        )
        for ident, owner in await cursor.fetchall():
            if owner != tenant:
                raise Conflict(f"{table.name}: some records have ids that belong to another tenant")
            existing.add((ident,))
    else:  # grouped by every key column but the last, which goes in the IN list
        groups: dict[tuple[Any, ...], list[Any]] = {}
        for k in keys:
            groups.setdefault(k[:-1], []).append(k[-1])
        head = " AND ".join(f"{c} = ?" for c in key[:-1])
        for prefix, lasts in groups.items():
            cursor = await raw.execute(
                f"SELECT {', '.join(key)} FROM {table.name} WHERE {head}"
                f" AND {key[-1]} IN ({','.join('?' * len(lasts))})",
                [*prefix, *lasts],
            )
            existing.update(tuple(row) for row in await cursor.fetchall())
    created = sum(1 for k in keys if k not in existing)
    compared = [c for c in columns if c not in key and c != "tenant_id" and c not in NOT_COMPARED]
    updated = [c for c in columns if c not in key and c != "tenant_id"]
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in updated)
        + f" WHERE {table.name}.tenant_id = excluded.tenant_id AND ("
        + " OR ".join(f"{table.name}.{c} IS NOT excluded.{c}" for c in compared)
        + ")"
    )
    try:
        cursor = await raw.executemany(sql, records)
    except sqlite3.IntegrityError as exc:
        raise Conflict(f"{table.name}: {exc}") from exc
    changed = cursor.rowcount - created
    return UpsertCounts(created, changed, len(records) - created - changed)
