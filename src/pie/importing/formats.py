"""File formats: a registry. Each format says how to recognise a file of its kind and how to
open it as a source with its mapper; detection asks them in the order they registered.

To add a format, write its source (``importing/sources``) and mapper (``importing/mapping``)
and ``register`` a ``Format`` here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Protocol
from uuid import UUID

from pie.domain.errors import InvalidInput
from pie.domain.stage_mapping import StageMapper, normalize_name
from pie.domain.stages import Stage
from pie.importing.csvio import delimiter_hint, first_line, sniff_header
from pie.importing.draft import SeenIds
from pie.importing.mapping import MapContext, Mapper, hubspot, salesforce
from pie.importing.mapping.crm import REQUIRED, CrmDealMapper, Vendor
from pie.importing.mapping.eventlog import EventLogMapper
from pie.importing.mapping.pie_json import PieJsonMapper
from pie.importing.mapping.stage_history import COLUMNS, StageHistoryMapper
from pie.importing.source import Source
from pie.importing.sources.csv import CsvReportSource, StageHistorySource
from pie.importing.sources.eventlog import EventLogSource
from pie.importing.sources.pie_json import PieJsonSource
from pie.mining.eventlog_mapping import EventLogMapping, load_mapping


class FileSource(Source, Protocol):
    @property
    def done(self) -> int:
        """Bytes of the file read so far (for progress)."""
        ...


@dataclass(slots=True, kw_only=True)
class Options:
    """What opening a file may need besides the file."""

    tenant_id: UUID
    source: str | None = None  # the source name the records' ids belong to (--source)
    overrides: Mapping[str, Mapping[str, Stage]] = field(default_factory=dict)
    now: datetime
    mapping: Path | None = None  # event logs
    sort_events: bool = False
    suggestions_dir: Path | None = None
    seen: SeenIds = field(default_factory=SeenIds)

    def context(self, name: str, vendor: str | None = None) -> MapContext:
        return MapContext(StageMapper(name, self.overrides, vendor=vendor), self.seen, self.now)


@dataclass(frozen=True, slots=True)
class Opened:
    """A file opened as a source, with its mapper and their context."""

    source: FileSource
    mapper: Mapper
    context: MapContext
    labels: Mapping[str, str] = field(default_factory=dict)  # field -> what the file calls it


class Probe:
    """A file being recognised: its path, the options, and (read once, if asked) its CSV
    header, normalized."""

    def __init__(self, path: Path, options: Options) -> None:
        self.path, self.options = path, options
        self.name = path.name.lower()

    @cached_property
    def header(self) -> set[str]:
        return set(sniff_header(self.path))


@dataclass(frozen=True, slots=True)
class Format:
    name: str
    recognise: Callable[[Probe], bool]
    open: Callable[[Path, Options], Opened]
    aliases: tuple[str, ...] = ()
    by_header: bool = False  # a CSV told apart by its header (``--format csv``)


FORMATS: dict[str, Format] = {}


def register(fmt: Format) -> Format:
    FORMATS[fmt.name] = fmt
    return fmt


def names() -> tuple[str, ...]:
    return tuple(FORMATS)


def detect(path: Path, wanted: str | None, options: Options) -> Format:
    """The format asked for (a name or an alias), else the first that recognises the file."""
    key = (wanted or "").strip().lower()
    candidates = list(FORMATS.values())
    if key == "csv":
        candidates = [f for f in candidates if f.by_header]
    elif key:
        for fmt in candidates:
            if key == fmt.name or key in fmt.aliases:
                return fmt
        raise InvalidInput(
            f"unknown format {wanted!r}; use one of {', '.join(FORMATS)}", source=str(path)
        )
    probe = Probe(path, options)
    for fmt in candidates:
        if fmt.recognise(probe):
            return fmt
    if hint := delimiter_hint(first_line(path)):
        raise InvalidInput(hint, source=str(path), record="line 1")
    raise InvalidInput(
        "cannot tell the format from the header: expected a Salesforce opportunity export "
        "('Opportunity ID', 'Opportunity Name', ...) or a HubSpot deals export ('Record ID', "
        "'Deal Name', ...); see docs/import-formats.md, or pass --format",
        source=str(path),
        record="line 1",
    )


def open_history(path: Path, ctx: MapContext) -> Opened:
    """A stage-history CSV (``--history``), mapped with the deals file's context."""
    source = StageHistorySource(path, name=ctx.stages.source, deal_columns=COLUMNS["deal_id"])
    return Opened(source, StageHistoryMapper(source, ctx), ctx)


# --- the formats ------------------------------------------------------------------------------


def _open_pie_json(path: Path, options: Options) -> Opened:
    source = PieJsonSource(path, name=options.source)
    ctx = options.context(source.name)
    return Opened(source, PieJsonMapper(ctx), ctx)


def _event_log(path: Path, options: Options) -> Opened:
    mapping = load_mapping(options.mapping) if options.mapping else EventLogMapping.identity()
    if options.source:
        mapping = dataclasses.replace(mapping, source=options.source)
    source = EventLogSource(
        path,
        mapping,
        tenant_id=options.tenant_id,
        sort_events=options.sort_events,
        suggestions_dir=options.suggestions_dir,
    )
    ctx = options.context(source.name)
    return Opened(source, EventLogMapper(ctx), ctx)


def _crm_csv(vendor: Vendor, headers: Mapping[str, str], fmt: str) -> Format:
    """A CRM's report: headers -> the vendor's API fields -> the vendor's mapper."""
    id_headers = {h for h, api in headers.items() if api == vendor.field_name("id")}
    name_headers = {h for h, api in headers.items() if api == vendor.field_name("name")}

    def recognise(probe: Probe) -> bool:
        header = probe.header
        return any(normalize_name(h) in header for h in id_headers) and any(
            normalize_name(h) in header for h in name_headers
        )

    def open_(path: Path, options: Options) -> Opened:
        source = CsvReportSource(
            path,
            name=options.source or vendor.name,
            stream="deals",
            headers=headers,
            required=[vendor.field_name(r) for r in REQUIRED],
            what=f"{fmt} file",
        )
        ctx = options.context(source.name, vendor.name)
        return Opened(source, CrmDealMapper(vendor, ctx), ctx, source.labels)

    return Format(fmt, recognise, open_, aliases=(vendor.name,), by_header=True)


register(
    Format(
        "pie-json",
        lambda p: p.name.endswith(".json"),
        _open_pie_json,
        aliases=("json", "pie", "pie/v1"),
    )
)
register(Format("xes", lambda p: p.name.endswith((".xes", ".xes.gz")), _event_log))
register(
    Format(
        "eventlog-csv",
        lambda p: p.name.endswith(".csv") and p.options.mapping is not None,
        _event_log,
    )
)
register(_crm_csv(salesforce.OPPORTUNITY, salesforce.CSV_HEADERS, "salesforce-csv"))
register(_crm_csv(hubspot.DEAL, hubspot.CSV_HEADERS, "hubspot-csv"))
