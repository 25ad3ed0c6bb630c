"""``pie import FILE``: read a file, map it, store it in one transaction, report what happened.

read (CSV row by row, JSON record by record) -> map (drafts) -> store (chunks of
``upsert_many``) -> commit once. On any error nothing from the file is stored; with
``skip_bad_rows`` a bad record is listed in the report instead and the others are stored.
Unmapped stage names always fail the import, after the whole file was read so that every
unknown name is listed, and a suggested mapping file is written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from pie.domain.errors import InvalidInput
from pie.domain.history import DealHistory
from pie.domain.model import EntityKind
from pie.domain.stage_mapping import StageMapper
from pie.domain.stages import Stage
from pie.importing.csv_deals import LAYOUTS, DealCsvReader, detect_layout
from pie.importing.csv_history import HistoryCsvReader
from pie.importing.csvio import CsvFile, sniff_header
from pie.importing.json_stream import JsonRecords
from pie.importing.pie_json import PieJsonReader
from pie.importing.report import ImportReport, Tally
from pie.importing.sink import (
    DEFAULT_CHUNK_SIZE,
    Draft,
    Ids,
    Problem,
    Records,
    Rejecter,
    SeenIds,
    Sink,
)
from pie.importing.stage_maps import load_stage_map, unmapped_activities_error, unmapped_error
from pie.mining.eventlog_import import UnmappedActivities, read_event_log
from pie.mining.eventlog_mapping import EventLogMapping, load_mapping
from pie.ports.uow import UnitOfWork

PIE_JSON = "pie-json"
XES = "xes"
EVENTLOG_CSV = "eventlog-csv"
EVENT_LOGS = (XES, EVENTLOG_CSV)
FORMATS: tuple[str, ...] = (PIE_JSON, *LAYOUTS, *EVENT_LOGS)
_ALIASES = {
    "json": PIE_JSON,
    "pie": PIE_JSON,
    "pie/v1": PIE_JSON,
    "salesforce": "salesforce-csv",
    "hubspot": "hubspot-csv",
    "csv": "csv",
}

Progress = Callable[[int, int], None]
Overrides = dict[str, dict[str, Stage]]


def detect_format(path: Path, format: str | None = None) -> str:
    """One of ``FORMATS``: the one asked for, else from the extension and the CSV header."""
    wanted = (format or "").strip().lower()
    if wanted and wanted not in FORMATS and wanted not in _ALIASES:
        raise InvalidInput(
            f"unknown format {format!r}; use one of {', '.join(FORMATS)}", source=str(path)
        )
    wanted = _ALIASES.get(wanted, wanted)
    if wanted and wanted != "csv":
        return wanted
    if not wanted and path.suffix.lower() == ".json":
        return PIE_JSON
    if not wanted and path.name.lower().endswith((".xes", ".xes.gz")):
        return XES
    layout = detect_layout(sniff_header(path))
    if layout is None:
        raise InvalidInput(
            "cannot tell the format from the header: expected a Salesforce opportunity export "
            "('Opportunity ID', 'Opportunity Name', ...) or a HubSpot deals export ('Record ID', "
            "'Deal Name', ...); see docs/import-formats.md, or pass --format",
            source=str(path),
            record="line 1",
        )
    return layout.format


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
) -> ImportReport:
    """Import one file (and its stage history) into ``uow``'s tenant, committing once.

    Event logs (XES, or CSV with ``format="eventlog-csv"``) are read with ``mapping``, a TOML
    file that maps activity names to stages and case attributes to deal fields (see
    docs/eventlog.md); without one, activities must be named like PIE's stages.

    Raises InvalidInput (or UnmappedStages) naming the file, record and field; then nothing
    is stored."""
    path = Path(path)
    _check_files(path, history, mapping)
    fmt = EVENTLOG_CSV if mapping and not format and path.suffix.lower() == ".csv" else None
    fmt = fmt or detect_format(path, format)
    overrides = load_stage_map(Path(stage_map)) if stage_map else {}
    run = _Run(
        uow,
        path=path,
        history=Path(history) if history else None,
        overrides=overrides,
        skip=skip_bad_rows,
        progress=progress,
        now=now or datetime.now(UTC),
        chunk_size=chunk_size,
    )
    async with uow:
        if fmt == PIE_JSON:
            mapper = await run.pie_json(source)
        elif fmt in EVENT_LOGS:
            log_mapping = load_mapping(Path(mapping)) if mapping else EventLogMapping.identity()
            if source:
                log_mapping = dataclasses.replace(log_mapping, source=source)
            mapper = await run.event_log(log_mapping, sort_events, suggestions_dir)
        else:
            mapper = await run.deal_csv(fmt, source)
        if run.history:
            await run.history_csv(mapper)
        await run.sink.flush()
        if mapper.unmapped:
            raise unmapped_error(mapper, path, suggestions_dir)
        await uow.commit()
    run.report_progress(final=True)
    return ImportReport(
        file=str(path),
        format=fmt,
        source=mapper.source,
        counts=dict(run.tally.counts),
        rejected=tuple(run.tally.rejected),
        history_file=str(run.history) if run.history else None,
    )


def _history_records(
    h: DealHistory, case: str, account_key: str | None, with_account: bool
) -> Callable[[Ids], Records]:
    """A deal and its transitions from an event log (and its account, the first time it
    appears), on the ids the store knows them by."""

    def build(ids: Ids) -> Records:
        deal_id = ids.own(EntityKind.DEAL, case)
        account = h.account
        if account is not None and account_key is not None:
            account = dataclasses.replace(account, id=ids.own(EntityKind.ACCOUNT, account_key))
        deal = dataclasses.replace(h.deal, id=deal_id, account_id=account.id if account else None)
        return Records(
            accounts=[account] if account is not None and with_account else [],
            deals=[deal],
            transitions=[dataclasses.replace(t, deal_id=deal_id) for t in h.transitions],
        )

    return build


def _check_files(*files: Path | None) -> None:
    for f in files:
        if f is not None and not Path(f).is_file():
            raise InvalidInput("file not found", source=str(f))


class _Run:
    """The state of one import: the tally, the sink and the progress."""

    def __init__(
        self,
        uow: UnitOfWork,
        *,
        path: Path,
        history: Path | None,
        overrides: Overrides,
        skip: bool,
        progress: Progress | None,
        now: datetime,
        chunk_size: int,
    ) -> None:
        self.uow, self.path, self.history, self.overrides = uow, path, history, overrides
        self.skip, self.progress, self.now = skip, progress, now
        self.tally = Tally()
        self.seen = SeenIds()
        self.total = path.stat().st_size + (history.stat().st_size if history else 0)
        self.done_before = 0  # bytes of files already read
        self._fh: BinaryIO | None = None
        self.sink = Sink(
            uow,
            source="file",
            tally=self.tally,
            reject=Rejecter(str(path), self.tally, skip=skip),
            chunk_size=chunk_size,
            on_flush=self.report_progress,
        )

    def report_progress(self, *, final: bool = False) -> None:
        if self.progress is None:
            return
        if final:
            self.progress(self.total, self.total)
            return
        here = self._fh.tell() if self._fh is not None and not self._fh.closed else 0
        self.progress(min(self.done_before + here, self.total), self.total)

    def _mapper(self, source: str, vendor: str | None = None) -> StageMapper:
        self.sink.source = source
        return StageMapper(source, self.overrides, vendor=vendor)

    async def pie_json(self, source: str | None) -> StageMapper:
        reader = PieJsonReader(seen=self.seen, now=self.now)
        mapper: StageMapper | None = None
        with self.path.open("rb") as fh:
            self._fh = fh
            records = JsonRecords(fh, label=str(self.path))
            for section, index, record in records:
                if mapper is None:
                    mapper = self._mapper(source or records.source or "file")
                record_id = record.get("id") if isinstance(record, dict) else None
                rid = record_id if isinstance(record_id, str) else ""
                kind = {"accounts": EntityKind.ACCOUNT, "contacts": EntityKind.CONTACT}.get(
                    section, EntityKind.DEAL
                )
                try:
                    draft = reader.draft(section, index, record, mapper)
                except Problem as problem:
                    self.sink.reject(kind, f"{section}[{index}]", rid, problem)
                    continue
                if draft is None:
                    self.sink.halted = True
                    continue
                await self.sink.put(draft)
            await self.sink.flush()
            mapper = mapper or self._mapper(source or records.source or "file")
        self.done_before += self.path.stat().st_size
        self._fh = None
        return mapper

    async def deal_csv(self, fmt: str, source: str | None) -> StageMapper:
        with self.path.open("rb") as fh:
            self._fh = fh
            csv_file = CsvFile(self.path, fh)
            layout = LAYOUTS.get(fmt) or detect_layout(list(csv_file.columns))
            if layout is None:  # pragma: no cover - detect_format found one
                raise InvalidInput("unknown CSV layout", source=str(self.path))
            mapper = self._mapper(source or layout.vendor, layout.vendor)
            reader = DealCsvReader(csv_file, layout, mapper=mapper, seen=self.seen)
            for line, row in csv_file:
                try:
                    draft = reader.draft(line, row)
                except Problem as problem:
                    rid = reader.record_id(row)
                    self.sink.reject(EntityKind.DEAL, f"line {line}", rid, problem)
                    continue
                if draft is None:
                    self.sink.halted = True
                    continue
                await self.sink.put(draft)
            await self.sink.flush()
        self.done_before += self.path.stat().st_size
        self._fh = None
        return mapper

    async def event_log(
        self, mapping: EventLogMapping, sort_events: bool, suggestions_dir: Path | None
    ) -> StageMapper:
        try:
            histories = read_event_log(
                self.path, mapping, tenant_id=self.uow.tenant_id, sort_events=sort_events
            )
        except UnmappedActivities as err:
            raise unmapped_activities_error(err, self.path, suggestions_dir) from None
        mapper = self._mapper(mapping.source)
        accounts_seen: set[str] = set()
        for n, h in enumerate(histories):
            case = h.deal.external_ids.get(mapping.source, str(h.deal.id))
            key = h.account.external_ids.get(mapping.source) if h.account else None
            key = key or (h.account.name if h.account else None)
            first = key is not None and key not in accounts_seen
            own = [(EntityKind.DEAL, case)]
            if key is not None:
                accounts_seen.add(key)
                own.append((EntityKind.ACCOUNT, key))
            await self.sink.put(
                Draft(
                    kind=EntityKind.DEAL,
                    record=f"case {case}",
                    record_id=case,
                    own=own,
                    build=_history_records(h, case, key, first),
                )
            )
            if n % 1000 == 0:
                self.report_progress()
        await self.sink.flush()
        self.done_before += self.path.stat().st_size
        return mapper

    async def history_csv(self, mapper: StageMapper) -> None:
        assert self.history is not None
        self.sink.reject = Rejecter(str(self.history), self.tally, skip=self.skip)
        with self.history.open("rb") as fh:
            self._fh = fh
            reader = HistoryCsvReader(CsvFile(self.history, fh), mapper=mapper)
            for deal, rows in reader.groups():
                try:
                    draft = reader.draft(deal, rows)
                except Problem as problem:
                    self.sink.reject(
                        EntityKind.STAGE_TRANSITION, f"line {rows[0][0]}", deal, problem
                    )
                    continue
                if draft is None:
                    self.sink.halted = True
                    continue
                await self.sink.put(draft)
            await self.sink.flush()
        self.done_before += self.history.stat().st_size
        self._fh = None
