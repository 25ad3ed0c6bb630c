"""How an external event log's names become PIE's: which activity means which stage, which case
attribute fills which deal field, and (for CSV) which columns hold the case, activity and time.

The mapping is a TOML file::

    source = "celonis"            # external ids of the imported deals live in this source

    [activities]                  # activity name in the log -> PIE stage, or "ignore"
    "Create Lead" = "lead"
    "Send Quote" = "proposal"
    "Send Email" = "ignore"

    [case_attributes]             # case (trace) attribute -> deal field
    amount = "value"
    owner = "owner"

    [csv]                         # only for CSV logs; these are the defaults
    case_id = "case_id"
    activity = "activity"
    timestamp = "timestamp"
    resource = "resource"         # optional: the event's performer, the deal owner by default
    timestamp_format = ""         # strptime format; empty means ISO 8601
    delimiter = ","
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pie.domain.errors import InvalidInput
from pie.domain.stages import ALL_STAGES, Stage, parse_stage

#: The value that marks an activity as "not a stage change": such events are skipped.
IGNORE = "ignore"
#: Deal fields a case attribute may fill.
DEAL_FIELDS = (
    "name",
    "value",
    "currency",
    "owner",
    "account",
    "product_line",
    "lead_source",
    "expected_close",
    "probability",
    "lost_reason",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class CsvColumns:
    case_id: str = "case_id"
    activity: str = "activity"
    timestamp: str = "timestamp"
    resource: str | None = "resource"  # used if the column exists
    timestamp_format: str | None = None  # strptime format; None means ISO 8601
    delimiter: str = ","


@dataclass(frozen=True, slots=True, kw_only=True)
class EventLogMapping:
    """``activities`` maps an activity name to its stage, or to None for "ignore".
    ``case_attributes`` maps a case attribute (XES trace attribute or CSV column) to one of
    ``DEAL_FIELDS``. ``origin`` names the mapping file in error messages."""

    activities: Mapping[str, Stage | None]
    case_attributes: Mapping[str, str] = field(default_factory=dict)
    csv: CsvColumns = field(default_factory=CsvColumns)
    source: str = "eventlog"
    origin: str = "the mapping file"

    @classmethod
    def identity(cls, source: str = "eventlog") -> EventLogMapping:
        """Activities named like PIE's stages, case attributes named like deal fields: the
        mapping that reads back what ``write_xes`` wrote."""
        return cls(
            activities={str(stage): stage for stage in ALL_STAGES},
            case_attributes={name: name for name in DEAL_FIELDS},
            source=source,
        )


def load_mapping(path: Path) -> EventLogMapping:
    """Read and check a mapping TOML file; raises InvalidInput naming the bad entry."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise InvalidInput(f"cannot read the mapping: {err}", source=str(path)) from err
    return parse_mapping(data, origin=str(path))


def parse_mapping(data: Mapping[str, Any], *, origin: str = "the mapping file") -> EventLogMapping:
    _only(data, ("source", "activities", "case_attributes", "csv"), origin, "")
    source = data.get("source", "eventlog")
    if not isinstance(source, str) or not source:
        raise InvalidInput("must be a non-empty string", source=origin, field="source")
    return EventLogMapping(
        activities=_activities(_table(data, "activities", origin), origin),
        case_attributes=_case_attributes(_table(data, "case_attributes", origin), origin),
        csv=_csv(_table(data, "csv", origin), origin),
        source=source,
        origin=origin,
    )


def suggested_mapping(activities: Iterable[str]) -> str:
    """An ``[activities]`` section for the given names, with a guess where PIE recognises the
    name as a stage and ``"?"`` where it does not: a starting point for the user to fill in."""
    lines = ["[activities]"]
    for name in sorted(set(activities)):
        guess = parse_stage(name)
        lines.append(f"{_toml_key(name)} = {_toml_key(str(guess) if guess else '?')}")
    return "\n".join(lines) + "\n"


def _toml_key(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _only(table: Mapping[str, Any], allowed: Iterable[str], origin: str, section: str) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        where = f"[{section}]" if section else "the top level"
        raise InvalidInput(
            f"unknown keys in {where}: {', '.join(unknown)}; allowed: {', '.join(allowed)}",
            source=origin,
        )


def _table(data: Mapping[str, Any], name: str, origin: str) -> Mapping[str, Any]:
    table = data.get(name, {})
    if not isinstance(table, Mapping):
        raise InvalidInput(f"[{name}] must be a table", source=origin, field=name)
    return table


def _activities(table: Mapping[str, Any], origin: str) -> dict[str, Stage | None]:
    out: dict[str, Stage | None] = {}
    for name, target in table.items():
        stage = parse_stage(target) if isinstance(target, str) else None
        if isinstance(target, str) and target.strip().lower() == IGNORE:
            out[name] = None
        elif stage is None:
            raise InvalidInput(
                f"{target!r} is not a PIE stage; use one of "
                f"{', '.join(str(s) for s in ALL_STAGES)} or {IGNORE!r}",
                source=origin,
                field=f"activities.{name}",
            )
        else:
            out[name] = stage
    return out


def _case_attributes(table: Mapping[str, Any], origin: str) -> dict[str, str]:
    for name, target in table.items():
        if target not in DEAL_FIELDS:
            raise InvalidInput(
                f"{target!r} is not a deal field; use one of {', '.join(DEAL_FIELDS)}",
                source=origin,
                field=f"case_attributes.{name}",
            )
    return dict(table)


def _csv(table: Mapping[str, Any], origin: str) -> CsvColumns:
    keys = ("case_id", "activity", "timestamp", "resource", "timestamp_format", "delimiter")
    _only(table, keys, origin, "csv")
    for key, value in table.items():
        if not isinstance(value, str):
            raise InvalidInput("must be a string", source=origin, field=f"csv.{key}")
    if len(table.get("delimiter", ",")) != 1:
        raise InvalidInput("must be one character", source=origin, field="csv.delimiter")
    for key in ("case_id", "activity", "timestamp"):
        if table.get(key) == "":
            raise InvalidInput("must name a column", source=origin, field=f"csv.{key}")
    values: dict[str, Any] = dict(table)
    for key in ("resource", "timestamp_format"):
        if values.get(key) == "":
            values[key] = None
    return CsvColumns(**values)
