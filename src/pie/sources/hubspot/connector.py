"""The HubSpot connector: a resumable ``Source`` (``pie.importing.source``) over the CRM API,
imported with ``import_source(uow, source, hubspot.api_mapper, vendor="hubspot")``.

Streams, in the order they are stored: ``pipelines`` (stage metadata for the mapper), then
``companies``, ``contacts``, ``deals``, ``calls``, ``emails``, ``meetings``, ``notes``, each
read through the search API sorted by its modification property, and ``archived:<type>`` (the
archived records, deleted in PIE). A run that reads everything then ``purge``s the records
HubSpot no longer has at all: a full sync (``full=True``), a first one, and an incremental one
whose last purge (cursor stream ``whole``) is older than ``PURGE_HORIZON``. HubSpot forgets an
archived record after ~90 days, and a GDPR delete at once: no list shows those, so only a read
of everything finds them gone; the horizon bounds how long such a record stays in PIE.

**Reading changes without losing any.** Each object type's cursor is the position of the last
stored record, ``<modified ms>|<id>``. A run starts ``overlap`` before it (the search index
lags writes: a record written just before the last run may have been invisible to it) and
reads by *keyset*: every search asks for ``modified >= t`` from the first result (no
``after`` offsets, which skip records when the result set shifts under them), with ``t`` the
last modification time read. Records read already in this run are dropped (same version). A
block of more records with one modification time than fit a page is read by id
(``modified = t and hs_object_id > last id``). So the 10,000-result cap of a search is never
reached, however many records changed. A record that comes back *changed* in the same run was
edited during it: the stream stops there, before it, and the next run reads on from it.

For each page the records are read again with ``batch/read`` (fresh values: search may show a
stale copy; deals with ``propertiesWithHistory`` for ``dealstage``) and their associations with
the v4 batch API. Custom properties (those HubSpot does not define) are asked for too and end
in the custom-field map.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pie.domain.errors import ConnectorError
from pie.domain.model import EntityKind
from pie.importing.mapping import hubspot as hs
from pie.importing.source import RawRecord
from pie.ports.uow import UnitOfWork, records_of
from pie.sources.hubspot.client import HubSpotClient

OBJECTS: tuple[str, ...] = (
    "companies",
    "contacts",
    "deals",
    "calls",
    "emails",
    "meetings",
    "notes",
)
#: object type -> the object types whose associations its records bring
ASSOCIATIONS: Mapping[str, tuple[str, ...]] = {
    "companies": (),
    "contacts": ("companies",),
    "deals": ("companies", "contacts"),
    **dict.fromkeys(("calls", "emails", "meetings", "notes"), ("deals", "contacts", "companies")),
}
SEARCH_LIMIT = 200  # the most a search page holds
#: the cursor stream that holds when the last purge's read began (ISO 8601, UTC)
WHOLE = "whole"
#: an incremental sync reads everything and purges when the last purge is older than this
PURGE_HORIZON = timedelta(days=30)
BATCH_LIMIT = 100  # the most a batch read takes (50 with propertiesWithHistory)


def _ms(text: str) -> int:
    from pie.importing import values as v

    return int(v.to_timestamp(text).timestamp() * 1000)


class HubSpotSource:
    name = "hubspot"
    resumable = True

    def __init__(
        self,
        client: HubSpotClient,
        *,
        objects: Sequence[str] = OBJECTS,
        overlap: timedelta = timedelta(minutes=5),
        name: str = "hubspot",
        page_size: int = SEARCH_LIMIT,
        full: bool = False,
    ) -> None:
        self.client = client
        self.full = full  # read everything, whatever the cursors say
        self.objects = tuple(o for o in OBJECTS if o in objects)
        self.overlap_ms = int(overlap.total_seconds() * 1000)
        self.name = name
        self.label = client.base_url
        self.page_size = page_size
        self.streams = (
            hs.PIPELINES,
            *self.objects,
            *(f"{hs.ARCHIVED}{o}" for o in reversed(self.objects)),
            WHOLE,  # no records: its cursor is written by ``purge``
        )
        #: records read per stream in the last run (including the overlap), for reports
        self.read: dict[str, int] = {}
        #: streams that stopped early because a record changed during the run
        self.stopped: set[str] = set()
        #: object type -> ids of the records read in this run (live ones)
        self.listed: dict[str, set[str]] = {o: set() for o in self.objects}
        self.finished = False  # every stream was read to its end
        #: this run reads everything (``full``, a first sync, or the last purge is too old)
        self.whole = False
        self.began = datetime.now(UTC)  # when this run began reading
        self.last_purge: datetime | None = None  # when the last purge's read began

    async def aclose(self) -> None:
        await self.client.aclose()

    async def records(self, since: Mapping[str, str]) -> AsyncIterator[RawRecord]:
        self.finished = False
        self.listed = {o: set() for o in self.objects}
        self.began = datetime.now(UTC)
        self.last_purge = _when(since.get(WHOLE))
        first = not any(since.get(o) for o in self.objects)
        stale = self.last_purge is not None and self.last_purge < self.began - PURGE_HORIZON
        self.whole = self.full or first or stale
        if self.whole:
            since = {}
        if "deals" in self.objects:
            for pipeline in await self.client.pipelines("deals"):
                yield RawRecord(hs.PIPELINES, pipeline, f"pipeline {pipeline.get('id')}")
        for object_type in self.objects:
            async for raw in self._changed(object_type, since.get(object_type)):
                yield raw
        for object_type in reversed(self.objects):
            async for raw in self._archived(object_type):
                yield raw
        self.finished = True

    async def _properties(self, object_type: str) -> list[str]:
        wanted = set(hs.PROPERTIES[object_type])
        for prop in await self.client.properties(object_type):
            if not prop.get("hubspotDefined") and not prop.get("archived"):
                wanted.add(str(prop["name"]))
        return sorted(wanted)

    async def _changed(self, object_type: str, cursor: str | None) -> AsyncIterator[RawRecord]:
        modified = hs.MODIFIED[object_type]
        properties = await self._properties(object_type)
        start = 0
        if cursor:
            start = max(int(cursor.split("|", 1)[0]) - self.overlap_ms, 0)
        seen: dict[str, int] = {}  # id -> modification time read in this run
        t, block = start, False  # block: reading the records modified at exactly t by id
        last_id = 0
        page_no = 0
        self.read[object_type] = 0
        while True:
            if block:
                filters = [_filter(modified, "EQ", t)]
                if last_id:
                    filters.append(_filter("hs_object_id", "GT", last_id))
                sort = "hs_object_id"
            else:
                filters, sort = [_filter(modified, "GTE", t)], modified
            body = {
                "filterGroups": [{"filters": filters}],
                "sorts": [{"propertyName": sort, "direction": "ASCENDING"}],
                "properties": [modified],
                "limit": self.page_size,
                "after": "0",
            }
            page = await self.client.search(object_type, body)
            page_no += 1
            results = page.get("results") or []
            full = bool((page.get("paging") or {}).get("next"))
            fresh: list[tuple[str, int]] = []
            changed = False
            for result in results:
                ident = str(result["id"])
                at = _ms(str((result.get("properties") or {}).get(modified)))
                if ident in seen:
                    if seen[ident] != at:
                        changed = True  # edited during this run: stop before it
                        break
                    continue
                fresh.append((ident, at))
            for raw in await self._read(object_type, fresh, properties, page_no):
                seen[str(raw.data["id"])] = int(str(raw.position).split("|", 1)[0])
                self.read[object_type] += 1
                yield raw
            if changed:
                self.stopped.add(object_type)
                return
            if not results:
                if block:  # the block at t is read: on after it
                    block, t, last_id = False, t + 1, 0
                    continue
                return
            last_at = _ms(str((results[-1].get("properties") or {}).get(modified)))
            if block:
                if not full:
                    block, t, last_id = False, t + 1, 0
                else:
                    last_id = int(results[-1]["id"])
                continue
            if not full:
                return
            if last_at == t:
                block, last_id = True, 0  # a whole page modified at t: read that block by id
            else:
                t = last_at

    async def _read(
        self, object_type: str, found: list[tuple[str, int]], properties: list[str], page: int
    ) -> list[RawRecord]:
        """The records of a search page, read whole (history and associations), in order."""
        if not found:
            return []
        ids = [ident for ident, _ in found]
        with_history = ["dealstage"] if object_type == "deals" else []
        step = 50 if with_history else BATCH_LIMIT
        records: dict[str, dict[str, Any]] = {}
        for n in range(0, len(ids), step):
            chunk = ids[n : n + step]
            for record in await self.client.batch_read(
                object_type, chunk, properties, with_history
            ):
                records[str(record["id"])] = record
        links: dict[str, dict[str, dict[str, list[str]]]] = {}  # id -> type -> id -> labels
        for to_type in ASSOCIATIONS[object_type]:
            for n in range(0, len(ids), BATCH_LIMIT):
                chunk = ids[n : n + BATCH_LIMIT]
                for ident, others in (
                    await self.client.associations(object_type, to_type, chunk)
                ).items():
                    links.setdefault(ident, {})[to_type] = others
        out = []
        for k, (ident, at) in enumerate(found):
            read = records.get(ident)
            if read is None:
                continue  # archived or deleted since the search: the archive stream has it
            record = read
            self.listed[object_type].add(ident)
            record["associations"] = {
                to: {
                    "results": [
                        {"id": other, "type": f"{object_type}_to_{to}"}
                        | ({"labels": labels} if labels else {})
                        for other, labels in links.get(ident, {}).get(to, {}).items()
                    ]
                }
                for to in ASSOCIATIONS[object_type]
            }
            out.append(
                RawRecord(
                    object_type,
                    record,
                    f"{object_type} page {page}, record {k + 1}",
                    position=f"{at}|{ident}",
                )
            )
        return out

    async def _archived(self, object_type: str) -> AsyncIterator[RawRecord]:
        stream = f"{hs.ARCHIVED}{object_type}"
        after: str | None = None
        page = 0
        while True:
            params = {"archived": "true", "limit": "100", "properties": "hs_object_id"}
            if after:
                params["after"] = after
            body = await self.client.list_page(object_type, params)
            page += 1
            for k, record in enumerate(body.get("results") or []):
                yield RawRecord(
                    stream, record, f"archived {object_type} page {page}, record {k + 1}"
                )
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return


async def purge(uow: UnitOfWork, source: HubSpotSource, *, name: str) -> dict[EntityKind, int]:
    """After a run that read everything (``source.whole``): delete the records of this source
    (ids kept under ``name``) that HubSpot no longer has, neither live nor archived (purged:
    archived records are deleted after 90 days, and the archive list forgets them). A record
    counts as there when any of its external ids was read (the ids merged into a record name it
    too). Only kinds whose object types were all read whole, without a stop, are purged; when
    every kind was, the purge is noted (cursor ``whole``): the next one is due
    ``PURGE_HORIZON`` later. A connection with no purge noted yet (synced before purges were
    noted) starts that clock now. Returns the deletes."""
    deleted: dict[EntityKind, int] = {}
    if not (source.whole and source.finished):
        if source.last_purge is None and source.finished:
            await _note_purge(uow, name, source.began)
        return deleted
    by_kind: dict[EntityKind, list[str]] = {}
    for object_type in OBJECTS:
        by_kind.setdefault(hs.KINDS[object_type], []).append(object_type)
    every = True
    for kind, types in by_kind.items():
        if any(t not in source.objects or t in source.stopped for t in types):
            every = False
            continue
        listed = set().union(*(source.listed[t] for t in types))
        async with uow:
            stored = await uow.refs.of_source(kind, name)
            live = {stored[ext] for ext in listed if ext in stored}
            gone = sorted({ident for ident in stored.values() if ident not in live})
            repo = records_of(uow, kind)
            n = 0
            for ident in gone:
                n += await repo.delete(ident, origin=name)
            await uow.commit()
        if n:
            deleted[kind] = n
    if every:
        await _note_purge(uow, name, source.began)
    return deleted


async def _note_purge(uow: UnitOfWork, name: str, began: datetime) -> None:
    async with uow:
        await uow.cursors.save(name, WHOLE, began.isoformat())
        await uow.commit()


def _when(value: str | None) -> datetime | None:
    """A ``whole`` cursor's time (None when there is none or it cannot be read)."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _filter(name: str, operator: str, value: int) -> dict[str, str]:
    return {"propertyName": name, "operator": operator, "value": str(value)}


__all__ = ["ConnectorError", "HubSpotSource"]
