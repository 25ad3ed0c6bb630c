"""Deal CSVs: a Salesforce opportunity report export and a HubSpot deals export.

The vendor's vocabulary stops here: a row becomes a ``Deal`` (and its ``Account``, from the
account columns). Columns are matched by name, ignoring case and extra spaces; columns PIE does
not know are kept in the deal's ``custom_fields`` under their header name. The accepted columns
are documented in docs/import-formats.md, which must be kept in step with ``LAYOUTS``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any
from uuid import UUID

from pie.domain.errors import InvalidInput
from pie.domain.model import Account, Deal, EntityKind
from pie.domain.stage_mapping import StageMapper, StageMeta, normalize_name
from pie.importing import values as v
from pie.importing.csvio import CsvFile
from pie.importing.sink import Draft, Ids, Problem, Records, SeenIds


@dataclass(frozen=True, slots=True)
class Layout:
    format: str  # "salesforce-csv"
    vendor: str  # stage defaults and default source name
    #: role -> accepted header names, first present wins
    columns: Mapping[str, tuple[str, ...]]
    required: tuple[str, ...]
    probability_is_percent: bool  # Salesforce "Probability (%)" 0..100; HubSpot 0..1


SALESFORCE = Layout(
    format="salesforce-csv",
    vendor="salesforce",
    columns={
        "id": ("Opportunity ID", "Opportunity ID (18)"),
        "name": ("Opportunity Name",),
        "stage": ("Stage",),
        "created_at": ("Created Date",),
        "updated_at": ("Last Modified Date",),
        "amount": ("Amount",),
        "currency": ("Currency", "Opportunity Currency", "Amount Currency"),
        "probability": ("Probability (%)",),
        "close_date": ("Close Date",),
        "owner": ("Opportunity Owner",),
        "lead_source": ("Lead Source",),
        "closed": ("Closed",),
        "won": ("Won",),
        "lost_reason": ("Loss Reason", "Closed Lost Reason"),
        "product_line": ("Product Line", "Product Family"),
        "account_id": ("Account ID",),
        "account_name": ("Account Name",),
        "account_industry": ("Industry",),
        "account_country": ("Billing Country",),
        "account_owner": ("Account Owner",),
    },
    required=("id", "name", "stage", "created_at"),
    probability_is_percent=True,
)

HUBSPOT = Layout(
    format="hubspot-csv",
    vendor="hubspot",
    columns={
        "id": ("Record ID",),
        "name": ("Deal Name",),
        "stage": ("Deal Stage",),
        "created_at": ("Create Date",),
        "updated_at": ("Last Modified Date",),
        "amount": ("Amount",),
        "currency": ("Currency",),
        "probability": ("Deal probability",),
        "close_date": ("Close Date",),
        "owner": ("Deal owner",),
        "pipeline": ("Pipeline",),
        "closed": ("Is Closed",),
        "won": ("Is Closed Won",),
        "lost_reason": ("Closed Lost Reason",),
        "lead_source": ("Original Source Type",),
        "account_id": (
            "Associated Company IDs",
            "Associated Company ID",
            "Associated Company IDs (Primary)",
        ),
        "account_name": ("Associated Company", "Associated Company (Primary)", "Company name"),
    },
    required=("id", "name", "stage", "created_at"),
    probability_is_percent=False,
)

LAYOUTS: dict[str, Layout] = {SALESFORCE.format: SALESFORCE, HUBSPOT.format: HUBSPOT}


def detect_layout(header: list[str]) -> Layout | None:
    """The layout whose id and name columns the (normalized) header has."""
    names = set(header)
    for layout in LAYOUTS.values():
        if any(normalize_name(c) in names for c in layout.columns["id"]) and any(
            normalize_name(c) in names for c in layout.columns["name"]
        ):
            return layout
    return None


class DealCsvReader:
    """Turns the rows of one deal CSV into drafts (a deal and, the first time it is met, its
    account). Problems of a row are raised as ``Problem``; the caller rejects the row."""

    def __init__(
        self, csv_file: CsvFile, layout: Layout, *, mapper: StageMapper, seen: SeenIds
    ) -> None:
        self.csv, self.layout, self.mapper, self.seen = csv_file, layout, mapper, seen
        self.index: dict[str, int] = {}
        for role, names in layout.columns.items():
            if (i := csv_file.find(*names)) is not None:
                self.index[role] = i
        missing = [layout.columns[r][0] for r in layout.required if r not in self.index]
        if missing:
            raise InvalidInput(
                f"missing required column(s) {', '.join(repr(m) for m in missing)} "
                f"for a {layout.format} file",
                source=csv_file.label,
                record=f"line {csv_file.header_line}",
                field=missing[0],
            )
        known = set(self.index.values())
        self.extra = [(i, h) for i, h in enumerate(csv_file.header) if i not in known and h]

    def record_id(self, row: list[str]) -> str:
        i = self.index["id"]
        return row[i].strip() if i < len(row) else ""

    def draft(self, line: int, row: list[str]) -> Draft | None:
        """A draft for the row, or None when its stage is unmapped (the mapper has the name)."""
        cells = self.csv.cells(line, row)
        get = _getter(cells, self.index, self.layout)
        ext_id = get("id")
        if not ext_id:
            raise Problem(_col(self.layout, "id"), "is empty")
        name = get("name") or None
        if name is None:
            raise Problem(_col(self.layout, "name"), "is empty")
        created_at = _parse(get, "created_at", self.layout, v.parse_timestamp)
        if created_at is None:
            raise Problem(_col(self.layout, "created_at"), "is empty")
        updated_at = _parse(get, "updated_at", self.layout, v.parse_timestamp) or created_at
        money = _parse(get, "amount", self.layout, v.parse_money)
        currency = _parse(get, "currency", self.layout, v.parse_currency)
        currency = currency or (money[1] if money else None) or "USD"
        to_probability = (
            v.parse_percent if self.layout.probability_is_percent else v.parse_probability
        )
        probability = _parse(get, "probability", self.layout, to_probability)
        close_date = _parse(get, "close_date", self.layout, v.parse_date)
        closed = _parse(get, "closed", self.layout, v.parse_bool)
        won = _parse(get, "won", self.layout, v.parse_bool)
        stage_name = get("stage")
        if not stage_name:
            raise Problem(_col(self.layout, "stage"), "is empty")
        stage_name = _strip_pipeline(stage_name, get("pipeline"))
        meta = StageMeta(is_closed=closed, is_won=won) if closed is not None else None
        stage = self.mapper.map(
            stage_name,
            meta,
            hint=StageMeta(probability=probability) if probability is not None else None,
        )
        if not self.seen.add(EntityKind.DEAL, ext_id):
            raise Problem(_col(self.layout, "id"), f"{ext_id!r} appears more than once in the file")
        if stage is None:
            return None

        account_ext, account = self._account(get, created_at)
        first_account = account is not None and self.seen.add(EntityKind.ACCOUNT, account_ext)
        custom: dict[str, Any] = {h: cells[i] for i, h in self.extra if cells[i].strip()}
        if pipeline := get("pipeline"):
            custom["pipeline"] = pipeline
        source_name = self.mapper.source
        account_column = _col(
            self.layout, "account_id" if "account_id" in self.index else "account_name"
        )

        def build(ids: Ids) -> Records:
            out = Records()
            account_id: UUID | None = None
            if account is not None and not first_account:
                account_id = ids.need(EntityKind.ACCOUNT, account_ext, account_column)
            elif account is not None:
                account_id = ids.own(EntityKind.ACCOUNT, account_ext)
                if first_account:
                    out.accounts.append(
                        _merge_account(
                            account,
                            ids,
                            account_id,
                            ids.stored_record(EntityKind.ACCOUNT, account_ext),
                        )
                    )
            out.deals.append(
                Deal(
                    id=ids.own(EntityKind.DEAL, ext_id),
                    tenant_id=ids.tenant_id,
                    name=name,
                    account_id=account_id,
                    stage=stage,
                    value=money[0] if money else None,
                    currency=currency,
                    source_stage=stage_name,
                    probability=probability,
                    expected_close=close_date,
                    owner=get("owner") or None,
                    product_line=get("product_line") or None,
                    source=source_name,
                    lead_source=get("lead_source") or None,
                    custom_fields=custom,
                    external_ids={ids.source: ext_id},
                    lost_reason=get("lost_reason") or None,
                    created_at=created_at,
                    updated_at=updated_at,
                    closed_at=(
                        datetime.combine(close_date, time(), tzinfo=UTC)
                        if stage.is_closed and close_date
                        else None
                    ),
                )
            )
            return out

        own = [(EntityKind.DEAL, ext_id)]
        refs: list[tuple[EntityKind, str, str]] = []
        if first_account:
            own.insert(0, (EntityKind.ACCOUNT, account_ext))
        elif account is not None:
            refs.append((EntityKind.ACCOUNT, account_ext, account_column))
        return Draft(
            kind=EntityKind.DEAL,
            record=f"line {line}",
            record_id=ext_id,
            build=build,
            own=own,
            refs=refs,
            fetch=[(EntityKind.ACCOUNT, account_ext)] if first_account else [],
        )

    def _account(
        self, get: Callable[[str], str], created_at: datetime
    ) -> tuple[str, dict[str, Any] | None]:
        ids = [x.strip() for x in get("account_id").split(";") if x.strip()]
        names = [x.strip() for x in get("account_name").split(";") if x.strip()]
        if not ids and not names:
            return "", None
        ext = ids[0] if ids else f"name:{normalize_name(names[0])}"
        fields = {
            "name": names[0] if names else ext,
            "industry": get("account_industry") or None,
            "country": get("account_country") or None,
            "owner": get("account_owner") or None,
            "created_at": created_at,
            "external_id": ext,
        }
        return ext, fields


def _merge_account(
    fields: dict[str, Any], ids: Ids, ident: UUID, stored: Account | None
) -> Account:
    """The account as this row has it. Fields the file does not give keep their stored value,
    and a stored account keeps its created_at, so re-importing changes nothing."""
    ext = {ids.source: fields["external_id"]}
    if stored is not None:
        stored.name = fields["name"]
        for key in ("industry", "country", "owner"):
            if fields[key] is not None:
                setattr(stored, key, fields[key])
        stored.external_ids = {**stored.external_ids, **ext}
        return stored
    return Account(
        id=ident,
        tenant_id=ids.tenant_id,
        name=fields["name"],
        industry=fields["industry"],
        country=fields["country"],
        owner=fields["owner"],
        external_ids=ext,
        created_at=fields["created_at"],
        updated_at=fields["created_at"],
    )


def _col(layout: Layout, role: str) -> str:
    return layout.columns[role][0]


def _getter(cells: list[str], index: dict[str, int], layout: Layout) -> Callable[[str], str]:
    def get(role: str) -> str:
        i = index.get(role)
        return cells[i].strip() if i is not None else ""

    return get


def _parse(
    get: Callable[[str], str], role: str, layout: Layout, parse: Callable[[str], Any]
) -> Any:
    text = get(role)
    if not text:
        return None
    try:
        return parse(text)
    except v.BadValue as exc:
        raise Problem(_col(layout, role), str(exc)) from None


def _strip_pipeline(stage: str, pipeline: str) -> str:
    """HubSpot exports may label a stage "Closed Won (Sales Pipeline)"."""
    if pipeline and stage.endswith(f"({pipeline})"):
        return stage[: -len(pipeline) - 2].strip() or stage
    return stage
