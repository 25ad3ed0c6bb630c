"""``ColumnReader`` on SQL: one streamed query per table selecting only the needed columns,
straight into arrays (``DealColumns``): no domain object per deal, transition or activity.

On SQLite, times and ids are read as the text they are stored as and parsed in bulk (numpy
parses the timestamps), and money as its integer cents; PostgreSQL's driver hands over
native values. Either way the numbers equal what the domain objects hold.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any
from uuid import UUID

import numpy as np
import orjson
from numpy.typing import NDArray
from sqlalchemy import Integer, Select, String, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from pie.domain.model import EntityKind
from pie.mining.columns import (
    NO_TIME,
    ColumnsBuilder,
    DealColumns,
    objection_arrays,
    role_bits,
    stage_code,
)
from pie.mining.eventlog_arrays import to_micros
from pie.simulation.streams import identity_of

from .repositories import ACCOUNTS, DEALS, REFS, STAKEHOLDERS
from .tables import ActivityRow, StageTransitionRow

ACTS = ActivityRow.__table__
TRANS = StageTransitionRow.__table__
BATCH = 50_000
Int = NDArray[np.int64]
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

    def _times(self, values: Sequence[Any]) -> Int:
        if self._sqlite:  # naive UTC text; None becomes NaT, which is NO_TIME
            out: Int = np.array(values, dtype="datetime64[us]").astype(np.int64)
            return out
        return np.array([NO_TIME if v is None else to_micros(v) for v in values], np.int64)

    def _moneys(self, values: Sequence[Any]) -> Float:
        if self._sqlite:  # integer cents: cents / 100 is float(Decimal) of the same amount
            return np.array([np.nan if v is None else v / 100 for v in values], np.float64)
        return np.array([np.nan if v is None else float(v) for v in values], np.float64)

    def _uuid(self, value: Any) -> UUID:
        return UUID(hex=value) if self._sqlite else UUID(str(value))

    async def _parts(self, stmt: Select[Any]) -> AsyncIterator[list[tuple[Any, ...]]]:
        """The rows of ``stmt`` in batches, each as a list of columns. On SQLite the compiled
        statement runs on the session's own driver connection (same transaction): rows come
        as plain tuples, without a SQLAlchemy row object each (half the cost of the read)."""
        if self._sqlite:
            compiled = stmt.compile(
                dialect=self._session.get_bind().dialect,
                compile_kwargs={"render_postcompile": True},
            )
            params = compiled.construct_params()
            args = [_sqlite_param(params[name]) for name in compiled.positiontup or ()]
            connection = await self._session.connection()
            raw = await connection.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None  # an open session's connection
            cursor = await driver.execute(str(compiled), args)
            try:
                while rows := await cursor.fetchmany(BATCH):
                    yield [tuple(c) for c in zip(*rows, strict=True)]
            finally:
                await cursor.close()
            return
        result = await self._session.stream(stmt.execution_options(yield_per=BATCH))
        async for part in result.partitions(BATCH):
            yield [tuple(c) for c in zip(*part, strict=True)]

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
            async for entities, sources, externals in self._parts(chunk):
                for e, s, x in zip(entities, sources, externals, strict=True):
                    refs.setdefault(self._uuid(e), {})[s] = x
            for u, found in refs.items():
                row, own = deals[u]
                b.stream[row] = identity_of(u, own, found)

    # -- the tables ---------------------------------------------------------------------------

    def _keys(self, values: Sequence[Any]) -> list[str]:
        """Deal ids as 32 hex digits (SQLite stores them so)."""
        return list(values) if self._sqlite else [v.hex for v in values]

    async def read(self) -> DealColumns:
        b, me = ColumnsBuilder(), self._tenant
        d, a, r = DEALS.c, ACCOUNTS.c, REFS.c
        kind = str(EntityKind.DEAL)
        # the deal's stream identity needs its own source's external id (one indexed probe
        # per deal); a deal with only other sources' refs is completed below
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
                own,
                any_ref,
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
        async for (
            key,
            source,
            mine,
            some,
            stage,
            created,
            closed,
            value,
            industry,
            prob,
        ) in self._parts(deals):
            uuids = [self._uuid(k) for k in key]
            streams = []
            for u, src, x, y in zip(uuids, source, mine, some, strict=True):
                if x is not None:
                    streams.append(identity_of(u, src, {src: x}))
                else:
                    if y is not None:
                        others[u] = (len(b.ids) + len(streams), src)
                    streams.append(str(u))
            b.add_deals(
                self._keys(key),
                uuids,
                streams,
                np.array([stage_code(x) for x in stage], dtype=np.int64),
                self._times(created),
                self._times(closed),
                self._moneys(value),
                industry,
                np.array([np.nan if p is None else p for p in prob], dtype=np.float64),
            )
        await self._other_refs(b, others)
        t = TRANS.c
        trans = select(
            self._id(t.deal_id),
            t.from_stage,
            t.to_stage,
            self._time(t.at),
            t.days_in_from_stage,
            self._money(t.value),
            t.probability,
        ).where(t.tenant_id == me)
        async for deal, frm, to, at, din, value, prob in self._parts(trans.order_by(t.id)):
            b.add_transitions(
                b.deal_rows(self._keys(deal)),
                np.array([stage_code(x) for x in frm], dtype=np.int64),
                np.array([stage_code(x) for x in to], dtype=np.int64),
                self._times(at),
                np.array([np.nan if x is None else x for x in din], dtype=np.float64),
                self._moneys(value),
                np.array([np.nan if x is None else x for x in prob], dtype=np.float64),
            )
        s = STAKEHOLDERS.c
        stakes = select(
            self._id(s.deal_id),
            self._id(s.contact_id),
            self._time(s.created_at),
            self._json(s.roles),
        ).where(s.tenant_id == me, s.deal_id.is_not(None))
        async for deal, contact, created, roles in self._parts(stakes.order_by(s.id)):
            b.add_stakeholders(
                b.deal_rows(self._keys(deal)),
                b.contact_codes(self._uuid(c) for c in contact),
                self._times(created),
                np.array([role_bits(_loads(r)) for r in roles], dtype=np.int64),
            )
        c = ACTS.c
        length = func.json_array_length if self._sqlite else func.jsonb_array_length
        has = length(c.objections) > 0
        mine = (c.tenant_id == me, c.deal_id.is_not(None))
        acts = select(self._id(c.deal_id), self._time(c.occurred_at), has).where(*mine)
        async for deal, at, obj in self._parts(acts.order_by(c.id)):
            b.add_activities(
                b.deal_rows(self._keys(deal)), self._times(at), np.array(obj, dtype=np.bool_)
            )
        noted = select(c.deal_id).where(c.tenant_id == me, has)
        detail = select(
            self._id(c.deal_id),
            self._time(c.occurred_at),
            self._json(c.participants),
            self._json(c.objections),
        ).where(c.tenant_id == me, c.deal_id.in_(noted))
        async for deal, at, people, objections in self._parts(detail.order_by(c.id)):
            b.add_details(
                b.deal_rows(self._keys(deal)),
                self._times(at),
                [b.contact_codes(UUID(str(p)) for p in _loads(ps)) for ps in people],
                [objection_arrays(_loads(os)) for os in objections],
            )
        return b.build()


def _loads(value: Any) -> Any:
    """A JSON value: text parsed with orjson; what the driver already decoded, as is."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _sqlite_param(value: Any) -> Any:
    """A bound value as SQLite stores it (ids as 32 hex digits, as ``Uuid`` binds them)."""
    return value.hex if isinstance(value, UUID) else value
