"""Stage-history CSVs, given with ``--history``, in one of two layouts:

* snapshots (``stage-snapshots``, e.g. Salesforce's Opportunity History export): one row per
  recorded state of a deal (deal id, stage, when, and optionally amount, probability, close
  date); consecutive rows of a deal whose stage differs become a StageTransition, the first row
  the deal's entry into its first stage;
* transitions (``stage-transitions``): one row per change (deal id, from stage, to stage,
  changed at, optionally value, probability, expected close); each row's from-stage must be
  the previous row's to-stage.

Rows of one deal must be together (any order inside the group: they are sorted by time); the
source (``StageHistorySource``) hands over each deal's rows as one record. Days in the
from-stage are computed here. A deal must be in the deals file or the store. Every transition
carries every field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol
from uuid import UUID

from pie.domain.errors import InvalidInput
from pie.domain.model import EntityKind, StageTransition, derive_id
from pie.domain.stages import InvalidTransition, Stage, classify_transition
from pie.importing import values as v
from pie.importing.draft import Draft, Ids, Problem, Records, SeenIds
from pie.importing.mapping import MapContext
from pie.importing.source import RawRecord

COLUMNS: dict[str, tuple[str, ...]] = {
    "deal_id": ("Opportunity ID", "Deal ID", "Record ID", "deal id", "deal_id"),
    "from": ("From Stage", "from_stage"),
    "to": ("To Stage", "to_stage", "Stage"),
    "at": (
        "Changed At",
        "changed_at",
        "Created Date",
        "Last Modified Date",
        "Last Modified",
        "Edit Date",
        "Date",
    ),
    "value": ("Amount", "Value"),
    "probability_pct": ("Probability (%)",),
    "probability": ("Probability",),
    "expected_close": ("Close Date", "Expected Close", "expected_close"),
}
REQUIRED = ("deal_id", "to", "at")
SNAPSHOTS, TRANSITIONS = "stage-snapshots", "stage-transitions"


@dataclass(slots=True)
class _Row:
    line: int
    at: datetime
    from_name: str | None
    to_name: str
    from_stage: Stage | None
    to_stage: Stage | None
    value: Decimal | None
    probability: float | None
    expected_close: date | None


class CsvHeader(Protocol):
    label: str
    header: list[str]
    header_line: int

    def find(self, *names: str) -> int | None: ...

    def cells(self, line: int, row: list[str]) -> list[str]: ...


class StageHistoryMapper:
    """Maps the records of a ``StageHistorySource``: (deal id, rows) -> its transitions."""

    def __init__(self, csv_file: CsvHeader, ctx: MapContext) -> None:
        self.csv, self.mapper = csv_file, ctx.stages
        self.index = {
            role: i for role, names in COLUMNS.items() if (i := csv_file.find(*names)) is not None
        }
        missing = [COLUMNS[r][0] for r in REQUIRED if r not in self.index]
        if missing:
            raise InvalidInput(
                f"missing required column(s) {', '.join(repr(m) for m in missing)} for a "
                "stage-history file (deal id, stage or to stage, and a date)",
                source=csv_file.label,
                record=f"line {csv_file.header_line}",
                field=missing[0],
            )
        self.layout = TRANSITIONS if "from" in self.index else SNAPSHOTS
        self._seen = SeenIds()

    def describe(self, raw: RawRecord) -> tuple[EntityKind, str]:
        return EntityKind.STAGE_TRANSITION, raw.data[0]

    def draft(self, raw: RawRecord) -> Draft | None:
        deal_ext, rows = raw.data
        first_line = rows[0][0]
        if not deal_ext:
            raise Problem(COLUMNS["deal_id"][0], "is empty", record=f"line {first_line}")
        if not self._seen.add(EntityKind.DEAL, deal_ext):
            raise Problem(
                COLUMNS["deal_id"][0],
                f"rows of deal {deal_ext!r} are not together; sort the file by deal id",
                record=f"line {first_line}",
            )
        parsed = sorted((self._row(line, row) for line, row in rows), key=lambda r: r.at)
        if any(r.to_stage is None or (r.from_name and r.from_stage is None) for r in parsed):
            return None  # unmapped stage names are with the mapper
        steps = self._steps(parsed)

        def build(ids: Ids) -> Records:
            deal_id = ids.need(EntityKind.DEAL, deal_ext, COLUMNS["deal_id"][0])
            out = Records()
            for step in steps:
                out.transitions.add(_transition(ids.tenant_id, deal_id, *step))
            return out

        return Draft(
            kind=EntityKind.STAGE_TRANSITION,
            record=f"line {first_line}",
            record_id=deal_ext,
            build=build,
            refs=[(EntityKind.DEAL, deal_ext, COLUMNS["deal_id"][0])],
        )

    def _row(self, line: int, row: list[str]) -> _Row:
        try:
            cells = self.csv.cells(line, row)
        except Problem as problem:
            raise Problem(problem.field, problem.problem, record=f"line {line}") from None

        def get(role: str) -> str:
            i = self.index.get(role)
            return cells[i].strip() if i is not None else ""

        def parse(role: str, fn: Callable[[str], Any]) -> Any:
            text = get(role)
            if not text:
                return None
            try:
                return fn(text)
            except v.BadValue as exc:
                raise Problem(
                    self.csv.header[self.index[role]], str(exc), record=f"line {line}"
                ) from None

        at = parse("at", v.parse_timestamp)
        to_name = get("to")
        if at is None or not to_name:
            role = "at" if at is None else "to"
            raise Problem(self.csv.header[self.index[role]], "is empty", record=f"line {line}")
        money = parse("value", v.parse_money)
        probability = parse("probability_pct", v.parse_percent)
        if probability is None:
            probability = parse("probability", v.parse_probability)
        from_name = get("from") or None
        return _Row(
            line=line,
            at=at,
            from_name=from_name,
            to_name=to_name,
            from_stage=self.mapper.map(from_name) if from_name else None,
            to_stage=self.mapper.map(to_name),
            value=money[0] if money else None,
            probability=probability,
            expected_close=parse("expected_close", v.parse_date),
        )

    def _steps(self, rows: list[_Row]) -> list[tuple[Stage | None, _Row, float | None]]:
        """(from stage, row of the change, days in the from stage) for each transition."""
        steps: list[tuple[Stage | None, _Row, float | None]] = []
        if self.layout == SNAPSHOTS:
            previous: _Row | None = None
            entered: datetime | None = None
            for row in rows:
                if previous is not None and row.to_stage is previous.to_stage:
                    continue
                from_stage = previous.to_stage if previous else None
                assert row.to_stage is not None
                try:
                    classify_transition(from_stage, row.to_stage)
                except InvalidTransition as exc:
                    raise Problem(COLUMNS["to"][0], str(exc), record=f"line {row.line}") from None
                days = _days(entered, row.at)
                steps.append((from_stage, row, days))
                previous, entered = row, row.at
            return steps
        last: _Row | None = None
        for row in rows:
            assert row.to_stage is not None
            try:
                classify_transition(row.from_stage, row.to_stage)
            except InvalidTransition as exc:
                raise Problem(COLUMNS["to"][0], str(exc), record=f"line {row.line}") from None
            if last is not None and row.from_stage is not last.to_stage:
                raise Problem(
                    COLUMNS["from"][0],
                    f"is {row.from_name!r} but the previous change (line {last.line}) went to "
                    f"{last.to_name!r}",
                    record=f"line {row.line}",
                )
            days = _days(last.at if last else None, row.at)
            steps.append((row.from_stage, row, days))
            last = row
        return steps


def _days(since: datetime | None, until: datetime) -> float | None:
    return None if since is None else (until - since).total_seconds() / 86400.0


def _transition(
    tenant_id: UUID, deal_id: UUID, from_stage: Stage | None, row: _Row, days: float | None
) -> StageTransition:
    assert row.to_stage is not None
    return StageTransition(
        id=derive_id(
            tenant_id, EntityKind.STAGE_TRANSITION, deal_id, row.at.isoformat(), row.to_stage
        ),
        tenant_id=tenant_id,
        deal_id=deal_id,
        from_stage=from_stage,
        to_stage=row.to_stage,
        at=row.at,
        days_in_from_stage=days,
        value=row.value,
        expected_close=row.expected_close,
        probability=row.probability,
    )
