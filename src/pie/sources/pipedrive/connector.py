"""The Pipedrive connector: a resumable ``Source`` over API v2, with v1 only for deal flow.

Streams, in the order they are stored (a record comes after what it refers to):
``organizations`` -> accounts, ``persons`` -> contacts, ``deals`` (with their v1 flow) ->
deals, primary stakeholders and stage transitions, ``activities`` -> activities. Before the
first record it reads the metadata the mapper needs: pipelines and stages (v2) and the custom
field definitions (v1 ``dealFields``, ``personFields``, ``organizationFields``).

Incremental: each stream is listed with ``updated_since`` = its cursor's time minus
``overlap``, ``sort_by=update_time`` ascending (ties by id), and ``updated_until`` = the start
of the run by the API's clock (its ``Date`` header), rounded up to the second, the same for
every stream. So a run sees one moment of the account: a person created while organizations
were read waits for the next run with its organization, and a record changed during the run
is read next time instead of twice (should one still come twice, as it may in the run's first
second, the second is left to the next run, whose overlap covers it). A record's position is
``update_time|id``; the sink commits positions with the batch that stores them, so the cursor
never passes a record that was not stored. Re-read records are cheap: the pipeline skips those
whose digest is stored already. Deals are listed with ``status=open,won,lost,deleted``;
deleted persons, organizations and activities come with ``is_deleted``. Both delete the
stored record (origin ``pipedrive``). Each record carries, as ``_metadata``, the definitions
its mapping needs (stages and pipelines for deals, custom fields), and each live deal its
flow as ``_flow``.

Pipedrive purges deleted records 30 days after deletion: a connection that did not sync for
longer should run a full sync (``full=True``), which reads everything from the start (it does
not yet delete stored records Pipedrive no longer lists).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pie.importing.mapping import pipedrive as mapping
from pie.importing.report import ImportReport
from pie.importing.service import import_source
from pie.importing.source import RawRecord
from pie.ports.uow import UnitOfWork
from pie.sources.pipedrive.client import PipedriveClient

SOURCE = "pipedrive"
OVERLAP = timedelta(minutes=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class PipedriveSource:
    """``records(since)`` pages through every stream after its cursor (see the module)."""

    resumable = True
    streams: tuple[str, ...] = mapping.STREAMS

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

    async def aclose(self) -> None:
        await self.client.aclose()

    async def load_metadata(self) -> None:
        """Pipelines and stages (v2) and custom field definitions (v1), once per run."""
        client = self.client
        pipelines = [r async for page in client.pages_v2("pipelines", {}) for r in page]
        stages = [r async for page in client.pages_v2("stages", {}) for r in page]
        fields = {
            entity: await client.all_v1(f"/api/v1/{entity}Fields")
            for entity in mapping.FIELD_ENTITIES.values()
        }
        self._metadata = {
            stream: {"fields": {entity: fields[entity]}}
            for stream, entity in mapping.FIELD_ENTITIES.items()
        }
        self._metadata[mapping.DEALS] |= {"pipelines": pipelines, "stages": stages}

    async def records(self, since: Mapping[str, str]) -> AsyncIterator[RawRecord]:
        await self.load_metadata()
        until = _ceil_second(self.client.server_time or datetime.now(UTC))
        for stream in self.streams:
            cursor = None if self.full else since.get(stream)
            async for raw in self._stream(stream, cursor, until):
                yield raw

    async def _stream(
        self, stream: str, cursor: str | None, until: datetime
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
        metadata = self._metadata.get(stream)
        last = cursor
        number = 0
        seen: set[Any] = set()
        async for page in self.client.pages_v2(stream, params, limit=self.page_size):
            number += 1
            if stream == mapping.DEALS:
                await self._attach_flows(page)
            for n, record in enumerate(page, start=1):
                if record.get("id") in seen:
                    continue  # changed while this run read: its new state comes next run
                seen.add(record.get("id"))
                self.read[stream] += 1
                if metadata is not None:
                    record[mapping.METADATA] = metadata
                position = _position(record) or last
                if last is not None and position is not None and position < last:
                    position = last  # re-read within the overlap: the cursor does not go back
                last = position
                yield RawRecord(stream, record, f"{stream} page {number}, record {n}", position)

    async def _attach_flows(self, page: list[dict[str, Any]]) -> None:
        """Each live deal of the page gets its v1 flow (``dealChange`` items) as ``_flow``."""
        gate = asyncio.Semaphore(self.flow_concurrency)

        async def one(deal: dict[str, Any]) -> None:
            async with gate:
                deal[mapping.FLOW] = await self.client.all_v1(
                    f"/api/v1/deals/{deal['id']}/flow", {"items": "dealChange"}, limit=100
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
    return await import_source(
        uow,
        source,
        mapping.mapper,
        vendor=SOURCE,
        stage_map=stage_map,
        skip_bad_rows=skip_bad_rows,
        chunk_size=chunk_size,
    )


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


def _cursor_time(cursor: str) -> datetime:
    return datetime.fromisoformat(cursor.split("|", 1)[0].replace("Z", "+00:00"))
