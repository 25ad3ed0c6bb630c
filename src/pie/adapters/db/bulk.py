"""Set-based reads and writes of many rows at once, on both engines.

Rows are dicts keyed by column name holding the values the column types take (see mapping.py).
PostgreSQL: rows are COPYed (binary) into a temporary staging table shaped like the target
(COPY straight into a table is refused under row-level security), then moved with one
statement. SQLite: one ``executemany`` with the driver's own parameter binding.

Everything runs inside the caller's transaction and never commits.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import weakref
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from itertools import repeat
from operator import attrgetter, floordiv, is_, itemgetter, sub
from typing import Any, Literal
from uuid import UUID

import asyncpg  # type: ignore[import-untyped]
import numpy as np
import orjson
from sqlalchemy import (
    ARRAY,
    JSON,
    Date,
    String,
    Table,
    TextualSelect,
    Uuid,
    bindparam,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import SessionTransaction

from pie.adapters.db.engine import JSON_OPTIONS, json_dumps, json_encode
from pie.adapters.db.types import Money, UtcDateTime, to_money
from pie.domain.errors import Conflict

PG_CHUNK = 20_000
NUMBERED_CHUNK = 200_000  # rows numbered by one statement (a batch's change rows)
SQLITE_CHUNK = 2_000
READ_CHUNK = 2_000
SQLITE_CACHE_KIB = 64 * 1024  # page cache per connection during bulk writes

Row = dict[str, Any]
Convert = Callable[[Any], Any] | None
_hex = attrgetter("hex")  # a uuid as SQLite stores it: 32 hex digits


async def dialect(session: AsyncSession) -> str:
    return (await session.connection()).dialect.name


async def fetch_by_id(
    session: AsyncSession, table: Table, tenant_id: UUID, ids: Sequence[UUID]
) -> dict[UUID, Row]:
    """The tenant's stored rows of ``ids`` (read through the column types). Another tenant's
    row is never read: writing over its id then fails as a duplicate key (Conflict)."""
    found: dict[UUID, Row] = {}
    postgres = await dialect(session) == "postgresql"
    for start in range(0, len(ids), READ_CHUNK):
        part = ids[start : start + READ_CHUNK]
        if postgres:
            # A join against the unnested ids, not an IN list: inside a big import's transaction
            # the table has no statistics for its new rows, and with an IN list the planner may
            # scan every row written so far for each batch (quadratic in the import's size).
            stmt: Any = _pg_by_ids(table).bindparams(ids=list(part), tenant=tenant_id)
        else:
            # The ids as one JSON array: one statement, compiled once (an IN list is compiled
            # and bound anew for each length).
            as_json = orjson.dumps([i.hex for i in part]).decode()
            stmt = _sqlite_by_ids(table).bindparams(ids=as_json, tenant=tenant_id)
        result = await session.execute(stmt)
        for row in result.mappings():
            found[row["id"]] = dict(row)
    return found


@functools.cache
def _sqlite_by_ids(table: Table) -> TextualSelect:
    columns = ", ".join(f"t.{c.name}" for c in table.c)
    return (
        text(
            f"SELECT {columns} FROM {table.name} AS t WHERE +t.tenant_id = :tenant"
            " AND t.id IN (SELECT value FROM json_each(:ids))"
        )
        .bindparams(bindparam("ids", type_=String()), bindparam("tenant", type_=Uuid()))
        .columns(*table.c)
    )


def _pg_by_ids(table: Table) -> TextualSelect:
    columns = ", ".join(f"t.{c.name}" for c in table.c)
    return (
        text(
            f"SELECT {columns} FROM unnest(:ids) AS w(id) JOIN {table.name} AS t ON t.id = w.id"
            " WHERE t.tenant_id = :tenant"
        )
        .bindparams(bindparam("ids", type_=ARRAY(Uuid())), bindparam("tenant", type_=Uuid()))
        .columns(*table.c)
    )


async def any_stored(
    session: AsyncSession, tenant_id: UUID, wanted: Sequence[tuple[Table, Sequence[UUID]]]
) -> bool:
    """Whether the tenant has a row of any of the ids in its table (one statement)."""
    wanted = [(table, ids) for table, ids in wanted if ids]
    if not wanted:
        return False
    if await dialect(session) != "postgresql":
        # As ``fetch_by_id`` reads them: each table's ids as one JSON array.
        sql = " UNION ALL ".join(
            f"SELECT 1 FROM {table.name} AS t WHERE +t.tenant_id = ?"
            " AND t.id IN (SELECT value FROM json_each(?))"
            for table, _ in wanted
        )
        params: list[str] = []
        for _, ids in wanted:
            params += [tenant_id.hex, orjson.dumps(list(map(_hex, ids))).decode()]
        raw = await _sqlite_raw(session)
        cursor = await raw.execute(f"SELECT EXISTS ({sql})", params)
        try:
            found = await cursor.fetchone()
        finally:
            await cursor.close()
        return bool(found and found[0])
    sql = " UNION ALL ".join(
        f"SELECT 1 FROM unnest(${n}::uuid[]) AS w(id) JOIN {table.name} AS t ON t.id = w.id"
        " WHERE t.tenant_id = $1"
        for n, (table, _) in enumerate(wanted, 2)
    )
    raw = await _pg_raw(session)
    found = await raw.fetchval(f"SELECT EXISTS ({sql})", tenant_id, *(list(i) for _, i in wanted))
    return bool(found)


def pg_records(table: Table, rows: Sequence[Row]) -> list[tuple[Any, ...]]:
    """``rows`` as ``insert_rows`` sends them to PostgreSQL (``records=``), made ahead."""
    columns = list(table.c.keys())
    return _records(rows, columns, [_pg_converter(table, c) for c in columns])


async def insert_rows(
    session: AsyncSession,
    table: Table,
    rows: Sequence[Row],
    *,
    records: Sequence[tuple[Any, ...]] | None = None,
) -> None:
    """Insert new rows; an id that exists already raises Conflict (a concurrent writer).
    ``records``: the rows as ``pg_records`` made them (PostgreSQL only)."""
    if not rows:
        return
    columns = list(table.c.keys())
    if await dialect(session) == "postgresql":
        for start in range(0, len(rows), PG_CHUNK):
            part = rows[start : start + PG_CHUNK]
            sql = _pg_insert_sql(table, columns)
            made = None if records is None else records[start : start + PG_CHUNK]
            await _pg_staged(session, table, columns, part, sql, result="none", records=made)
        return
    if records is not None:
        raise ValueError("records are made for PostgreSQL only")
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    )
    await _sqlite_many(session, table, columns, rows, sql)


async def insert_numbered(
    session: AsyncSession,
    table: Table,
    counters: Table,
    tenant_id: UUID,
    rows: Sequence[Row],
    *,
    records: Sequence[tuple[Any, ...]] | None = None,
) -> bool:
    """On PostgreSQL, insert ``rows`` (the tenant's, in order) numbered after the tenant's
    last number in ``counters`` (``tenant_id``, ``last_seq``), which moves on by as many, in
    one statement: ``seq`` of each row is set here. False elsewhere (nothing done).
    ``records``: instead of ``rows``, rows made by ``pg_records`` whose ``seq`` is their place
    (1, 2, ...) among them."""
    if await dialect(session) != "postgresql":
        return False
    n = len(rows) if records is None else len(records)
    if records is None:
        for place, row in enumerate(rows, 1):  # the place here; the statement adds the rest
            row["seq"] = place
    columns = list(table.c.keys())
    picked = ", ".join(f"s.seq + c.last_seq - {n}" if c == "seq" else f"s.{c}" for c in columns)
    tenant = UUID(str(tenant_id))  # a literal (the simple query takes no parameters): a uuid
    sql = (
        f"WITH c AS (INSERT INTO {counters.name} (tenant_id, last_seq)"
        f" VALUES ('{tenant}'::uuid, {n}) ON CONFLICT (tenant_id) DO UPDATE"
        f" SET last_seq = {counters.name}.last_seq + {n} RETURNING last_seq)"
        f" INSERT INTO {table.name} ({', '.join(columns)}) SELECT {picked}"
        " FROM {stage} AS s CROSS JOIN c"
    )
    await _pg_staged(session, table, columns, rows, sql, result="none", records=records)
    return True


async def update_rows(
    session: AsyncSession, table: Table, rows: Sequence[Row], *, versioned: bool
) -> set[UUID]:
    """Overwrite stored rows by id. With ``versioned`` a row is written only where the stored
    version is the row's version minus one (the one the writer read). Returns the ids that were
    NOT written (someone else wrote in between)."""
    if not rows:
        return set()
    columns = list(table.c.keys())
    written: set[UUID] = set()
    if await dialect(session) == "postgresql":
        for start in range(0, len(rows), PG_CHUNK):
            part = rows[start : start + PG_CHUNK]
            sql = _pg_update_sql(table, columns, versioned=versioned)
            for record in await _pg_staged(session, table, columns, part, sql, result="records"):
                written.add(record[0])
        return {r["id"] for r in rows} - written
    settable = [c for c in columns if c not in ("id", "tenant_id")]
    where = "id = ? AND tenant_id = ?" + (" AND version = ?" if versioned else "")
    sql = f"UPDATE {table.name} SET {', '.join(f'{c} = ?' for c in settable)} WHERE {where}"
    converters = dict(zip(columns, _sqlite_converters(table), strict=True))

    def params(row: Row) -> tuple[Any, ...]:
        values = [_conv(converters[c], row[c]) for c in settable]
        values += [
            _conv(converters["id"], row["id"]),
            _conv(converters["tenant_id"], row["tenant_id"]),
        ]
        if versioned:
            values.append(row["version"] - 1)
        return tuple(values)

    raw = await _sqlite_raw(session)
    cursor = await raw.executemany(sql, [params(row) for row in rows])
    if cursor.rowcount == len(rows):
        return set()
    # Someone else wrote some of them: find which (their stored version moved on).
    stored = await fetch_by_id(session, table, rows[0]["tenant_id"], [r["id"] for r in rows])
    return {
        r["id"]
        for r in rows
        if r["id"] not in stored or (versioned and stored[r["id"]]["version"] != r["version"])
    }


async def upsert_rows(
    session: AsyncSession, table: Table, rows: Sequence[Row], *, key: Sequence[str]
) -> int:
    """Insert rows, or update the non-key columns of those whose ``key`` exists and whose
    values differ; the number of rows created or changed."""
    if not rows:
        return 0
    unique = list({tuple(r[k] for k in key): r for r in rows}.values())
    columns = list(table.c.keys())
    rest = [c for c in columns if c not in key]
    if await dialect(session) == "postgresql":
        sql = _pg_insert_sql(table, columns, key=key, rest=rest)
        changed = 0
        for start in range(0, len(unique), PG_CHUNK):
            part = unique[start : start + PG_CHUNK]
            changed += _row_count(await _pg_staged(session, table, columns, part, sql))
        return changed
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in rest)
        + " WHERE "
        + " OR ".join(f"{table.name}.{c} IS NOT excluded.{c}" for c in rest)
    )
    return await _sqlite_many(session, table, columns, unique, sql)


# --- PostgreSQL ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _pg_conflicts(table: Table) -> Iterator[None]:
    """The database's refusals of a write, as PIE's Conflict naming the table."""
    try:
        yield
    except asyncpg.InsufficientPrivilegeError as exc:
        raise Conflict(f"{table.name}: some records have ids of another tenant") from exc
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(
            f"{table.name}: a record was created by someone else at the same time "
            f"({exc.detail or exc}); run again"
        ) from exc
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise Conflict(f"{table.name}: {exc}") from exc


def _pg_insert_sql(
    table: Table,
    columns: Sequence[str],
    *,
    key: Sequence[str] = (),
    rest: Sequence[str] = (),
) -> str:
    cols = ", ".join(columns)
    sql = f"INSERT INTO {table.name} ({cols}) SELECT {cols} FROM {{stage}}"
    if key:
        target = ", ".join(f"{table.name}.{c}" for c in rest)
        excluded = ", ".join(f"EXCLUDED.{c}" for c in rest)
        if len(rest) == 1:
            distinct = f"{target} IS DISTINCT FROM {excluded}"
        else:
            distinct = f"({target}) IS DISTINCT FROM ({excluded})"
        sql += (
            f" ON CONFLICT ({', '.join(key)}) DO UPDATE"
            f" SET {', '.join(f'{c} = EXCLUDED.{c}' for c in rest)} WHERE {distinct}"
        )
    return sql


def _pg_update_sql(table: Table, columns: Sequence[str], *, versioned: bool) -> str:
    settable = [c for c in columns if c not in ("id", "tenant_id")]
    check = " AND t.version = s.version - 1" if versioned else ""
    return (
        f"UPDATE {table.name} AS t SET {', '.join(f'{c} = s.{c}' for c in settable)} "
        f"FROM {{stage}} AS s WHERE t.id = s.id AND t.tenant_id = s.tenant_id{check} "
        "RETURNING t.id"
    )


def _pg_converter(table: Table, column: str) -> Convert:
    col_type = table.c[column].type
    if isinstance(col_type, JSON):
        return json_dumps
    if isinstance(col_type, Money):
        return to_money
    return None


async def _pg_staged(
    session: AsyncSession,
    table: Table,
    columns: list[str],
    rows: Sequence[Row],
    sql: str,
    *,
    result: Literal["none", "status", "records"] = "status",
    records: Sequence[tuple[Any, ...]] | None = None,
) -> Any:
    """COPY ``rows`` into the table's staging table, run ``sql`` (``{stage}`` names it), empty
    the staging table and return what ``result`` asks for: the statement's records, its
    status (such as ``INSERT 0 12``: nothing is sent back per row), or nothing (the statement
    and the emptying then go in one round trip)."""
    stage = f"pie_stage_{table.name}"
    conn = await session.connection()
    staged = _stages_of(session)
    if staged is None or stage not in staged:
        # Through SQLAlchemy, so the transaction (and the tenant setting) is begun before COPY.
        await conn.exec_driver_sql(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table.name}) ON COMMIT DROP"
        )
        if staged is not None:
            staged.add(stage)
    raw = (await conn.get_raw_connection()).driver_connection
    assert isinstance(raw, asyncpg.Connection)
    if records is None:
        records = _records(rows, columns, [_pg_converter(table, c) for c in columns])
    statement = sql.format(stage=stage)
    with _pg_conflicts(table):
        await raw.copy_records_to_table(stage, records=records, columns=columns)
        if result == "none":  # one simple query, two statements
            await raw.execute(f"{statement}; TRUNCATE {stage}")
            return None
        out = await (raw.fetch if result == "records" else raw.execute)(statement)
        await raw.execute(f"TRUNCATE {stage}")
    return out


async def _pg_raw(session: AsyncSession) -> Any:
    """The session's asyncpg connection, its transaction begun (and the tenant set)."""
    conn = await session.connection()
    raw = (await conn.get_raw_connection()).driver_connection
    assert isinstance(raw, asyncpg.Connection)
    return raw


#: the staging tables made in a session's transaction (dropped when it ends)
_STAGES: weakref.WeakKeyDictionary[SessionTransaction, set[str]] = weakref.WeakKeyDictionary()


def _stages_of(session: AsyncSession) -> set[str] | None:
    """The staging tables the session's current transaction has made; None inside a savepoint
    (rolling one back drops the tables it made, so each use makes sure of its table)."""
    sync = session.sync_session
    transaction = sync.get_transaction()
    if transaction is None or sync.in_nested_transaction():
        return None
    return _STAGES.setdefault(transaction, set())


def _row_count(status: str) -> int:
    """The rows a statement wrote, from its status (``INSERT 0 12``, ``UPDATE 3``)."""
    return int(status.rsplit(" ", 1)[-1])


def _conv(conv: Convert, value: Any) -> Any:
    return conv(value) if conv is not None and value is not None else value


def _records(
    rows: Sequence[Row], columns: Sequence[str], converters: Sequence[Convert]
) -> list[tuple[Any, ...]]:
    """Row dicts -> driver tuples, converting column by column (faster than value by value).
    A column holding one value in every row (the tenant, the time of a change) is converted
    once (not a JSON one: equal documents, such as ``{"a": 1}`` and ``{"a": True}``, may be
    written differently)."""
    values = [list(map(itemgetter(c), rows)) for c in columns]
    for i, conv in enumerate(converters):
        column = values[i]
        if conv is None or not column:
            continue
        first = column[0]
        if conv is not json_dumps and first is column[-1] and column.count(first) == len(column):
            values[i] = [None if first is None else conv(first)] * len(column)
        elif conv in _IN_BULK:
            values[i] = _but_none(_IN_BULK[conv], column)
        else:
            values[i] = [None if v is None else conv(v) for v in column]
    return list(zip(*values, strict=True))


def _but_none(convert: Callable[[list[Any]], list[Any]], values: list[Any]) -> list[Any]:
    """``convert`` (of a whole column) of the values; None stays None (SQL's NULL)."""
    if not any(map(is_, values, repeat(None))):
        return convert(values)
    done = iter(convert([v for v in values if v is not None]))
    return [None if v is None else next(done) for v in values]


def _json_texts(values: list[Any]) -> list[str]:
    """``json_dumps`` of each value, without a Python call per value."""
    encoded = map(orjson.dumps, values, repeat(json_encode), repeat(JSON_OPTIONS))
    return list(map(bytes.decode, encoded))


# --- SQLite -------------------------------------------------------------------------------------


def _sqlite_datetime(value: datetime) -> str:
    if value.tzinfo is UTC:  # the usual case: "YYYY-MM-DD HH:MM:SS.ffffff" of "...+00:00"
        return value.isoformat(" ", "microseconds")[:26]
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} (PIE stores aware UTC only)")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _sqlite_datetimes(values: list[datetime]) -> list[str]:
    """``_sqlite_datetime`` of each value, in bulk: the microseconds since the epoch,
    formatted by numpy (half the time of ``isoformat`` value by value)."""
    try:
        micros = list(map(floordiv, map(sub, values, repeat(_EPOCH)), repeat(_MICROSECOND)))
    except TypeError:  # a naive datetime: refused as one
        return [_sqlite_datetime(v) for v in values]
    stamps = np.array(micros, dtype="datetime64[us]")
    texts: list[str] = np.datetime_as_string(stamps, unit="us").tolist()
    return list(map(str.replace, texts, repeat("T"), repeat(" ")))


#: converters that have a form converting a whole column at once
_IN_BULK: dict[Callable[[Any], Any], Callable[[list[Any]], list[Any]]] = {
    json_dumps: _json_texts,
    _sqlite_datetime: _sqlite_datetimes,
}


@functools.cache
def _sqlite_converters(table: Table) -> list[Convert]:
    """Per column of ``table``, what turns a Python value into the value SQLAlchemy's column
    type stores on SQLite (uuid as 32 hex digits, timestamps as naive UTC text, dates as ISO
    text, money as integer cents, JSON as canonical text); the rest passes as it is."""
    out: list[Convert] = []
    for column in table.c:
        col_type = column.type
        if isinstance(col_type, Uuid):
            out.append(_hex)
        elif isinstance(col_type, UtcDateTime):
            out.append(_sqlite_datetime)
        elif isinstance(col_type, Money):
            out.append(lambda v: int(to_money(v).scaleb(2)))
        elif isinstance(col_type, Date):
            out.append(lambda v: v.isoformat())
        elif isinstance(col_type, JSON):
            out.append(json_dumps)
        else:
            out.append(None)
    return out


async def _sqlite_raw(session: AsyncSession) -> Any:
    conn = await session.connection()
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    if not getattr(raw, "_pie_cache_set", False):
        # A bigger page cache than SQLite's 2 MB default: inserts of random (uuid) keys
        # otherwise reread B-tree pages from disk once the tables outgrow the cache.
        await raw.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        raw._pie_cache_set = True
    return raw


async def _sqlite_many(
    session: AsyncSession,
    table: Table,
    columns: list[str],
    rows: Sequence[Row],
    sql: str,
) -> int:
    raw = await _sqlite_raw(session)
    converters = _sqlite_converters(table)
    total = 0
    for start in range(0, len(rows), SQLITE_CHUNK):
        records = _records(rows[start : start + SQLITE_CHUNK], columns, converters)
        try:
            cursor = await raw.executemany(sql, records)
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"{table.name}: {exc}") from exc
        total += max(cursor.rowcount, 0)
    return total
