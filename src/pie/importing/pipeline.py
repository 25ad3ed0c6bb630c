"""The one read loop: extract (a source's raw records) -> map (drafts) -> load (the sink).

A record the mapper refuses (``Problem``) or the source could not read whole is rejected: the
import fails naming it, or with ``skip_bad_rows`` it is listed in the report. A record with an
unmapped stage name halts the writes; reading goes on so that every unmapped name is listed.
An error the source raises ends the run where it is: what the sink committed stays, with the
positions it covers.

Unchanged records are cheap: each record's *digest* (a hash of the record as the source sent
it, and of how it is mapped) is kept on its external ref. A record whose digest equals the
stored one was stored exactly so before: it is counted as unchanged and neither validated,
mapped nor written again. Records are looked up a batch at a time.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping, Sequence

import orjson

from pie.domain.model import EntityKind
from pie.importing.draft import Problem
from pie.importing.mapping import Mapper
from pie.importing.sink import Sink
from pie.importing.source import RawRecord, Source

#: Bump when a mapper changes what it makes of the same record: stored digests then no longer
#: match, so the next import maps every record again.
MAPPING_VERSION = "1"
LOOKUP_BATCH = 2000
YIELD_EVERY = 4  # records mapped between turns of the event loop while a write is in flight


def fingerprint(*parts: object) -> str:
    """What, besides the record, decides what a record maps to (format, stage map, ...)."""
    text = orjson.dumps([MAPPING_VERSION, *map(str, parts)])
    return hashlib.blake2b(text, digest_size=8).hexdigest()


def digest(raw: RawRecord, salt: str) -> str:
    body = orjson.dumps(
        raw.data, default=repr, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
    )
    return hashlib.blake2b(body, digest_size=16, key=salt.encode()[:64]).hexdigest()


async def run(
    source: Source,
    mapper: Mapper,
    sink: Sink,
    *,
    since: Mapping[str, str],
    salt: str | None = None,
) -> None:
    """Read every record of ``source`` after ``since``, map it and hand it to ``sink``.
    With ``salt`` (a ``fingerprint`` of the mapping), records whose digest is stored already
    are skipped as unchanged."""
    batch: list[RawRecord] = []
    size = min(LOOKUP_BATCH, sink.chunk_size)  # a resumable source commits every chunk
    try:
        async for raw in source.records(since):
            batch.append(raw)
            if len(batch) >= size:
                await _batch(batch, mapper, sink, salt)
                batch = []
        await _batch(batch, mapper, sink, salt)
        await sink.close()
    except BaseException:
        await sink.abandon()
        raise


async def _batch(batch: Sequence[RawRecord], mapper: Mapper, sink: Sink, salt: str | None) -> None:
    stored, keys, digests = await _stored_digests(batch, mapper, sink, salt)
    for n, raw in enumerate(batch):
        if n % YIELD_EVERY == 0 and sink.writing:
            await asyncio.sleep(0)  # let the write in flight take its next step
        if raw.position is not None:
            sink.advance(raw.stream, raw.position)
        if digests[n] is not None and stored.get(keys[n]) == digests[n]:
            sink.unchanged(keys[n][0])
            continue
        try:
            if raw.problem is not None:
                raise Problem(*raw.problem)
            draft = mapper.draft(raw)
        except Problem as problem:
            kind, record_id = mapper.describe(raw)
            sink.reject(kind, raw.where, record_id, problem)
            continue
        if draft is None:
            sink.halted = True
            continue
        if digests[n] is not None and (draft.kind, draft.record_id) == keys[n]:
            draft.digest = digests[n]
        await sink.put(draft)


async def _stored_digests(
    batch: Sequence[RawRecord], mapper: Mapper, sink: Sink, salt: str | None
) -> tuple[dict[tuple[EntityKind, str], str], list[tuple[EntityKind, str]], list[str | None]]:
    keys = [mapper.describe(raw) for raw in batch]
    if salt is None or sink.halted:
        return {}, keys, [None] * len(batch)
    digests: list[str | None] = [
        digest(raw, salt) if raw.problem is None and key[1] else None
        for raw, key in zip(batch, keys, strict=True)
    ]
    if sink.stored_before is None:  # the source's name is known once reading began
        await sink.settle()
        sink.stored_before = await sink.uow.refs.any_from(sink.source)
    if not sink.stored_before:  # nothing of this source was stored before this run
        return {}, keys, digests
    await sink.settle()  # the unit of work serves one statement at a time
    wanted: dict[EntityKind, list[str]] = {}
    for key, d in zip(keys, digests, strict=True):
        if d is not None:
            wanted.setdefault(key[0], []).append(key[1])
    stored: dict[tuple[EntityKind, str], str] = {}
    for kind, ids in wanted.items():
        found = await sink.uow.refs.digests(kind, sink.source, ids)
        stored.update({(kind, ext): d for ext, d in found.items()})
    return stored, keys, digests
