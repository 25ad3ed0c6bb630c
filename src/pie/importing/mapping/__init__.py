"""The map stage: pure functions from a source family's raw records to drafts of the unified
model, one module per family (``salesforce``, ``hubspot``, ``pie_json``, ``eventlog``,
``stage_history``). A vendor's vocabulary stops in its module."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from pie.domain.model import EntityKind
from pie.domain.stage_mapping import StageMapper
from pie.importing.draft import Draft, SeenIds
from pie.importing.source import RawRecord


@dataclass(slots=True)
class MapContext:
    """What the mappers of one run share: the stage mapper (it collects the unmapped names of
    every source of the run), the external ids met so far, and "now"."""

    stages: StageMapper
    seen: SeenIds
    now: datetime
    scope: str = "in the file"  # where an id may appear once, for messages


class Mapper(Protocol):
    def draft(self, raw: RawRecord) -> Draft | None:
        """The record's draft, or None when one of its stage names is unmapped (the stage
        mapper has the name). Raises ``Problem`` naming the field."""
        ...

    def describe(self, raw: RawRecord) -> tuple[EntityKind, str]:
        """The record's kind and id in the source ("" when it has none), for a report that
        names a record the mapper refused."""
        ...


__all__ = ["MapContext", "Mapper"]
