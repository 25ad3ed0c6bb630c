"""``ColumnReader`` on SQL: one streamed query per table selecting only the needed columns,
straight into arrays (``DealColumns``): no domain object per deal, transition or activity.

On SQLite, times and ids are read as the text they are stored as and parsed in bulk (numpy
parses the timestamps), and money as its integer cents; PostgreSQL's driver hands over
native values. Either way the numbers equal what the domain objects hold.
"""

from __future__ import annotations

import asyncio
import ctypes
import itertools
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from operator import itemgetter
from typing import Any
from uuid import UUID

import numpy as np
import orjson
from numpy.typing import NDArray
from sqlalchemy import (
    Integer,
    Select,
    String,
    Table,
    case,
    exists,
    func,
    literal_column,
    select,
    text,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from pie.domain.model import EntityKind, StakeholderRole
from pie.mining.columns import (
    BLOCKER,
    CHAMPION,
    KEY,
    NO_TIME,
    STAGE_CODES,
    ColumnsBuilder,
    DealColumns,
    KeyIndex,
    by_deal,
    hex_keys,
    high_bits,
    objection_values,
    participant_keys,
    role_bits,
    text_keys,
)
from pie.mining.eventlog_arrays import to_micros
from pie.simulation.streams import identity_of

from .repositories import ACCOUNTS, DEALS, REFS, STAKEHOLDERS
from .tables import HAS_OBJECTIONS, ActivityRow, StageTransitionRow

ACTS = ActivityRow.__table__
TRANS: Table = StageTransitionRow.__table__  # type: ignore[assignment]
BATCH = 10_000  # rows a fetch: the Python values of a batch are the read's transient memory
DETAIL_DEALS = 500  # deals a query of the activity details
ACT_DEALS = 2_000  # deals a query of the activities (SQLite: their ids and times joined)
ROWIDS = 20_000  # rowids a query of a table read with its values joined (``_joined``)
_ID_HEX, _TIME_TEXT = 32, 26  # an id and a time as SQLite stores them (``Uuid``, ``DateTime``)
Int = NDArray[np.integer[Any]]
Float = NDArray[np.float64]


class SqlColumnReader:
    def __init__(self, session: AsyncSession, tenant_id: UUID) -> None:
        self._session, self._tenant = session, tenant_id
        self._sqlite = session.get_bind().dialect.name == "sqlite"

    # -- raw values and their bulk conversion ----------------------------------------------

    def _time(self, column: Any) -> ColumnElement[Any]:
        return type_coerce(column, String) if self._sqlite else column

    def _id(self, column: Any) -> ColumnElement[Any]:
        return type_coerce(column, String) if self._sqlite else column

    @staticmethod
    def _json(column: Any) -> ColumnElement[Any]:
        """JSON as it comes from the driver (text from SQLite, parsed by ``_loads``)."""
        return type_coerce(column, String)

    def _money(self, column: Any) -> ColumnElement[Any]:
        return type_coerce(column, Integer) if self._sqlite else column

    def _times(self, rows: Rows, i: int) -> Int:
        values = _column(rows, i)
        if self._sqlite:  # naive UTC text; None becomes NaT, which is NO_TIME
            out: Int = np.array(values, dtype="datetime64[us]").astype(np.int64)
            return out
        return np.array([NO_TIME if v is None else to_micros(v) for v in values], np.int64)

    def _moneys(self, rows: Rows, i: int) -> Float:
        if self._sqlite:  # integer cents: cents / 100 is float(Decimal) of the same amount
            cents: Float = np.array(_column(rows, i), dtype=np.float64)  # None: NaN
            return cents / 100
        return np.array([np.nan if v is None else float(v) for v in _column(rows, i)])

    def _uuid(self, value: Any) -> UUID:
        return UUID(hex=value) if self._sqlite else UUID(str(value))

    def _hex(self, rows: Rows, i: int) -> list[str]:
        """Ids as 32 hex digits (as SQLite stores them)."""
        return _column(rows, i) if self._sqlite else [v.hex for v in _column(rows, i)]

    def _keys(self, rows: Rows, i: int) -> NDArray[np.bytes_]:
        """Ids as ``KEY``."""
        return hex_keys(self._hex(rows, i))

    def _deals(self, b: ColumnsBuilder, rows: Rows, i: int) -> NDArray[np.integer[Any]]:
        """The deal row of each row, its deal's id in column ``i`` (rows grouped by deal)."""
        return b.grouped_deal_rows(self._hex(rows, i))

    async def _parts(self, stmt: Select[Any]) -> AsyncIterator[Rows]:
        """The rows of ``stmt`` in batches. On SQLite the compiled statement runs on the
        session's own driver connection (same transaction): rows come as plain tuples,
        without a SQLAlchemy row object each (half the cost of the read)."""
        if self._sqlite:
            driver = await self._driver()
            cursor = await driver.execute(*self._compiled(stmt))
            try:
                while rows := await cursor.fetchmany(BATCH):
                    yield rows
            finally:
                await cursor.close()
            return
        result = await self._session.stream(stmt.execution_options(yield_per=BATCH))
        async for part in result.partitions(BATCH):
            yield part

    def _compiled(self, stmt: Select[Any]) -> tuple[str, list[Any]]:
        """``stmt`` as SQLite's SQL and its arguments."""
        compiled = stmt.compile(
            dialect=self._session.get_bind().dialect,
            compile_kwargs={"render_postcompile": True},
        )
        params = compiled.construct_params()
        return str(compiled), [_sqlite_param(params[name]) for name in compiled.positiontup or ()]

    async def _driver(self) -> Any:
        """The session's own driver connection (SQLite: aiosqlite's; same transaction)."""
        connection = await self._session.connection()
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None  # an open session's connection
        return driver

    async def _one_each(self, stmts: Iterable[Select[Any]]) -> AsyncIterator[Sequence[Any]]:
        """The one row of each statement (SQLite: aggregates), in order; the next statement
        runs in the driver's thread while this one's row is used."""
        driver = await self._driver()

        async def one(stmt: Select[Any]) -> Sequence[Any]:
            cursor = await driver.execute(*self._compiled(stmt))
            try:
                row: Sequence[Any] = await cursor.fetchone()
                return row
            finally:
                await cursor.close()

        pending: list[asyncio.Future[Sequence[Any]]] = []  # this statement's and the next
        try:
            for stmt in stmts:
                pending.append(asyncio.ensure_future(one(stmt)))
                if len(pending) == 2:
                    yield await pending.pop(0)
            while pending:
                yield await pending.pop(0)
        finally:
            if pending:  # stopped early: the driver's queue runs them, wait for it
                await asyncio.wait(pending)

    async def _other_refs(self, b: ColumnsBuilder, deals: dict[UUID, tuple[int, str]]) -> None:
        """The stream identity of deals whose refs are all from other sources."""
        r, ids = REFS.c, list(deals)
        for lo in range(0, len(ids), 1_000):
            refs: dict[UUID, dict[str, str]] = {}
            chunk = select(self._id(r.entity_id), r.source, r.external_id).where(
                r.tenant_id == self._tenant,
                r.kind == str(EntityKind.DEAL),
                r.entity_id.in_(ids[lo : lo + 1_000]),
            )
            async for rows in self._parts(chunk):
                for e, s, x in rows:
                    refs.setdefault(self._uuid(e), {})[s] = x
            for u, found in refs.items():
                row, own = deals[u]
                b.stream[row] = identity_of(u, own, found)

    # -- the tables ---------------------------------------------------------------------------

    async def read(self) -> DealColumns:
        b = ColumnsBuilder()
        if self._sqlite:
            await self._deals_stored(b)
        else:
            await self._deals_by_id(b)
        await self._transitions(b)
        await self._stakeholders(b)
        await self._activities(b)
        await self._details(b)
        out = b.build()
        _release_free_memory()
        return out

    async def _activities(self, b: ColumnsBuilder) -> None:
        """Every activity's deal and time, from the (tenant, deal, time) index alone: no table
        row is read (ties need no order, their rows being alike). On SQLite a range of
        ``ACT_DEALS`` deals at a time, each range's ids and times as two texts joined by
        SQLite (``group_concat``): two Python values a range, not two a row, parsed in numpy."""
        c = ACTS.c
        mine = (c.tenant_id == self._tenant, c.deal_id.is_not(None))
        rows_of = select(self._id(c.deal_id), self._time(c.occurred_at)).where(*mine)
        if not self._sqlite:
            async for rows in self._parts(rows_of.order_by(c.deal_id, c.occurred_at)):
                b.add_activities(self._deals(b, rows, 0), self._times(rows, 1))
            return
        joined = select(
            func.group_concat(self._id(c.deal_id), ""),
            func.group_concat(self._time(c.occurred_at), ""),
            func.count(),
        ).where(*mine)
        bounds: list[UUID | None] = [
            None,
            *b.ids_of(np.arange(ACT_DEALS, b.count, ACT_DEALS)),
            None,
        ]
        ranges = [
            [
                *([c.deal_id >= lo] if lo is not None else []),
                *([c.deal_id < hi] if hi is not None else []),
            ]
            for lo, hi in itertools.pairwise(bounds)
        ]
        each = self._one_each(joined.where(*where) for where in ranges)
        async for where, (*texts, n) in _zip_async(ranges, each):
            if not n:
                continue
            try:
                digits, stamps = _fixed(texts, [_ID_HEX, _TIME_TEXT], n)
            except _NotFixed:  # ids or times stored in another form: row by row
                ordered = rows_of.where(*where).order_by(c.deal_id, c.occurred_at)
                async for part in self._parts(ordered):
                    b.add_activities(self._deals(b, part, 0), self._times(part, 1))
            else:
                b.add_activities(b.grouped_deal_rows(digits), _parse_times(stamps))

    async def _details(self, b: ColumnsBuilder) -> None:
        """Every activity of the deals with objections (with its participants and objection
        flags), a chunk of deals a query, by the (tenant, deal, time) index; which deals have
        objections, from the partial index of the activities with some (0016)."""
        c = ACTS.c
        mine = (c.tenant_id == self._tenant, c.deal_id.is_not(None))
        has = text(HAS_OBJECTIONS["sqlite" if self._sqlite else "postgresql"])
        noted: list[NDArray[np.integer[Any]]] = []  # rows of deals with objections
        objected = select(self._id(c.deal_id)).where(*mine, has).distinct()
        async for rows in self._parts(objected):
            deal = self._deals(b, rows, 0)
            noted.append(deal[deal >= 0])
        wanted = np.unique(np.concatenate(noted)) if noted else np.zeros(0, np.int64)
        detail = select(
            self._id(c.deal_id),
            self._time(c.occurred_at),
            self._json(c.participants),
            case((has, self._json(c.objections))),  # None: none (most activities)
        )
        for lo in range(0, wanted.size, DETAIL_DEALS):
            chunk = b.ids_of(wanted[lo : lo + DETAIL_DEALS])
            part = detail.where(c.tenant_id == self._tenant, c.deal_id.in_(chunk))
            async for rows in self._parts(part.order_by(c.deal_id, c.occurred_at, c.id)):
                b.add_details(
                    self._deals(b, rows, 0),
                    self._times(rows, 1),
                    _participants(_column(rows, 2)),
                    [objection_values(_loads(os)) if os else _NONE for os in _column(rows, 3)],
                )

    async def _deals_by_id(self, b: ColumnsBuilder) -> None:
        """The tenant's deals by id, each with its stream identity and industry (PostgreSQL:
        by its (tenant, id) index, probing the external refs and the account per deal)."""
        me = self._tenant
        d, a, r = DEALS.c, ACCOUNTS.c, REFS.c
        kind = str(EntityKind.DEAL)
        # the deal's stream identity is "source:external id" of its own source's ref (one
        # indexed probe per deal); a deal with only other sources' refs is completed below
        own = (
            select(r.external_id)
            .where(r.tenant_id == me, r.kind == kind, r.entity_id == d.id, r.source == d.source)
            .limit(1)
            .scalar_subquery()
        )
        any_ref = (
            select(r.external_id)
            .where(r.tenant_id == me, r.kind == kind, r.entity_id == d.id)
            .limit(1)
            .scalar_subquery()
        )
        deals = (
            select(
                self._id(d.id),
                d.source,
                d.source + ":" + own,
                case((own.is_(None), any_ref)),
                d.stage,
                self._time(d.created_at),
                self._time(d.closed_at),
                self._money(d.value),
                a.industry,
                d.probability,
            )
            .outerjoin(ACCOUNTS, ACCOUNTS.c.id == d.account_id)
            .where(d.tenant_id == me)
            .order_by(d.id)
        )
        others: dict[UUID, tuple[int, str]] = {}
        async for rows in self._parts(deals):
            streams = _column(rows, 2)
            for j in [j for j, x in enumerate(streams) if x is None]:
                u = self._uuid(rows[j][0])
                if rows[j][3] is not None:
                    others[u] = (len(b.stream) + j, rows[j][1])
                streams[j] = str(u)
            b.add_deals(
                self._keys(rows, 0),
                streams,
                _codes(rows, 4),
                self._times(rows, 5),
                self._times(rows, 6),
                self._moneys(rows, 7),
                _column(rows, 8),
                _floats(rows, 9),
            )
        await self._other_refs(b, others)

    async def _deals_stored(self, b: ColumnsBuilder) -> None:
        """The tenant's deals (SQLite), read in stored order (``_stored``) and sorted by id
        here; their industries from the accounts read the same way, their stream identities
        from the deals' external refs read in the order of their covering index (own
        source's ref first: the smallest external id of the deal's source, as the indexed
        probe per deal gives it). No row is looked up per deal: each is a read far from the
        last once the tables outgrow the caches."""
        d, r = DEALS.c, REFS.c
        fields = select(
            self._id(d.id),
            d.source,
            d.stage,
            self._time(d.created_at),
            self._time(d.closed_at),
            self._money(d.value),
            self._id(d.account_id),
            d.probability,
        )
        got, sources, accounts = _Batches(), [], []
        async for rows in self._parts(await self._stored(DEALS, fields)):
            sources.append(_objects(rows, 1))
            accounts.append(_objects(rows, 6))
            got.add(
                key=self._keys(rows, 0),
                stage=_codes(rows, 2),
                created=self._times(rows, 3),
                closed=self._times(rows, 4),
                value=self._moneys(rows, 5),
                prob=_floats(rows, 7),
            )
        c = got.join()
        if not c:
            return
        order = np.argsort(c["key"], kind="stable")
        keys = c.pop("key")[order]
        source = np.concatenate(sources)[order]
        industry = await self._industries(np.concatenate(accounts)[order])
        del sources, accounts
        # stream identities: the tenant's deal refs, by (deal, source, external id)
        kind = str(EntityKind.DEAL)
        refs = select(self._id(r.entity_id), r.source, r.external_id).where(
            r.tenant_id == self._tenant, r.kind == kind
        )
        ref_keys, ref_sources, ref_externals = [], [], []
        async for rows in self._parts(refs.order_by(r.entity_id, r.source, r.external_id)):
            ref_keys.append(self._keys(rows, 0))
            ref_sources.append(_objects(rows, 1))
            ref_externals.append(_objects(rows, 2))
        at = KeyIndex(keys).find(np.concatenate(ref_keys) if ref_keys else np.zeros(0, KEY))
        ref_source = np.concatenate(ref_sources) if ref_sources else np.zeros(0, object)
        ref_external = np.concatenate(ref_externals) if ref_externals else np.zeros(0, object)
        known = at >= 0
        own = np.zeros(at.size, dtype=np.bool_)
        own[known] = ref_source[known] == source[at[known]]
        first = np.flatnonzero(own)
        if first.size:  # the first own-source ref of each deal
            first = first[np.append(True, at[first][1:] != at[first][:-1])]
        streams = np.full(keys.size, None, dtype=object)
        streams[at[first]] = source[at[first]] + ":" + ref_external[first]
        with_refs = np.zeros(keys.size, dtype=np.bool_)
        with_refs[at[known]] = True
        others: dict[UUID, tuple[int, str]] = {}
        for row in np.flatnonzero(_is_none(streams)).tolist():
            u = UUID(bytes=keys[row : row + 1].view(_RAW)[0].tobytes())
            if with_refs[row]:
                others[u] = (row, source[row])
            streams[row] = str(u)
        b.add_deals(
            keys,
            streams.tolist(),
            c["stage"][order],
            c["created"][order],
            c["closed"][order],
            c["value"][order],
            industry,
            c["prob"][order],
        )
        await self._other_refs(b, others)

    async def _industries(self, accounts: NDArray[np.object_]) -> list[str | None]:
        """The industry of each account (32 hex digits; None: none), from the tenant's
        accounts read in stored order (``_stored``)."""
        a = ACCOUNTS.c
        keys, names = [], []
        async for rows in self._parts(
            await self._stored(ACCOUNTS, select(self._id(a.id), a.industry))
        ):
            keys.append(self._keys(rows, 0))
            names.append(_objects(rows, 1))
        every = np.concatenate(keys) if keys else np.zeros(0, KEY)
        order = np.argsort(every, kind="stable")
        named = np.empty(every.size + 1, dtype=object)  # [-1]: none
        named[:-1] = np.concatenate(names)[order] if names else []
        named[-1] = None
        some = np.flatnonzero(~_is_none(accounts))
        at = np.full(accounts.size, -1, dtype=np.int64)
        at[some] = KeyIndex(every[order]).find(hex_keys(accounts[some].tolist()))
        out: list[str | None] = named[at].tolist()
        return out

    async def _alone(self, table: Table) -> bool:
        """Whether no other tenant has rows in ``table`` (two probes of its tenant index)."""
        tenant = table.c.tenant_id
        others = select(
            exists().where(tenant < self._tenant) | exists().where(tenant > self._tenant)
        )
        alone = True
        async for rows in self._parts(others):
            alone = not rows[0][0]
        return alone

    async def _joined(
        self, table: Table, fields: Sequence[tuple[ColumnElement[Any], int]], *where: Any
    ) -> AsyncIterator[list[NDArray[np.bytes_]]]:
        """The tenant's rows of ``table`` (SQLite, the tenant alone in it) in stored order,
        ``ROWIDS`` rowids a query, each field of fixed width (characters) given as one text
        of a query's rows joined by SQLite (``group_concat``): a handful of Python values a
        query instead of one a field and row. Yields each query's fields as ``S<width>``
        arrays (ASCII); ``_NotFixed`` if a value is not of its width (then none is used)."""
        rowid: ColumnElement[Any] = literal_column(f"{table.name}.rowid")
        mine = literal_column(f"+{table.name}.tenant_id") == self._tenant
        joined = select(*(func.group_concat(f, "") for f, _ in fields), func.count()).where(
            mine, *where
        )
        last = 0
        async for rows in self._parts(select(func.max(rowid)).select_from(table)):
            last = rows[0][0] or 0
        chunks = (
            joined.where(rowid >= lo, rowid < lo + ROWIDS) for lo in range(0, last + 1, ROWIDS)
        )
        async for *texts, n in self._one_each(chunks):
            if n:
                yield _fixed(texts, [w for _, w in fields], n)

    async def _stored(self, table: Table, stmt: Select[Any]) -> Select[Any]:
        """``stmt`` (over ``table``) for this tenant's rows in the order they are stored
        (rowid), read sequentially: a table scan if no other tenant has rows in it (two
        probes of an index), else the rowids of this tenant's rows from its tenant index,
        sorted, then their rows one after another. In (deal, ...) index order instead, each
        row is a read of a table page far from the last one's, which grows faster than the
        rows once the store outgrows the caches."""
        if await self._alone(table):  # "+": SQLite's planner then uses no index, it scans the table
            mine = literal_column(f"+{table.name}.tenant_id") == self._tenant
            return stmt.where(mine).order_by(literal_column(f"{table.name}.rowid"))
        inner = table.alias("mine")
        rowids: Select[Any] = select(literal_column("mine.rowid")).where(
            inner.c.tenant_id == self._tenant
        )
        rowid: ColumnElement[Any] = literal_column(f"{table.name}.rowid")
        return stmt.where(rowid.in_(rowids)).order_by(rowid)

    async def _transitions(self, b: ColumnsBuilder) -> None:
        """The tenant's stage transitions, sorted by (deal, time, id). On SQLite they are
        read in stored order (``_stored``) and sorted here: by deal, then by time where a
        deal's rows are out of order, then by id where a deal has rows at the same time
        (their ids fetched by rowid: rare)."""
        t = TRANS.c
        fields = select(
            self._id(t.deal_id),
            t.from_stage,
            t.to_stage,
            self._time(t.at),
            t.days_in_from_stage,
            self._money(t.value),
            t.probability,
        )
        got = _Batches()
        if self._sqlite:
            # a row's deal and time as one text, its stages as codes: 3 Python values fewer
            packed = select(
                self._id(t.deal_id) + self._time(t.at),
                _stage_code(t.from_stage),
                _stage_code(t.to_stage),
                t.days_in_from_stage,
                self._money(t.value),
                t.probability,
                literal_column("rowid"),
            )
            try:
                async for rows in self._parts(await self._stored(TRANS, packed)):
                    digits, stamps = _split(_column(rows, 0), (_ID_HEX, _TIME_TEXT))
                    got.add(
                        deal=b.grouped_deal_rows(digits),
                        frm=_known_codes(rows, 1),
                        to=_known_codes(rows, 2),
                        us=_parse_times(stamps),
                        din=_floats(rows, 3),
                        value=self._moneys(rows, 4),
                        prob=_floats(rows, 5),
                        rowid=np.fromiter(map(itemgetter(6), rows), np.int64, len(rows)),
                    )
            except _NotFixed:  # ids or times in another form, or a stage PIE does not know
                got = _Batches()
            else:
                await self._transitions_sorted(b, got.join())
                return
            stmt = await self._stored(TRANS, fields.add_columns(literal_column("rowid")))
        else:
            stmt = fields.where(t.tenant_id == self._tenant).order_by(t.deal_id, t.at, t.id)
        async for rows in self._parts(stmt):
            got.add(
                deal=self._deals(b, rows, 0),
                frm=_codes(rows, 1),
                to=_codes(rows, 2),
                us=self._times(rows, 3),
                din=_floats(rows, 4),
                value=self._moneys(rows, 5),
                prob=_floats(rows, 6),
                rowid=np.fromiter(map(itemgetter(7), rows), np.int64, len(rows))
                if self._sqlite
                else np.zeros(0, np.int64),
            )
        await self._transitions_sorted(b, got.join())

    async def _transitions_sorted(self, b: ColumnsBuilder, c: dict[str, Any]) -> None:
        """The transitions' columns ``c`` added to ``b`` by (deal, time, id)."""
        if not c:
            return
        order = by_deal(c["deal"], c["us"])
        if self._sqlite:
            order = await self._ties_by_id(c, order)
        b.add_transitions(
            *(c.pop(k)[order] for k in ("deal", "frm", "to", "us", "din", "value", "prob"))
        )

    async def _ties_by_id(self, c: dict[str, Any], order: Int | slice) -> Int | slice:
        """``order`` (rows by deal and time, ties in stored order) with the rows of a deal
        that share a time sorted by their ids, as ``ORDER BY deal_id, at, id`` gives them."""
        d, u = c["deal"][order], c["us"][order]
        tied = (d[1:] == d[:-1]) & (u[1:] == u[:-1])
        if not tied.any():
            return order
        rows = np.arange(d.size) if isinstance(order, slice) else order
        mark = np.zeros(d.size, dtype=np.bool_)
        mark[1:] |= tied
        mark[:-1] |= tied
        wanted = c["rowid"][rows[mark]].tolist()
        t, found = TRANS.c, dict[int, str]()
        rowid: ColumnElement[Any] = literal_column("stage_transitions.rowid")
        for lo in range(0, len(wanted), 500):
            chunk = select(rowid, self._id(t.id)).where(rowid.in_(wanted[lo : lo + 500]))
            async for part in self._parts(chunk):
                found.update((r, x) for r, x in part)
        key = np.zeros(d.size, dtype=KEY)
        key[mark] = hex_keys([found[r] for r in wanted])
        out: Int = rows[np.lexsort((key, u, d))]
        return out

    async def _stakeholders(self, b: ColumnsBuilder) -> None:
        """The tenant's deal stakeholders, sorted by (deal, id); on SQLite read in stored
        order (``_stored``) with their ids, and sorted here."""
        s = STAKEHOLDERS.c
        fields = select(
            self._id(s.deal_id),
            self._id(s.contact_id),
            self._time(s.created_at),
            self._roles(s.roles),
        ).where(s.deal_id.is_not(None))
        got = _Batches()
        if self._sqlite and await self._alone(STAKEHOLDERS):
            widths = [_ID_HEX, _ID_HEX, _TIME_TEXT, 1, _ID_HEX]  # roles: one digit
            try:
                async for deal, contact, created, bits, ident in self._joined(
                    STAKEHOLDERS,
                    list(zip([*fields.selected_columns, self._id(s.id)], widths, strict=True)),
                    s.deal_id.is_not(None),
                ):
                    got.add(
                        deal=b.grouped_deal_rows(deal),
                        contact=hex_keys(contact),
                        us=_parse_times(created),
                        roles=(bits.view(np.uint8) - ord("0")).astype(np.int8),
                        id=hex_keys(ident),
                    )
            except _NotFixed:  # another form: row by row
                got = _Batches()
            else:
                self._stakeholders_sorted(b, got.join())
                return
        if self._sqlite:
            stmt = await self._stored(STAKEHOLDERS, fields.add_columns(self._id(s.id)))
        else:
            stmt = fields.where(s.tenant_id == self._tenant).order_by(s.deal_id, s.id)
        async for rows in self._parts(stmt):
            roles = _column(rows, 3)
            got.add(
                deal=self._deals(b, rows, 0),
                contact=self._keys(rows, 1),
                us=self._times(rows, 2),
                roles=np.array(roles, dtype=np.int8)
                if self._sqlite
                else np.array([role_bits(_loads(x)) for x in roles], dtype=np.int8),
                id=self._keys(rows, 4) if self._sqlite else np.zeros(0, KEY),
            )
        self._stakeholders_sorted(b, got.join())

    def _stakeholders_sorted(self, b: ColumnsBuilder, c: dict[str, Any]) -> None:
        """The stakeholders' columns ``c`` added to ``b`` by (deal, id)."""
        if not c:
            return
        order = by_deal(c["deal"], high_bits(c["id"]) if self._sqlite else None)
        if self._sqlite:  # by id: by its first 8 bytes unless two of a deal's share them
            d, high = c["deal"][order], high_bits(c["id"][order])
            if bool(((d[1:] == d[:-1]) & (high[1:] == high[:-1])).any()):
                order = by_deal(c["deal"], c["id"])
        b.add_stakeholders(*(c.pop(k)[order] for k in ("deal", "contact", "us", "roles")))

    def _roles(self, column: Any) -> ColumnElement[Any]:
        """The role bits (``role_bits``) on SQLite, from the JSON text of role names; the
        JSON itself on PostgreSQL."""
        if not self._sqlite:
            return self._json(column)
        champion = func.instr(column, f'"{StakeholderRole.CHAMPION}"') > 0
        blocker = func.instr(column, f'"{StakeholderRole.BLOCKER}"') > 0
        return type_coerce(champion, Integer) * CHAMPION + type_coerce(blocker, Integer) * BLOCKER


_RAW = np.dtype((np.void, 16))  # a key's 16 bytes, read back whole


class _Batches:
    """A table's columns collected batch by batch, joined at the end (``join``)."""

    def __init__(self) -> None:
        self.parts: dict[str, list[Any]] = {}

    def add(self, **arrays: Any) -> None:
        for name, values in arrays.items():
            self.parts.setdefault(name, []).append(values)

    def join(self) -> dict[str, Any]:
        """Each column as one array (every batch dropped once joined); empty if no row
        was read."""
        out = {}
        for name in list(self.parts):
            parts = self.parts.pop(name)
            out[name] = np.concatenate(parts)
        return out


Rows = Sequence[Sequence[Any]]
_NONE: tuple[list[bool], list[int]] = ([], [])  # no objections


def _column(rows: Rows, i: int) -> list[Any]:
    return list(map(itemgetter(i), rows))


_NULL = np.array(None, dtype=object)


def _is_none(values: NDArray[np.object_]) -> NDArray[np.bool_]:
    """Where ``values`` (Python objects) are None."""
    out: NDArray[np.bool_] = np.equal(values, _NULL)
    return out


def _objects(rows: Rows, i: int) -> NDArray[np.object_]:
    """A column's values as they come (strings, None) in an array, for numpy to gather."""
    out = np.empty(len(rows), dtype=object)
    out[:] = _column(rows, i)
    return out


def _codes(rows: Rows, i: int) -> NDArray[np.int8]:
    """Stage codes (-1: none); KeyError for a stage PIE does not know."""
    return np.fromiter(map(STAGE_CODES.__getitem__, map(itemgetter(i), rows)), np.int8, len(rows))


def _floats(rows: Rows, i: int) -> Float:
    """A nullable number column (None: NaN)."""
    return np.array(_column(rows, i), np.float64)


_UNKNOWN_STAGE = -128


def _stage_code(column: Any) -> ColumnElement[Any]:
    """A stage's code (``STAGE_CODES``) computed by SQLite: a small integer, which Python
    does not allocate; -1 for none, ``_UNKNOWN_STAGE`` for a stage PIE does not know."""
    known = {name: code for name, code in STAGE_CODES.items() if name is not None}
    return case(known, value=column, else_=case((column.is_(None), -1), else_=_UNKNOWN_STAGE))


def _known_codes(rows: Rows, i: int) -> NDArray[np.int8]:
    """Stage codes (``_stage_code``); ``_NotFixed`` if one is of a stage PIE does not know."""
    codes = np.fromiter(map(itemgetter(i), rows), np.int8, len(rows))
    if bool((codes == _UNKNOWN_STAGE).any()):
        raise _NotFixed
    return codes


def _split(texts: list[Any], widths: Sequence[int]) -> list[NDArray[np.bytes_]]:
    """Texts each of fixed-width ASCII fields one after another (e.g. an id and a time
    joined in SQL) as one ``S<width>`` array a field; ``_NotFixed`` unless every text is
    exactly that long."""
    total = sum(widths)
    try:
        chars = np.array(texts, dtype=f"S{total + 1}").view(np.uint8).reshape(-1, total + 1)
    except (UnicodeEncodeError, TypeError, ValueError):  # not ASCII text
        raise _NotFixed from None
    if chars.size and not (bool(chars[:, total - 1].all()) and not bool(chars[:, total].any())):
        raise _NotFixed  # shorter or longer
    out, at = [], 0
    for width in widths:
        out.append(np.ascontiguousarray(chars[:, at : at + width]).view(f"S{width}").reshape(-1))
        at += width
    return out


def _loads(value: Any) -> Any:
    """A JSON value: text parsed with orjson; what the driver already decoded, as is."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _loads_each(values: list[Any]) -> list[Any]:
    """JSON values (``_loads``), texts parsed in one call: joined into one JSON array."""
    if values and all(isinstance(v, str) for v in values):
        parsed: list[Any] = orjson.loads("[" + ",".join(values) + "]")
        return parsed
    return [_loads(v) for v in values]


def _participants(texts: list[Any]) -> tuple[Int, NDArray[np.bytes_]]:
    """Activities' participants (``participant_keys``) from their stored JSON arrays of
    contact ids: parsed in numpy when every array is in the form PIE writes (ids as
    ``str(UUID)``, compact as on SQLite or with ", " as PostgreSQL prints ``jsonb``), else
    by orjson."""
    if all(isinstance(t, str) for t in texts):
        for sep in (b",", b", "):
            got = _id_arrays(texts, sep)
            if got is not None:
                return got
    return participant_keys(_loads_each(texts))


_ID_TEXT = 38  # an id's text in quotes


def _id_arrays(texts: list[str], sep: bytes) -> tuple[Int, NDArray[np.bytes_]] | None:
    """JSON arrays of ids, each ``["<id>"<sep>"<id>"...]`` or ``[]``, as (ids per array,
    every id as ``KEY``); None if any array is written otherwise."""
    try:
        buf = np.frombuffer("".join(texts).encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError:
        return None
    lengths = np.fromiter(map(len, texts), np.int64, len(texts))
    width = _ID_TEXT + len(sep)  # an id's text and the separator after it
    counts, rest = np.divmod(lengths - 2 + len(sep), width)
    if bool(((rest != 0) & (lengths != 2)).any()) or bool((lengths < 2).any()):
        return None
    starts = np.cumsum(lengths) - lengths
    if not (
        bool((buf[starts] == ord("[")).all())
        and bool((buf[starts + lengths - 1] == ord("]")).all())
    ):
        return None
    total = int(counts.sum())
    nth = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)  # within its array
    at = np.repeat(starts + 1, counts) + nth * width  # each id's opening quote
    quoted = buf[at[:, None] + np.arange(_ID_TEXT)]
    if not (bool((quoted[:, 0] == ord('"')).all()) and bool((quoted[:, -1] == ord('"')).all())):
        return None
    between = at[nth < np.repeat(counts, counts) - 1] + _ID_TEXT  # separators
    for i, char in enumerate(sep):
        if not bool((buf[between + i] == char).all()):
            return None
    keys = text_keys(quoted[:, 1:-1])
    return None if keys is None else (counts, keys)


async def _zip_async(
    items: Sequence[Any], each: AsyncIterator[Any]
) -> AsyncIterator[tuple[Any, Any]]:
    """``items`` paired with what ``each`` yields, in order."""
    i = 0
    async for got in each:
        yield items[i], got
        i += 1


class _NotFixed(Exception):
    """Values joined by SQLite are not each of their fixed width."""


def _fixed(texts: Sequence[Any], widths: Sequence[int], n: int) -> list[NDArray[np.bytes_]]:
    """``n`` values of fixed widths joined into one text each (``group_concat``) as
    ``S<width>`` arrays of their ASCII; ``_NotFixed`` unless every text is ``n`` values'
    worth of ASCII (ids as 32 hex digits and times as 26 characters, as SQLite stores them:
    a time without its fraction, or a NULL, which ``group_concat`` leaves out, would not
    be; each value is checked as it is parsed)."""
    out = []
    for text_, width in zip(texts, widths, strict=True):
        if not isinstance(text_, str) or len(text_) != n * width or not text_.isascii():
            raise _NotFixed
        out.append(np.frombuffer(text_.encode("ascii"), dtype=f"S{width}"))
    return out


def _parse_times(stamps: NDArray[np.bytes_]) -> NDArray[np.int64]:
    """Times as SQLite stores them (``YYYY-MM-DD HH:MM:SS.ffffff``, naive UTC), in bulk."""
    out: NDArray[np.int64] = stamps.astype("datetime64[us]").astype(np.int64)
    return out


def _release_free_memory() -> None:
    """Hand the heap memory the read freed back to the system (glibc's ``malloc_trim``; a
    no-op elsewhere). The batches' rows and arrays leave about 1.5 times the columns' size
    free but held in the heap, and the arrays of a large store's fit are too large to reuse
    it (they are mapped apart): at 1,000,000 deals it would sit under the fit's peak."""
    if _TRIM is not None:
        _TRIM(0)


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(None)
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    return trim


_TRIM = _malloc_trim()


def _sqlite_param(value: Any) -> Any:
    """A bound value as SQLite stores it (ids as 32 hex digits, as ``Uuid`` binds them)."""
    return value.hex if isinstance(value, UUID) else value
