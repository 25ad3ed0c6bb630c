"""The Pipedrive connector: a resumable ``Source`` over API v2, with v1 only for deal flow.

Streams, in the order they are stored (a record comes after what it refers to):
``organizations`` -> accounts, ``persons`` -> contacts, ``deals`` (with their v1 flow) ->
deals, primary stakeholders and stage transitions, ``activities`` -> activities. Before the
first record it reads the metadata the mapper needs: pipelines and stages (v2), the custom
field definitions (v1 ``dealFields``, ``personFields``, ``organizationFields``) and the users
(v1 ``users``: owners by name).

Incremental: each stream is listed with ``updated_since`` = its cursor's time minus
``overlap``, ``sort_by=update_time`` ascending (ties by id), and ``updated_until`` = the start
of the run by the API's clock (its ``Date`` header), rounded up to the second, the same for
every stream. So a run sees one moment of the account: a person created while organizations
were read waits for the next run with its organization, and a record changed during the run
is read next time instead of twice (should one still come twice, as it may in the run's first
second, the second is left to the next run, whose overlap covers it). A record's position is
``update_time|id|read_at`` (``read_at``: when the run began, by the API's clock; every run
re-reads at least the cursor's own record, so it stays fresh); the sink commits positions
with the batch that stores them, so the cursor
never passes a record that was not stored. Re-read records are cheap: the pipeline skips those
whose digest is stored already. Deals are listed with ``status=open,won,lost,deleted``;
deleted persons, organizations and activities come with ``is_deleted``. Both delete the
stored record (origin ``pipedrive``). Each record carries, as ``_metadata``, the definitions
its mapping needs (stages and pipelines for deals, custom fields), and each live deal its
flow as ``_flow``.

Pipedrive purges deleted records 30 days after deletion, so a delete can be missed: a stream
last read (``read_at``) longer ago than ``PURGE_HORIZON`` is read whole, like every stream of a
full sync (``full=True``), and is then *reconciled* (``reconcile``): every stored record of
this source that the read did not list, and that the API confirms is gone (404 or deleted),
is deleted.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from pie.domain.model import EntityKind
from pie.importing.mapping import pipedrive as mapping
from pie.importing.report import ImportReport
from pie.importing.service import import_source
from pie.importing.source import RawRecord
from pie.ports.uow import UnitOfWork, records_of
from pie.sources.pipedrive.client import ApiNotFound, PipedriveClient

SOURCE = "pipedrive"
OVERLAP = timedelta(minutes=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PURGE_HORIZON = timedelta(days=29)  # Pipedrive keeps deleted records 30 days
#: v2 sends a deal's participant count only when ``include_fields`` asks for it; without it
#: every live deal's participants would be asked for (a v1 call each)
PARTICIPANTS_COUNT = "participants_count"
RETRY = "retry"
MAX_RETRY = 5000  # rejected ids kept per stream


class PipedriveSource:
    """``records(since)`` pages through every stream after its cursor (see the module)."""

    resumable = True
    #: the record streams, and ``retry``: the cursor row that lists, per stream, the records
    #: rejected so far (no record comes in it; ``remember_rejected`` writes it)
    streams: tuple[str, ...] = (*mapping.STREAMS, RETRY)

    def __init__(
        self,
        client: PipedriveClient,
        *,
        name: str = SOURCE,
        page_size: int = 500,
        overlap: timedelta = OVERLAP,
        full: bool = False,
        flow_concurrency: int = 4,
    ) -> None:
        self.client, self.name, self.label = client, name, client.label
        self.page_size, self.overlap, self.full = page_size, overlap, full
        self.flow_concurrency = flow_concurrency
        self.read: dict[str, int] = dict.fromkeys(self.streams, 0)  # records read per stream
        #: stream -> the ``_metadata`` its records carry (one shared object per run)
        self._metadata: dict[str, dict[str, Any]] = {}
        #: streams read whole in this run (full, or past the purge horizon): to reconcile
        self.whole: set[str] = set()
        #: stream -> ids of the live records listed in this run
        self.listed: dict[str, set[str]] = {s: set() for s in mapping.STREAMS}
        #: stream -> ids rejected before, read again at the start of this run
        self.retry: dict[str, list[str]] = {}
        self.retried: dict[str, set[str]] = {s: set() for s in mapping.STREAMS}
        self.finished = False  # every stream was read to its end

    async def aclose(self) -> None:
        await self.client.aclose()

    async def load_metadata(self) -> None:
        """Pipelines and stages (v2), custom field definitions and users (v1), once per
        run."""
        client = self.client
        pipelines = [r async for page in client.pages_v2("pipelines", {}) for r in page]
        stages = [r async for page in client.pages_v2("stages", {}) for r in page]
        fields = {
            entity: await client.all_v1(f"/api/v1/{entity}Fields")
            for entity in mapping.FIELD_ENTITIES.values()
        }
        users = [
            {"id": u.get("id"), "name": u.get("name")}
            for u in (await client.get("/api/v1/users")).get("data") or ()
        ]
        self._metadata = {
            stream: {"fields": {entity: fields[entity]}}
            for stream, entity in mapping.FIELD_ENTITIES.items()
        }
        self._metadata[mapping.DEALS] |= {"pipelines": pipelines, "stages": stages}
        for stream in (mapping.DEALS, mapping.ORGANIZATIONS):
            self._metadata[stream]["users"] = users

    async def records(self, since: Mapping[str, str]) -> AsyncIterator[RawRecord]:
        await self.load_metadata()
        now = self.client.server_time or datetime.now(UTC)
        until = _ceil_second(now)
        self.retry = _retry_list(since.get(RETRY))
        for stream in mapping.STREAMS:
            cursor = None if self.full else since.get(stream)
            whole = cursor is None or _read_at(cursor) < now - PURGE_HORIZON
            async for raw in self._stream(stream, None if whole else cursor, until, now):
                yield raw
            if whole:
                self.whole.add(stream)
        self.finished = True

    async def _stream(
        self, stream: str, cursor: str | None, until: datetime, now: datetime
    ) -> AsyncIterator[RawRecord]:
        start = _cursor_time(cursor) - self.overlap if cursor else EPOCH
        params: dict[str, Any] = {
            "sort_by": "update_time",
            "sort_direction": "asc",
            "updated_since": _rfc3339(start),
            "updated_until": _rfc3339(until),
        }
        if stream == mapping.DEALS:
            params["status"] = "open,won,lost,deleted"
            params["include_fields"] = PARTICIPANTS_COUNT
        metadata = self._metadata.get(stream)
        last = _key(cursor) if cursor else None  # (update_time, id) as text: sorts as listed
        read_at = _rfc3339(now)
        number = 0
        seen: set[Any] = set()
        async for raw in self._retried(stream, metadata, seen):
            yield raw
        async for page in self.client.pages_v2(stream, params, limit=self.page_size):
            number += 1
            if stream == mapping.DEALS:
                await self._attach_flows(page)
            for n, record in enumerate(page, start=1):
                if record.get("id") in seen:
                    continue  # changed while this run read: its new state comes next run
                seen.add(record.get("id"))
                self.read[stream] += 1
                if not mapping.is_deleted(record):
                    self.listed[stream].add(str(record.get("id")))
                if metadata is not None:
                    record[mapping.METADATA] = metadata
                key = _position(record) or last
                if last is not None and key is not None and key < last:
                    key = last  # re-read within the overlap: the cursor does not go back
                last = key
                position = f"{key}|{read_at}" if key is not None else None
                yield RawRecord(stream, record, f"{stream} page {number}, record {n}", position)

    async def _retried(
        self, stream: str, metadata: dict[str, Any] | None, seen: set[Any]
    ) -> AsyncIterator[RawRecord]:
        """The stream's records rejected before (a bad value then, or a parent that was
        rejected), read again by id: one fixed since lands, with what refers to it, though
        the cursor passed it. They move no cursor."""
        for n, ext in enumerate(self.retry.get(stream, ()), start=1):
            try:
                asked = {"include_fields": PARTICIPANTS_COUNT} if stream == mapping.DEALS else None
                record = (await self.client.get(f"/api/v2/{stream}/{ext}", asked)).get("data")
            except ApiNotFound:
                record = None
            self.retried[stream].add(ext)
            if not isinstance(record, dict):
                continue  # gone: nothing to retry
            if stream == mapping.DEALS:
                await self._attach_flows([record])
            if metadata is not None:
                record[mapping.METADATA] = metadata
            seen.add(record.get("id"))
            if not mapping.is_deleted(record):
                self.listed[stream].add(str(record.get("id")))
            self.read[stream] += 1
            yield RawRecord(stream, record, f"{stream} retry, record {n}")

    async def _attach_flows(self, page: list[dict[str, Any]]) -> None:
        """Each live deal of the page gets its v1 flow (``dealChange`` items) as ``_flow``
        and, when others than its person take part (``participants_count``; asked when the
        record does not say), its v1 participants as ``_participants``."""
        gate = asyncio.Semaphore(self.flow_concurrency)

        async def one(deal: dict[str, Any]) -> None:
            async with gate:
                deal[mapping.FLOW] = await self.client.all_v1(
                    f"/api/v1/deals/{deal['id']}/flow", {"items": "dealChange"}, limit=100
                )
            count = deal.get("participants_count")
            if isinstance(count, int) and count <= (1 if deal.get("person_id") else 0):
                return
            async with gate:
                deal[mapping.PARTICIPANTS] = await self.client.all_v1(
                    f"/api/v1/deals/{deal['id']}/participants", {}, limit=100
                )

        live = [d for d in page if d.get("status") != "deleted" and not d.get("is_deleted")]
        tasks = [asyncio.ensure_future(one(d)) for d in live]
        if not tasks:
            return
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in pending:  # one failed: stop the others before raising its error
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        errors = [e for t in done if not t.cancelled() and (e := t.exception()) is not None]
        if errors:  # every error is retrieved (else asyncio warns); the first is raised
            raise errors[0]


async def sync(
    uow: UnitOfWork,
    source: PipedriveSource,
    *,
    stage_map: Path | None = None,
    skip_bad_rows: bool = True,
    chunk_size: int = 500,
) -> ImportReport:
    """Import what changed in Pipedrive since the committed cursors (everything with
    ``source.full``): bad records are listed in the report, the rest lands."""
    report = await import_source(
        uow,
        source,
        mapping.mapper,
        vendor=SOURCE,
        stage_map=stage_map,
        skip_bad_rows=skip_bad_rows,
        chunk_size=chunk_size,
    )
    await after_import(uow, source, report)
    return report


async def after_import(
    uow: UnitOfWork, source: PipedriveSource, report: ImportReport, *, name: str | None = None
) -> None:
    """What a sync does once ``import_source`` is through: reconcile the streams read whole,
    and remember the records that were not stored, to read them again next time."""
    deleted = await reconcile(uow, source, name=name)
    for kind, n in deleted.items():
        report.deleted[kind] = report.deleted.get(kind, 0) + n
    await remember_rejected(uow, source, name=name)


async def remember_rejected(
    uow: UnitOfWork, source: PipedriveSource, *, name: str | None = None
) -> None:
    """Save (cursor row ``retry``) the ids of the records this run listed but did not store
    (rejected, or referring to a rejected record), and those due again but not read."""
    name = name or source.name
    keep: dict[str, list[str]] = {}
    async with uow:
        for stream in mapping.STREAMS:
            listed = sorted(source.listed[stream])
            stored: set[str] = set()
            for start in range(0, len(listed), 1000):
                chunk = listed[start : start + 1000]
                stored |= set(await uow.refs.resolve(mapping.KINDS[stream], name, chunk))
            due = [i for i in source.retry.get(stream, ()) if i not in source.retried[stream]]
            ids = sorted({*(i for i in listed if i not in stored), *due})
            if ids:
                keep[stream] = ids[:MAX_RETRY]
        if keep or source.retry:
            await uow.cursors.save(name, RETRY, json.dumps(keep, sort_keys=True))
            await uow.commit()


async def reconcile(
    uow: UnitOfWork, source: PipedriveSource, *, name: str | None = None
) -> dict[EntityKind, int]:
    """After a read: for each stream read whole, delete the stored records of this source
    (``name``, default the source's) that were not listed and that the API confirms are gone
    (purged: 404; or deleted). Returns the records deleted per kind."""
    name = name or source.name
    deleted: dict[EntityKind, int] = {}
    for stream in reversed(source.streams):  # activities before the deals they belong to
        if stream not in source.whole:
            continue
        kind = mapping.KINDS[stream]
        async with uow:
            missing = await _unlisted(uow, kind, name, source.listed[stream])
        gone = [(ext, ident) for ext, ident in missing if await _gone(source, stream, ext)]
        if not gone:
            continue
        async with uow:
            repo = records_of(uow, kind)
            n = 0
            for _, ident in gone:
                n += await repo.delete(ident, origin=name)
            await uow.commit()
        deleted[kind] = n
    return deleted


async def _unlisted(
    uow: UnitOfWork, kind: EntityKind, name: str, listed: set[str]
) -> list[tuple[str, UUID]]:
    out: list[tuple[str, UUID]] = []
    async for batch in records_of(uow, kind).iter_all():
        for record in batch:
            ext = record.external_ids.get(name)
            if ext is not None and ext not in listed:
                out.append((ext, record.id))
    return out


async def _gone(source: PipedriveSource, stream: str, ext: str) -> bool:
    """Whether the API no longer has the record (a record changed after the run's window
    began is not listed, yet alive)."""
    try:
        body = await source.client.get(f"/api/v2/{stream}/{ext}")
    except ApiNotFound:
        return True
    return mapping.is_deleted(body.get("data") or {})


def _rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ceil_second(t: datetime) -> datetime:
    return datetime.fromtimestamp(math.floor(t.timestamp()) + 1, tz=UTC)


def _position(record: Mapping[str, Any]) -> str | None:
    """``update_time|id`` (zero-padded), which sorts as the list does; None if unreadable."""
    try:
        at = datetime.fromisoformat(str(record["update_time"]).replace("Z", "+00:00"))
        return f"{_rfc3339(at)}|{int(record['id']):012d}"
    except (KeyError, TypeError, ValueError):
        return None


def _retry_list(value: str | None) -> dict[str, list[str]]:
    try:
        decoded = json.loads(value) if value else {}
    except ValueError:
        return {}
    if not isinstance(decoded, dict):
        return {}
    return {str(k): [str(i) for i in v] for k, v in decoded.items() if isinstance(v, list)}


def _key(cursor: str) -> str:
    """``update_time|id`` of a position."""
    return "|".join(cursor.split("|")[:2])


def _read_at(cursor: str) -> datetime:
    """When the run that committed ``cursor`` began (its record's time for older cursors)."""
    parts = cursor.split("|")
    text = parts[2] if len(parts) > 2 else parts[0]
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _cursor_time(cursor: str) -> datetime:
    return datetime.fromisoformat(cursor.split("|", 1)[0].replace("Z", "+00:00"))
