"""What an import did: counts per entity kind, the records it rejected, the field writes the
ownership policy refused, and the cursors it committed (style section 11).

Rejected records (``skip_bad_rows``) are counted per reason, and only the first ``examples`` of
them are kept in the report, so a file of a million bad rows gives a short report; every one of
them goes to a ``RejectedFile`` when one is given.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from pie.domain.model import EntityKind
from pie.ports.repositories import UpsertCounts

if TYPE_CHECKING:
    from pie.domain.ownership import Kept

#: Order of the kinds in tables and JSON.
KIND_ORDER: tuple[EntityKind, ...] = (
    EntityKind.ACCOUNT,
    EntityKind.CONTACT,
    EntityKind.DEAL,
    EntityKind.STAKEHOLDER,
    EntityKind.ACTIVITY,
    EntityKind.STAGE_TRANSITION,
)
#: Rejected records a report lists by default (``--show-rejected``); the rest are counted.
DEFAULT_EXAMPLES = 20
#: Distinct reasons counted one by one; any further ones are counted together.
MAX_REASONS = 200
OTHER_REASONS = "(other reasons)"
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_NUMBER = re.compile(r"\d[\d,.]*")


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record left out by ``skip_bad_rows``: where it is and what is wrong with it."""

    source: str  # the file (or the source's label)
    record: str  # "line 12" or "deals[3]"
    record_id: str  # the record's id in the file, when it has one
    field: str
    problem: str

    def to_dict(self) -> dict[str, str]:
        return {
            "source": self.source,
            "record": self.record,
            "record_id": self.record_id,
            "field": self.field,
            "problem": self.problem,
        }

    @property
    def reason(self) -> str:
        """The field and the problem without the record's own value: rows rejected for the
        same reason have the same one."""
        problem = _NUMBER.sub("N", _QUOTED.sub("…", self.problem))
        problem = problem.removesuffix(": …").strip()
        return f"{self.field}: {problem}" if self.field else problem


@dataclass(frozen=True, slots=True)
class EntityCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0

    def to_dict(self) -> dict[str, int]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationCounts:
    """What the intelligence pipeline did with the activities with content an import brought
    (``pie.services.conversations.ImportHook``); ``error`` when it failed (the import stands)."""

    processed: int = 0
    skipped: int = 0
    deals_created: int = 0
    stage_moves: int = 0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "processed": self.processed,
            "skipped": self.skipped,
            "deals_created": self.deals_created,
            "stage_moves": self.stage_moves,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportReport:
    file: str
    format: str
    source: str  # the source name the records' external ids belong to
    counts: dict[EntityKind, EntityCounts]
    rejected: tuple[Rejected, ...] = ()  # the first ones (the examples)
    rejected_total: int = 0  # every rejected record, listed or not
    reasons: dict[str, int] = field(default_factory=dict)  # Rejected.reason -> records
    rejected_file: str | None = None  # where every rejected record was written
    kept: tuple[Kept, ...] = ()  # field writes refused by precedence: the stored value stayed
    cursors: dict[str, str] = field(default_factory=dict)  # stream -> position committed
    history_file: str | None = None
    deleted: dict[EntityKind, int] = field(default_factory=dict)  # records a source deleted
    #: the pipeline on the conversations it brought; None when it did not run
    conversations: ConversationCounts | None = None

    def count(self, kind: EntityKind) -> EntityCounts:
        return self.counts.get(kind, EntityCounts())

    @property
    def created(self) -> int:
        return sum(c.created for c in self.counts.values())

    @property
    def updated(self) -> int:
        return sum(c.updated for c in self.counts.values())

    @property
    def unchanged(self) -> int:
        return sum(c.unchanged for c in self.counts.values())

    @property
    def skipped(self) -> int:
        return sum(c.skipped for c in self.counts.values())

    def table(self) -> list[tuple[str, int, int, int, int]]:
        """Rows (kind, created, updated, unchanged, skipped) for the kinds the import touched."""
        return [
            (kind.value, c.created, c.updated, c.unchanged, c.skipped)
            for kind in KIND_ORDER
            if (c := self.count(kind)) != EntityCounts()
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "history_file": self.history_file,
            "format": self.format,
            "source": self.source,
            "counts": {kind.value: self.count(kind).to_dict() for kind in KIND_ORDER},
            "totals": {
                "created": self.created,
                "updated": self.updated,
                "unchanged": self.unchanged,
                "skipped": self.skipped,
            },
            "rejected": [r.to_dict() for r in self.rejected],
            "rejected_total": self.rejected_total,
            "rejected_reasons": [
                {"reason": reason, "count": n} for reason, n in self.reasons_by_count()
            ],
            "rejected_file": self.rejected_file,
            "kept": [k.to_dict() for k in self.kept],
            "cursors": dict(self.cursors),
            **({"deleted": {k.value: n for k, n in self.deleted.items()}} if self.deleted else {}),
            "conversations": self.conversations.to_dict() if self.conversations else None,
        }

    def reasons_by_count(self) -> list[tuple[str, int]]:
        return sorted(self.reasons.items(), key=lambda item: (-item[1], item[0]))


@dataclass(slots=True)
class Tally:
    """Mutable counts while an import runs. Of the rejected records it keeps the first
    ``examples`` and a count per reason, and hands every one to ``on_reject``."""

    counts: dict[EntityKind, EntityCounts] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)
    examples: int = DEFAULT_EXAMPLES
    rejected_total: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    on_reject: Callable[[Rejected], None] | None = None
    deleted: Counter[EntityKind] = field(default_factory=Counter)

    def delete(self, kind: EntityKind) -> None:
        self.deleted[kind] += 1

    def add(self, kind: EntityKind, upserted: UpsertCounts) -> None:
        self.kept += upserted.kept
        c = self.counts.get(kind, EntityCounts())
        self.counts[kind] = EntityCounts(
            c.created + upserted.created,
            c.updated + upserted.updated,
            c.unchanged + upserted.unchanged,
            c.skipped,
        )

    def skip(self, kind: EntityKind, rejected: Rejected) -> None:
        c = self.counts.get(kind, EntityCounts())
        self.counts[kind] = EntityCounts(c.created, c.updated, c.unchanged, c.skipped + 1)
        self.rejected_total += 1
        if len(self.rejected) < self.examples:
            self.rejected.append(rejected)
        reason = rejected.reason
        if reason in self.reasons or len(self.reasons) < MAX_REASONS:
            self.reasons[reason] += 1
        else:
            self.reasons[OTHER_REASONS] += 1
        if self.on_reject is not None:
            self.on_reject(rejected)


class RejectedFile:
    """Every rejected record, one per line: CSV for a ``.csv`` path, else JSON lines.
    ``with RejectedFile(path) as out: tally.on_reject = out.write``."""

    COLUMNS = ("source", "record", "record_id", "field", "problem")

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.csv = self.path.suffix.lower() == ".csv"
        self._fh: TextIO | None = None

    def __enter__(self) -> RejectedFile:
        self._fh = self.path.open("w", encoding="utf-8", newline="")
        if self.csv:
            self._writer = csv.writer(self._fh)
            self._writer.writerow(self.COLUMNS)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()

    def write(self, rejected: Rejected) -> None:
        assert self._fh is not None, "use `with RejectedFile(path) as out:`"
        if self.csv:
            self._writer.writerow([getattr(rejected, c) for c in self.COLUMNS])
        else:
            self._fh.write(json.dumps(rejected.to_dict(), ensure_ascii=False) + "\n")
