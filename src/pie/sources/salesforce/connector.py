"""The Salesforce connector: a resumable ``Source`` of the org's records, in the order they
must be stored, each with its stream's position ``"<SystemModstamp>|<Id>"``.

Streams (``pie.importing.mapping.salesforce.API_STREAMS``): ``stages`` (every OpportunityStage
as one record: metadata the mapper learns custom stages from), then ``accounts``,
``contacts``, ``deals`` (Opportunity), ``contact_roles`` (OpportunityContactRole),
``tasks``, ``calendar_events`` (Event) and ``stage_history`` (OpportunityHistory, one record
per opportunity with all its rows).

Each stream is one SOQL query, ``WHERE SystemModstamp >= <cursor - overlap> ORDER BY
SystemModstamp, Id``, paged with ``nextRecordsUrl``. Reading runs ahead of storing
(``pie.sources.readahead``): a few pages, of this stream or the next ones, are fetched while
the current one is mapped and stored; an error or a stop reaches the sink only after the pages
read before it, so the cursor never passes a record that was not stored. Records re-read in
the overlap are dropped when already met in this run and are otherwise cheap (their digest is
unchanged). For ``stage_history`` the changed rows only say which opportunities changed; their
whole histories are then read, so each opportunity's transitions are rebuilt from all its rows.

When the org's daily API quota runs out the source stops where it is (``stopped`` says why):
what was read is stored and checkpointed, and the next sync resumes there.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pie.importing.mapping import salesforce as m
from pie.importing.source import RawRecord
from pie.sources.readahead import read_ahead
from pie.sources.salesforce import soql
from pie.sources.salesforce.client import QuotaExceeded, SalesforceClient

DEFAULT_OVERLAP = timedelta(minutes=1)
HISTORY_IDS_PER_QUERY = 200  # opportunity ids per ``OpportunityId IN (...)`` query
PAGES_AHEAD = 3  # pages read ahead of the one being stored


@dataclass(frozen=True, slots=True)
class Stream:
    name: str
    sobject: str
    fields: tuple[str, ...]  # without the object's custom fields
    custom: bool = False  # and its custom (``__c``) fields, found with describe
    #: an activity: Salesforce archives those older than a year, which only ``queryAll``
    #: returns (with ``IsDeleted = false``: not the deleted ones)
    archived: bool = False


_STAMPS = ("CreatedDate", "LastModifiedDate", "SystemModstamp")
STREAMS: tuple[Stream, ...] = (
    Stream(
        m.ACCOUNTS,
        "Account",
        (
            *("Id", "Name", "Industry", "Website", "AnnualRevenue", "NumberOfEmployees"),
            *("BillingCountry", "Owner.Name", *_STAMPS),
        ),
        custom=True,
    ),
    Stream(
        m.CONTACTS,
        "Contact",
        (
            *("Id", "AccountId", "FirstName", "LastName", "Email", "Title", "Phone"),
            *("Department", *_STAMPS),
        ),
    ),
    Stream(
        m.DEALS,
        "Opportunity",
        (
            *("Id", "Name", "AccountId", "OwnerId", "Owner.Name", "StageName", "Amount"),
            *("Probability", "CloseDate", "IsClosed", "IsWon", "LeadSource", "CurrencyIsoCode"),
            *_STAMPS,
        ),
        custom=True,
    ),
    Stream(
        m.CONTACT_ROLES,
        "OpportunityContactRole",
        (
            *("Id", "OpportunityId", "Opportunity.AccountId", "ContactId", "Role", "IsPrimary"),
            *_STAMPS,
        ),
    ),
    Stream(
        m.TASKS,
        "Task",
        (
            *("Id", "Subject", "Type", "TaskSubtype", "ActivityDate", "WhoId", "WhatId"),
            *("AccountId", "Description", *_STAMPS),
        ),
        archived=True,
    ),
    Stream(
        m.CALENDAR,
        "Event",
        (
            *("Id", "Subject", "Type", "StartDateTime", "WhoId", "WhatId", "AccountId"),
            *("Description", *_STAMPS),
        ),
        archived=True,
    ),
)
STAGE_FIELDS: tuple[str, ...] = (
    *("Id", "ApiName", "MasterLabel", "SortOrder", "IsActive", "IsClosed", "IsWon"),
    *("DefaultProbability", "ForecastCategoryName"),
)
HISTORY_FIELDS: tuple[str, ...] = (
    *("Id", "OpportunityId", "StageName", "Amount", "Probability", "CloseDate"),
    *("CreatedDate", "SystemModstamp"),
)


#: Each deleted object's own stream (whose cursor bounds what of it can be stored).
UPSERTED_IN = {stream.sobject: stream.name for stream in STREAMS}


def position(record: Mapping[str, Any]) -> str:
    return f"{record['SystemModstamp']}|{record['Id']}"


def since_time(cursor: str | None, overlap: timedelta) -> datetime | None:
    """The time a stream's next query starts at: its cursor's time less the overlap."""
    if not cursor:
        return None
    return soql.parse_sf_datetime(cursor.split("|", 1)[0]) - overlap


class SalesforceSource:
    """One sync's reading of an org (``pie.importing.source.Source``)."""

    name = "salesforce"
    resumable = True
    streams: tuple[str, ...] = m.API_STREAMS

    def __init__(
        self,
        client: SalesforceClient,
        *,
        overlap: timedelta = DEFAULT_OVERLAP,
        full: bool = False,
        name: str = "salesforce",
    ) -> None:
        self.client, self.overlap, self.full, self.name = client, overlap, full, name
        self.label = client.credentials.login_url
        self.stopped: str | None = None  # why the last run stopped early (the quota)
        self.read: dict[str, int] = {}  # records read per stream
        self.pages = 0
        self._fields: dict[str, tuple[str, ...]] = {}
        #: stream -> ids of records rejected before, read again first (then ``retried``)
        self.retry: dict[str, list[str]] = {}
        self.retried: set[str] = set()
        #: objects whose deletes can no longer all be read (the recycle bin was emptied since
        #: the last sync): they need a full reconciliation (``sync`` does it)
        self.reconcile: list[str] = []

    async def records(self, since: Mapping[str, str]) -> AsyncIterator[RawRecord]:
        async for page in read_ahead(self._read(since), depth=PAGES_AHEAD):
            for raw in page:
                yield raw

    async def _read(self, since: Mapping[str, str]) -> AsyncIterator[list[RawRecord]]:
        """The records, a page at a time (a list, maybe empty, per page read)."""
        self.stopped, self.read, self.pages, self.retried = None, {}, 0, set()
        self.reconcile = []
        since = {} if self.full else since
        try:
            stages = [r async for r in self._all(_select(STAGE_FIELDS, "OpportunityStage"))]
            began = self.client.server_time or datetime.now(UTC)  # the org's clock
            self.read[m.STAGES] = len(stages)
            yield [RawRecord(m.STAGES, {"records": stages}, "OpportunityStage metadata")]
            for stream in STREAMS:
                async for page in self._stream(stream, since.get(stream.name)):
                    yield page
            async for page in self._history(since.get(m.STAGE_HISTORY)):
                yield page
            for sobject in m.DELETED_OBJECTS:
                # No delete cursor yet: what this source stored was read at or after its own
                # stream's cursor, so it can only have been deleted after that.
                cursor = since.get(f"deleted:{sobject}") or since.get(UPSERTED_IN[sobject])
                async for page in self._deleted(sobject, cursor, began):
                    yield page
        except QuotaExceeded as exc:
            self.stopped = str(exc)

    async def fields(self, stream: Stream) -> tuple[str, ...]:
        """The stream's fields that the org has, and its custom fields."""
        if stream.name not in self._fields:
            described = await asyncio.to_thread(self.client.describe, stream.sobject)
            have = {f["name"] for f in described.get("fields") or ()}
            chosen = [f for f in stream.fields if f in have or _relation_ok(f, have)]
            if stream.custom:
                chosen += [
                    f["name"]
                    for f in described.get("fields") or ()
                    if f.get("custom") and f["name"] not in chosen
                ]
            self._fields[stream.name] = tuple(chosen)
        return self._fields[stream.name]

    async def _stream(self, stream: Stream, cursor: str | None) -> AsyncIterator[list[RawRecord]]:
        fields = await self.fields(stream)
        name, sobject = stream.name, stream.sobject
        seen: set[str] = set()
        again = self.retry.get(name) or []
        every = stream.archived  # queryAll, for the archived activities
        live = ["IsDeleted = false"] if every else []
        for i in range(0, len(again), HISTORY_IDS_PER_QUERY):
            chunk = ", ".join(soql.quote(x) for x in again[i : i + HISTORY_IDS_PER_QUERY])
            where = " AND ".join([*live, f"Id IN ({chunk})"])
            async for page in self._pages(_select(fields, sobject, where), deleted=every):
                records = page.get("records") or ()
                seen.update(r["Id"] for r in records)
                self.read[name] = self.read.get(name, 0) + len(records)
                yield [
                    RawRecord(name, r, f"{sobject} {r['Id']} (rejected before)") for r in records
                ]
            self.retried.update(again[i : i + HISTORY_IDS_PER_QUERY])
        start = since_time(cursor, self.overlap)
        since = [f"SystemModstamp >= {soql.soql_datetime(start)}"] if start else []
        query = _select(fields, sobject, " AND ".join([*live, *since]), "SystemModstamp, Id")
        page_no = 0
        async for page in self._pages(query, deleted=every):
            page_no += 1
            out: list[RawRecord] = []
            for n, record in enumerate(page.get("records") or (), 1):
                ident = record.get("Id")
                if ident in seen:
                    continue
                seen.add(ident)
                where_ = f"{sobject} page {page_no}, record {n}"
                out.append(RawRecord(name, record, where_, position=position(record)))
            self.read[name] = self.read.get(name, 0) + len(out)
            yield out

    async def _history(self, cursor: str | None) -> AsyncIterator[list[RawRecord]]:
        """One record per changed opportunity: all its history rows. The last record of each
        page of changed rows carries the page's position."""
        start = since_time(cursor, self.overlap)
        where = f"SystemModstamp >= {soql.soql_datetime(start)}" if start else ""
        changed = _select(
            ("Id", "OpportunityId", "SystemModstamp"), "OpportunityHistory", where,
            "SystemModstamp, Id",
        )  # fmt: skip
        done: set[str] = set()
        again = self.retry.get(m.STAGE_HISTORY) or []
        if again:
            histories = await self._histories(again)
            retried = [o for o in again if o in histories]
            done.update(retried)
            yield [
                RawRecord(
                    m.STAGE_HISTORY,
                    {"OpportunityId": opportunity, "rows": histories[opportunity]},
                    f"OpportunityHistory of {opportunity} (rejected before)",
                )
                for opportunity in retried
            ]
            self.retried.update(again)
        if start is None:  # everything: one query, grouped by opportunity
            async for out in self._all_histories(done):
                yield out
            return
        page_no = 0
        async for page in self._pages(changed):
            page_no += 1
            rows = page.get("records") or ()
            if not rows:
                continue
            todo = list(dict.fromkeys(r["OpportunityId"] for r in rows if r["OpportunityId"]))
            todo = [o for o in todo if o not in done]
            done.update(todo)
            histories = await self._histories(todo)
            mark = position(rows[-1])
            self.read[m.STAGE_HISTORY] = self.read.get(m.STAGE_HISTORY, 0) + len(todo)
            if not todo:  # every opportunity on the page is stored already: move on
                yield [
                    RawRecord(
                        m.STAGE_HISTORY,
                        {"OpportunityId": "", "rows": []},
                        f"OpportunityHistory page {page_no}",
                        position=mark,
                    )
                ]
                continue
            yield [
                RawRecord(
                    m.STAGE_HISTORY,
                    {"OpportunityId": opportunity, "rows": histories.get(opportunity, [])},
                    f"OpportunityHistory of {opportunity} (page {page_no})",
                    position=mark if k == len(todo) - 1 else None,
                )
                for k, opportunity in enumerate(todo)
            ]

    async def _all_histories(self, done: set[str]) -> AsyncIterator[list[RawRecord]]:
        """Every opportunity's history (a first or full sync), read once, ordered by
        opportunity. The cursor is the latest SystemModstamp read, on the last record (a sync
        that stops before the end reads them all again next time)."""
        query = _select(HISTORY_FIELDS, "OpportunityHistory", "", "OpportunityId, CreatedDate, Id")
        latest: str | None = None
        current: str | None = None
        rows: list[dict[str, Any]] = []

        def group(last: bool) -> RawRecord:
            self.read[m.STAGE_HISTORY] = self.read.get(m.STAGE_HISTORY, 0) + 1
            return RawRecord(
                m.STAGE_HISTORY,
                {"OpportunityId": current, "rows": rows},
                f"OpportunityHistory of {current}",
                position=f"{latest}|" if last and latest else None,
            )

        async for page in self._pages(query):
            out: list[RawRecord] = []  # the opportunities whose rows all came
            for record in page.get("records") or ():
                stamp = record.get("SystemModstamp")
                if stamp and (latest is None or stamp > latest):
                    latest = stamp
                if record["OpportunityId"] != current:
                    if current is not None and current not in done:
                        out.append(group(False))
                    current, rows = record["OpportunityId"], []
                rows.append(record)
            yield out
        if current is not None and current not in done:
            yield [group(True)]
        elif latest:
            yield [
                RawRecord(
                    m.STAGE_HISTORY, {"OpportunityId": "", "rows": []},
                    "OpportunityHistory (all read)", position=f"{latest}|",
                )
            ]  # fmt: skip

    async def _deleted(
        self, sobject: str, cursor: str | None, began: datetime
    ) -> AsyncIterator[list[RawRecord]]:
        """The object's records deleted since the cursor (``queryAll``); none on a first sync
        (nothing was stored before it). When the recycle bin has been emptied past the
        cursor, the object is listed in ``reconcile``."""
        stream = f"deleted:{sobject}"
        start = since_time(cursor, self.overlap)
        if start is None and not self.full:
            return
        if start is not None:
            answer = await asyncio.to_thread(self.client.deleted, sobject, start, began)
            earliest = answer.get("earliestDateAvailable")
            if earliest and soql.parse_sf_datetime(earliest) > start:
                self.reconcile.append(sobject)
        where = "IsDeleted = true"
        if start is not None:
            where += f" AND SystemModstamp >= {soql.soql_datetime(start)}"
        query = _select(("Id", "SystemModstamp"), sobject, where, "SystemModstamp, Id")
        page_no = 0
        async for page in self._pages(query, deleted=True):
            page_no += 1
            yield [
                RawRecord(
                    stream, record, f"{sobject} deletes page {page_no}, record {n}",
                    position=position(record),
                )
                for n, record in enumerate(page.get("records") or (), 1)
            ]  # fmt: skip

    async def _histories(self, opportunities: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for i in range(0, len(opportunities), HISTORY_IDS_PER_QUERY):
            chunk = opportunities[i : i + HISTORY_IDS_PER_QUERY]
            where = f"OpportunityId IN ({', '.join(soql.quote(o) for o in chunk)})"
            query = _select(HISTORY_FIELDS, "OpportunityHistory", where, "CreatedDate, Id")
            async for record in self._all(query):
                out.setdefault(record["OpportunityId"], []).append(record)
        return out

    async def _all(self, query: str, *, deleted: bool = False) -> AsyncIterator[dict[str, Any]]:
        async for page in self._pages(query, deleted=deleted):
            for record in page.get("records") or ():
                yield record

    async def _pages(self, query: str, *, deleted: bool = False) -> AsyncIterator[dict[str, Any]]:
        """The query's pages; the next page is fetched while the caller works on this one."""
        client = self.client
        pending: asyncio.Future[dict[str, Any]] | None = asyncio.ensure_future(
            asyncio.to_thread(client.query, query, include_deleted=deleted)
        )
        try:
            while pending is not None:
                page = await pending
                self.pages += 1
                pending = None
                url = page.get("nextRecordsUrl")
                if not page.get("done", True) and url:
                    pending = asyncio.ensure_future(asyncio.to_thread(client.more, url))
                yield page
        finally:
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await pending


def _relation_ok(field: str, have: set[str]) -> bool:
    """``Owner.Name`` is there when ``OwnerId`` is."""
    head, dot, _ = field.partition(".")
    return bool(dot) and head + "Id" in have


def _select(fields: Sequence[str], sobject: str, where: str = "", order: str = "") -> str:
    query = f"SELECT {', '.join(fields)} FROM {sobject}"
    if where:
        query += f" WHERE {where}"
    if order:
        query += f" ORDER BY {order}"
    return query
