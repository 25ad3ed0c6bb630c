"""Import use cases: ``import_file`` (a file, one transaction) and ``import_source`` (a
resumable source such as an API connector, one transaction per batch with its cursor).

Both run the same pipeline (``pie.importing.pipeline``): extract -> map -> load. A file's
format comes from the registry (``pie.importing.formats``). On any error nothing from a file is
stored; with ``skip_bad_rows`` a bad record is counted in the report instead (the first
``show_rejected`` listed, every one written to ``rejected_file`` if given) and the others are
stored. Unmapped stage names always fail the import, after the whole source was read so that
every unknown name is listed, and a suggested mapping file is written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from uuid import UUID

from pie.domain.errors import InvalidInput, UnmappedStages
from pie.domain.stage_mapping import StageMapper
from pie.importing import formats, pipeline
from pie.importing.draft import SeenIds
from pie.importing.formats import Opened, Options
from pie.importing.gc_tuning import fewer_collections
from pie.importing.mapping import MapContext, Mapper
from pie.importing.report import (
    DEFAULT_EXAMPLES,
    ConversationCounts,
    ImportReport,
    Rejected,
    RejectedFile,
    Tally,
)
from pie.importing.sink import DEFAULT_CHUNK_SIZE, Rejecter, Sink
from pie.importing.source import Source
from pie.importing.stage_maps import load_stage_map, unmapped_error
from pie.ports.uow import UnitOfWork

Progress = Callable[[int, int], None]


class AfterImport(Protocol):
    """What runs on the records an import brought, after its transaction (the intelligence
    pipeline on the activities with content: ``pie.services.conversations.ImportHook``)."""

    async def mark(self) -> int:
        """Where the store's change feed is before the import."""
        ...

    async def after(self, since: int) -> ConversationCounts:
        """Run on what changed after ``since``; never raises (a failure is in the counts)."""
        ...


_NO_TENANT = UUID(int=0)  # detecting a format needs no tenant


def detect_format(path: Path, format: str | None = None, *, mapping: Path | None = None) -> str:
    """The name of the file's format: the one asked for, else recognised by the registry."""
    options = Options(tenant_id=_NO_TENANT, now=datetime.now(UTC), mapping=mapping)
    return formats.detect(Path(path), format, options).name


async def import_file(
    uow: UnitOfWork,
    path: Path,
    *,
    format: str | None = None,
    source: str | None = None,
    stage_map: Path | None = None,
    history: Path | None = None,
    skip_bad_rows: bool = False,
    suggestions_dir: Path | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    mapping: Path | None = None,
    sort_events: bool = False,
    show_rejected: int = DEFAULT_EXAMPLES,
    rejected_file: Path | None = None,
    after: AfterImport | None = None,
) -> ImportReport:
    """Import one file (and its stage history) into ``uow``'s tenant, committing once; then,
    with ``after``, run it on what the import brought (its counts are the report's
    ``conversations``; a failure there never undoes the import).

    Event logs (XES, or CSV with ``format="eventlog-csv"``) are read with ``mapping``, a TOML
    file that maps activity names to stages and case attributes to deal fields (see
    docs/eventlog.md); without one, activities must be named like PIE's stages.

    Raises InvalidInput (or UnmappedStages) naming the file, record and field; then nothing
    is stored."""
    path = Path(path)
    _check_files(path, history, mapping, stage_map)
    _check_output(rejected_file)
    options = Options(
        tenant_id=uow.tenant_id,
        source=source,
        overrides=load_stage_map(Path(stage_map)) if stage_map else {},
        now=now or datetime.now(UTC),
        mapping=Path(mapping) if mapping else None,
        sort_events=sort_events,
        suggestions_dir=suggestions_dir,
    )
    fmt = formats.detect(path, format, options)
    mapping_text = _file_bytes(mapping)
    files = [path, *([Path(history)] if history else [])]
    load = _Load(uow, skip_bad_rows, chunk_size, _FileProgress(progress, files))
    load.tally.examples = show_rejected
    since = await after.mark() if after is not None else 0
    with fewer_collections(), _rejections(load, rejected_file):
        report = await _import_file(
            uow, load, fmt, path, options, mapping_text, sort_events, history, suggestions_dir
        )
    if after is not None:
        report = dataclasses.replace(report, conversations=await after.after(since))
    return report


@contextmanager
def _rejections(load: _Load, path: Path | None) -> Iterator[None]:
    """Every rejected record into ``path`` (CSV or JSON lines), if given."""
    if path is None:
        yield
        return
    with RejectedFile(Path(path)) as out:
        load.tally.on_reject = out.write
        load.rejected_file = str(path)
        yield


async def _import_file(
    uow: UnitOfWork,
    load: _Load,
    fmt: formats.Format,
    path: Path,
    options: Options,
    mapping_text: bytes,
    sort_events: bool,
    history: Path | None,
    suggestions_dir: Path | None,
) -> ImportReport:
    async with uow:
        main = fmt.open(path, options)
        salt = pipeline.fingerprint(
            fmt.name,
            main.source.name,
            main.context.stages.fingerprint(),
            mapping_text,
            sort_events,
        )
        await load.file(main, salt)
        if history:
            await load.file(formats.open_history(Path(history), main.context), salt)
        if main.context.stages.unmapped:
            raise unmapped_error(main.context.stages, path, suggestions_dir)
        await uow.commit()
    load.progress.finish()
    return load.report(str(path), fmt.name, main.source.name, history)


async def import_source(
    uow: UnitOfWork,
    source: Source,
    make_mapper: Callable[[MapContext], Mapper],
    *,
    vendor: str | None = None,
    stage_map: Path | None = None,
    skip_bad_rows: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    now: datetime | None = None,
    format: str = "api",
    show_rejected: int = DEFAULT_EXAMPLES,
    on_reject: Callable[[Rejected], None] | None = None,
    after: AfterImport | None = None,
) -> ImportReport:
    """Import what ``source`` has after its committed cursors. A resumable source commits each
    batch with the positions it reached, so a run that fails resumes from the last committed
    batch; any other source commits once, at the end. ``vendor`` picks the stock stage names
    (``salesforce``, ``hubspot``) when the source's name is not the vendor's. ``on_reject`` is
    told of every record left out with ``skip_bad_rows`` (the report lists the first few).
    ``after`` runs on what the import brought once it is through, and on what the batches
    committed before it stopped if it fails."""
    overrides = load_stage_map(Path(stage_map)) if stage_map else {}
    stages = StageMapper(source.name, overrides, vendor=vendor)
    ctx = MapContext(stages, SeenIds(), now or datetime.now(UTC), scope="in this run")
    load = _Load(uow, skip_bad_rows, chunk_size, _FileProgress(None, []))
    load.tally.examples = show_rejected
    load.tally.on_reject = on_reject
    since = await after.mark() if after is not None else 0
    try:
        with fewer_collections():
            await _import_source(uow, load, source, make_mapper(ctx), stages, vendor, format)
    except Exception:
        if after is not None and source.resumable:  # the batches it committed stand
            await after.after(since)
        raise
    report = load.report(source.label, format, source.name, None)
    if after is not None:
        report = dataclasses.replace(report, conversations=await after.after(since))
    return report


async def _import_source(
    uow: UnitOfWork,
    load: _Load,
    source: Source,
    mapper: Mapper,
    stages: StageMapper,
    vendor: str | None,
    format: str,
) -> None:
    async with uow:
        since: dict[str, str] = {}
        for stream in source.streams:
            if (cursor := await uow.cursors.get(source.name, stream)) is not None:
                since[stream] = cursor.value
        load.cursors = dict(since)
        salt = pipeline.fingerprint(format, source.name, vendor, stages.fingerprint())
        await load.run(source, mapper, since=since, salt=salt)
        if stages.unmapped:
            raise UnmappedStages(source.label, stages.unmapped_names(), None)
        await uow.commit()


class _FileProgress:
    """Progress in bytes over the files of an import."""

    def __init__(self, progress: Progress | None, files: list[Path]) -> None:
        self.progress = progress
        self.total = sum(f.stat().st_size for f in files)
        self.before = 0  # bytes of the files already read
        self.current: formats.FileSource | None = None

    def update(self) -> None:
        if self.progress is not None:
            here = self.current.done if self.current is not None else 0
            self.progress(min(self.before + here, self.total), self.total)

    def next_file(self, size: int) -> None:
        self.before += size
        self.current = None

    def finish(self) -> None:
        if self.progress is not None:
            self.progress(self.total, self.total)


class _Load:
    """One import's load side: the tally, and a sink per source."""

    def __init__(
        self, uow: UnitOfWork, skip: bool, chunk_size: int, progress: _FileProgress
    ) -> None:
        self.uow, self.skip, self.chunk_size, self.progress = uow, skip, chunk_size, progress
        self.tally = Tally()
        self.cursors: dict[str, str] = {}
        self.rejected_file: str | None = None

    async def file(self, opened: Opened, salt: str) -> None:
        self.progress.current = opened.source
        await self.run(opened.source, opened.mapper, since={}, labels=opened.labels, salt=salt)
        self.progress.next_file(opened.source.done)

    async def run(
        self,
        source: Source,
        mapper: Mapper,
        *,
        since: dict[str, str],
        labels: Mapping[str, str] | None = None,
        salt: str | None = None,
    ) -> None:
        sink = Sink(
            self.uow,
            source=source.name,
            tally=self.tally,
            reject=Rejecter(source.label, self.tally, skip=self.skip, labels=labels),
            chunk_size=self.chunk_size,
            on_flush=self.progress.update,
            resumable=source.resumable,
        )
        try:
            await pipeline.run(source, mapper, sink, since=since, salt=salt)
        finally:
            self.cursors.update(sink.committed)

    def report(self, file: str, fmt: str, source: str, history: Path | None) -> ImportReport:
        return ImportReport(
            file=file,
            format=fmt,
            source=source,
            counts=dict(self.tally.counts),
            rejected=tuple(self.tally.rejected),
            rejected_total=self.tally.rejected_total,
            reasons=dict(self.tally.reasons),
            rejected_file=self.rejected_file,
            kept=tuple(self.tally.kept),
            cursors=dict(self.cursors),
            history_file=str(history) if history else None,
            deleted=dict(self.tally.deleted),
        )


def _file_bytes(path: Path | None) -> bytes:
    return Path(path).read_bytes() if path else b""


def _check_files(*files: Path | None) -> None:
    """Each file exists, is a file and holds something: else one error that says which."""
    for f in files:
        if f is None:
            continue
        path = Path(f)
        if path.is_dir():
            raise InvalidInput("is a folder, not a file", source=str(f))
        if not path.is_file():
            raise InvalidInput("file not found", source=str(f))
        if _is_blank(path):
            raise InvalidInput("the file is empty", source=str(f))


def _is_blank(path: Path, limit: int = 65536) -> bool:
    """Empty, or only white space (and a byte order mark)."""
    if path.stat().st_size > limit:
        return False
    with path.open("rb") as fh:
        return not fh.read(limit).removeprefix(b"\xef\xbb\xbf").strip()


def _check_output(path: Path | None) -> None:
    if path is not None and not Path(path).parent.is_dir():
        raise InvalidInput(
            f"folder {Path(path).parent} does not exist", source=str(path), field="rejected file"
        )
