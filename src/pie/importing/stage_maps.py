"""Stage-mapping files on disk: reading a tenant's overrides and writing a suggested mapping
when a file has stage names nobody mapped."""

from __future__ import annotations

from pathlib import Path

from pie.domain.errors import InvalidInput, UnmappedStages
from pie.domain.stage_mapping import StageMapper, parse_mapping_toml
from pie.domain.stages import Stage
from pie.mining.eventlog_import import UnmappedActivities
from pie.mining.eventlog_mapping import suggested_mapping


def load_stage_map(path: Path) -> dict[str, dict[str, Stage]]:
    """The overrides in a mapping file (see ``pie.domain.stage_mapping.parse_mapping_toml``)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InvalidInput("stage map file not found", source=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read the stage map: {exc}", source=str(path)) from None
    return parse_mapping_toml(text, origin=str(path))


def suggestion_path(data_file: Path, suggestions_dir: Path | None) -> Path:
    return (suggestions_dir or data_file.parent) / f"{data_file.stem}.stage-map.toml"


def unmapped_error(
    mapper: StageMapper, data_file: Path, suggestions_dir: Path | None
) -> UnmappedStages:
    """Write the suggested mapping (if the folder is writable) and return the error to raise."""
    target = suggestion_path(data_file, suggestions_dir)
    written: str | None = str(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(mapper.suggestion_toml(origin=str(data_file)), encoding="utf-8")
    except OSError:
        written = None
    return UnmappedStages(str(data_file), mapper.unmapped_names(), written)


def unmapped_activities_error(
    err: UnmappedActivities, data_file: Path, suggestions_dir: Path | None
) -> UnmappedStages:
    """The event-log twin of ``unmapped_error``: write an ``[activities]`` section to fill in."""
    target = (suggestions_dir or data_file.parent) / f"{data_file.name}.mapping.toml"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(suggested_mapping(err.names), encoding="utf-8")
    except OSError:
        return err
    fresh = UnmappedActivities(str(data_file), err.names, str(target))
    fresh.suggestion_path = str(target)
    return fresh
