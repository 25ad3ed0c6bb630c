"""A Salesforce sync: ``import_source`` with the connector (every object, its deletes
included), then what the pipeline alone cannot do:

* records rejected in a sync (a bad value, or a parent that was rejected) are read again
  first by the next one, though their stream's cursor has passed them (cursor stream
  ``retry``), so a record fixed in Salesforce lands with everything that refers to it;
* when getDeleted's ``earliestDateAvailable`` is later than a delete cursor, the recycle bin
  was emptied since the last sync and some deletes can no longer be read: that object is
  *reconciled*, every stored record of this source that the org no longer has is deleted
  (through the repositories, as origin ``salesforce``). A full sync reconciles every object.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

import orjson

from pie.domain.model import EntityKind
from pie.importing import import_source
from pie.importing.mapping import salesforce as m
from pie.importing.report import ImportReport, Rejected
from pie.ports.uow import UnitOfWork, records_of
from pie.sources.salesforce.client import QuotaExceeded
from pie.sources.salesforce.connector import STREAMS, SalesforceSource

RETRY = "retry"  # the cursor stream that lists rejected records, by stream
ARCHIVED = frozenset(s.sobject for s in STREAMS if s.archived)
MAX_RETRY = 5000  # ids kept per stream
#: Records per committed batch. A sync of an org writes hundreds of thousands of records;
#: on SQLite each commit writes every page the batch touched (random-key indexes: most of
#: them) to the WAL and checkpoints it, so four times fewer commits than the import default
#: halve what a sync of 20,000 opportunities writes to disk (4.2 GB -> 2.1 GB).
CHUNK_SIZE = 20_000


@dataclass
class SyncResult:
    report: ImportReport
    deleted: dict[str, int] = field(default_factory=dict)  # entity kind -> records deleted
    reconciled: list[str] = field(default_factory=list)  # objects fully reconciled
    stopped: str | None = None  # why the sync stopped before the end (the API quota)
    api_calls: int = 0


async def sync(
    uow: UnitOfWork,
    source: SalesforceSource,
    *,
    skip_bad_rows: bool = True,
    chunk_size: int = CHUNK_SIZE,
    stage_map: Path | None = None,
) -> SyncResult:
    """One sync of ``source`` into ``uow``'s tenant. A bad record is listed in the report's
    ``rejected`` (with its id and reason) and the others are stored; with ``skip_bad_rows``
    False it fails the sync instead. Raises ConnectorError when Salesforce cannot be read
    (what was committed stays, with its cursors: the next sync resumes there)."""
    await load_retry(uow, source)
    failed: dict[str, set[str]] = {}
    try:
        report = await import_source(
            uow,
            source,
            m.api_mapper,
            vendor="salesforce",
            skip_bad_rows=skip_bad_rows,
            chunk_size=chunk_size,
            stage_map=stage_map,
            on_reject=lambda r: _note(failed, r),
        )
    finally:
        await save_retry(uow, source, failed)
    result = SyncResult(report, stopped=source.stopped)
    result.deleted = {k.value: n for k, n in report.deleted.items() if n}
    if source.stopped is None:
        try:
            await reconcile(uow, source, result)
        except QuotaExceeded as exc:
            result.stopped = str(exc)
    result.api_calls = source.client.calls
    return result


async def reconcile(uow: UnitOfWork, source: SalesforceSource, result: SyncResult) -> None:
    """After ``source`` was read: reconcile the objects whose deletes could not all be read
    (every object after a full read)."""
    todo = list(m.DELETED_OBJECTS) if source.full else source.reconcile
    for sobject in todo:
        await _reconcile(uow, source, sobject, m.DELETED_OBJECTS[sobject], result)


#: An id's first three characters -> the stream its records come in.
_STREAM_OF_PREFIX = {
    "001": m.ACCOUNTS,
    "003": m.CONTACTS,
    "006": m.DEALS,
    "00K": m.CONTACT_ROLES,
    "00T": m.TASKS,
    "00U": m.CALENDAR,
}


async def load_retry(uow: UnitOfWork, source: SalesforceSource) -> None:
    """Give ``source`` the records the last sync rejected (cursor stream ``retry``): it reads
    them first. (The sync use case does this in the connector's ``before_sync``.)"""
    async with uow:
        saved = await uow.cursors.get(source.name, RETRY)
    source.retry = orjson.loads(saved.value) if saved is not None else {}


def failed_of(rejected: Iterable[Rejected]) -> dict[str, set[str]]:
    """The rejected records of a run, by stream (for ``save_retry``)."""
    failed: dict[str, set[str]] = {}
    for r in rejected:
        _note(failed, r)
    return failed


def _note(failed: dict[str, set[str]], rejected: Rejected) -> None:
    """Remember a rejected record by stream (a history record names its opportunity)."""
    ident = rejected.record_id
    stream = (
        m.STAGE_HISTORY
        if rejected.record.startswith("OpportunityHistory")
        else _STREAM_OF_PREFIX.get(ident[:3])
    )
    if ident and stream:
        failed.setdefault(stream, set()).add(ident)


async def save_retry(
    uow: UnitOfWork, source: SalesforceSource, failed: dict[str, set[str]]
) -> None:
    """Remember the records rejected (and those due again but not read): the next sync reads
    them first, so a record fixed in Salesforce, or one whose parent now lands, is stored
    even though the stream's cursor has passed it."""
    keep = {s: set(ids) for s, ids in failed.items()}
    for stream, ids in source.retry.items():
        keep.setdefault(stream, set()).update(i for i in ids if i not in source.retried)
    value = {s: sorted(ids)[:MAX_RETRY] for s, ids in sorted(keep.items()) if ids}
    if value or source.retry:
        async with uow:
            await uow.cursors.save(source.name, RETRY, orjson.dumps(value).decode())
            await uow.commit()


async def _reconcile(
    uow: UnitOfWork,
    source: SalesforceSource,
    sobject: str,
    kind: EntityKind,
    result: SyncResult,
) -> None:
    """Delete every stored record of ``kind`` from this source that the org no longer has."""
    live: set[str] = set()
    # activities through queryAll: those older than a year are archived, not gone
    every = sobject in ARCHIVED
    where = " WHERE IsDeleted = false" if every else ""
    async for record in source._all(f"SELECT Id FROM {sobject}{where}", deleted=every):
        live.add(record["Id"])
    async with uow:
        if kind is EntityKind.STAKEHOLDER:
            n = await _reconcile_roles(uow, source.name, live)
        else:
            stored = await _stored(uow, source.name, kind, sobject, live)
            n = await _delete(uow, source.name, kind, stored)
        await uow.commit()
    _add(result, kind, n)
    result.reconciled.append(sobject)


def _add(result: SyncResult, kind: EntityKind, n: int) -> None:
    if n:
        result.deleted[kind.value] = result.deleted.get(kind.value, 0) + n


async def _stored(
    uow: UnitOfWork, source: str, kind: EntityKind, sobject: str, live: set[str]
) -> list[str]:
    """External ids of ``sobject`` stored from ``source`` that are not in ``live``."""
    prefix = {"Task": "00T", "Event": "00U"}.get(sobject)
    out: list[str] = []
    async for batch in records_of(uow, kind).iter_all():
        for record in batch:
            ext = getattr(record, "external_ids", {}).get(source)
            if ext and ext not in live and (prefix is None or ext.startswith(prefix)):
                out.append(ext)
    return out


async def _reconcile_roles(uow: UnitOfWork, source: str, live: set[str]) -> int:
    """Stakeholders on deals that this source made (it wrote their contact) and whose contact
    role the org no longer has."""
    keep = set((await uow.refs.resolve(EntityKind.STAKEHOLDER, source, sorted(live))).values())
    gone: list[UUID] = []
    async for batch in uow.stakeholders.iter_all():
        for s in batch:
            if s.id in keep or s.deal_id is None:
                continue
            provenance = await uow.stakeholders.provenance(s.id)
            if provenance.get("contact_id", [""])[0] == source:
                gone.append(s.id)
    n = 0
    for ident in gone:
        n += await uow.stakeholders.delete(ident, origin=source)
    return n


async def _delete(uow: UnitOfWork, source: str, kind: EntityKind, ids: Sequence[str]) -> int:
    """Delete the records these external ids point to (their refs go with them); returns how
    many were there."""
    if not ids:
        return 0
    found = await uow.refs.resolve(kind, source, sorted(set(ids)))
    repo, n = records_of(uow, kind), 0
    for _ext, ident in sorted(found.items()):
        if await repo.delete(ident, origin=source):
            n += 1
    return n
