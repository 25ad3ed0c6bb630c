"""What an import did: counts per entity kind, the records it rejected, the field writes the
ownership policy refused, and the cursors it committed (style section 11)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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
class ImportReport:
    file: str
    format: str
    source: str  # the source name the records' external ids belong to
    counts: dict[EntityKind, EntityCounts]
    rejected: tuple[Rejected, ...] = ()
    kept: tuple[Kept, ...] = ()  # field writes refused by precedence: the stored value stayed
    cursors: dict[str, str] = field(default_factory=dict)  # stream -> position committed
    history_file: str | None = None

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
            "kept": [k.to_dict() for k in self.kept],
            "cursors": dict(self.cursors),
        }


@dataclass(slots=True)
class Tally:
    """Mutable counts while an import runs."""

    counts: dict[EntityKind, EntityCounts] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)

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
        self.rejected.append(rejected)
