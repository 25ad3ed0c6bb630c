"""The one read loop: extract (a source's raw records) -> map (drafts) -> load (the sink).

A record the mapper refuses (``Problem``) or the source could not read whole is rejected: the
import fails naming it, or with ``skip_bad_rows`` it is listed in the report. A record with an
unmapped stage name halts the writes; reading goes on so that every unmapped name is listed.
An error the source raises ends the run where it is: what the sink committed stays, with the
positions it covers.
"""

from __future__ import annotations

from collections.abc import Mapping

from pie.importing.draft import Problem
from pie.importing.mapping import Mapper
from pie.importing.sink import Sink
from pie.importing.source import Source


async def run(source: Source, mapper: Mapper, sink: Sink, *, since: Mapping[str, str]) -> None:
    """Read every record of ``source`` after ``since``, map it and hand it to ``sink``."""
    async for raw in source.records(since):
        if raw.position is not None:
            sink.advance(raw.stream, raw.position)
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
        await sink.put(draft)
    await sink.flush()
