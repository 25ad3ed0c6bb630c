"""What the CRM deal mappers share: a vendor's deal record, in its API field names, becomes a
``Deal`` (and its ``Account``, the first time the account is met).

A vendor module (``salesforce``, ``hubspot``) describes its record with a ``Vendor``: which API
field holds which of PIE's roles (first present wins), how it writes probabilities, how it
nests records. A record *carries* the roles whose fields it has, even empty (a CSV column that
is in the header, an API property that is null): absent is not empty. Keys that are not the
vendor's known fields go to the deal's ``custom_fields`` when they have a value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

from pie.domain.model import Account, Deal, EntityKind
from pie.domain.stage_mapping import StageMeta, normalize_name
from pie.importing import values as v
from pie.importing.draft import Draft, Ids, Problem, Records
from pie.importing.mapping import MapContext
from pie.importing.source import RawRecord

#: The roles a deal record may fill, and the Deal fields each one carries.
DEAL_ROLES: Mapping[str, frozenset[str]] = {
    "id": frozenset(),
    "name": frozenset({"name"}),
    "stage": frozenset({"stage", "source_stage", "closed_at"}),
    "created_at": frozenset({"created_at"}),
    "updated_at": frozenset(),
    "amount": frozenset({"value"}),
    "currency": frozenset({"currency"}),
    "probability": frozenset({"probability"}),
    "close_date": frozenset({"expected_close", "closed_at"}),
    "owner": frozenset({"owner"}),
    "lead_source": frozenset({"lead_source"}),
    "closed": frozenset(),
    "won": frozenset(),
    "lost_reason": frozenset({"lost_reason"}),
    "product_line": frozenset({"product_line"}),
    "pipeline": frozenset({"custom_fields"}),
    "account_id": frozenset({"account_id"}),
    "account_name": frozenset({"account_id"}),
    "account_industry": frozenset(),
    "account_country": frozenset(),
    "account_owner": frozenset(),
}
#: Written on every write: where the deal came from, and when it last changed (``updated_at``
#: only counts when something else changed).
ALWAYS = frozenset({"source", "created_at", "updated_at", "stage", "source_stage", "name"})
_ACCOUNT_ROLES = {"account_industry": "industry", "account_country": "country"}
_ACCOUNT_ROLES["account_owner"] = "owner"
REQUIRED = ("id", "name", "stage", "created_at")


@dataclass(frozen=True, slots=True)
class Vendor:
    name: str  # "salesforce": the stage defaults and the default source name
    record: str  # "opportunity": what the vendor calls a deal, for messages
    #: role -> API field names, first present wins
    fields: Mapping[str, tuple[str, ...]]
    probability: Callable[[Any], float]  # the vendor's probability value -> 0..1
    #: API fields that are neither roles nor custom fields (system fields, envelopes)
    ignored: frozenset[str] = frozenset()
    #: the record as the API returns it -> flat {API field: value}
    flatten: Callable[[Mapping[str, Any]], Mapping[str, Any]] = dict
    #: (stage name, record) -> the stage name to map
    stage_name: Callable[[str, Mapping[str, Any]], str] = lambda name, _: name
    #: the source's own metadata for a stage name (a HubSpot pipeline's stage), if it has any
    stage_meta: Callable[[str], StageMeta | None] | None = None
    known: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        names = {n for names in self.fields.values() for n in names}
        object.__setattr__(self, "known", frozenset(names | self.ignored))

    def field_name(self, role: str) -> str:
        return self.fields[role][0]


@dataclass(frozen=True, slots=True)
class _Shape:
    """What every record with the same keys has in common: which key fills which role, what
    the deal carries, which keys are custom fields."""

    keys: dict[str, str]  # role -> the record's key
    carried: frozenset[str]
    account_carried: frozenset[str]
    custom: tuple[str, ...]


class CrmDealMapper:
    """Maps one vendor's deal records (stream ``deals``) for one run."""

    def __init__(self, vendor: Vendor, ctx: MapContext) -> None:
        self.vendor, self.ctx = vendor, ctx
        self._shapes: dict[tuple[str, ...], _Shape] = {}

    def describe(self, raw: RawRecord) -> tuple[EntityKind, str]:
        record = raw.data
        if isinstance(record, Mapping):
            flat = self.vendor.flatten(record)
            for key in self.vendor.fields["id"]:
                if value := _text(flat.get(key)):
                    return EntityKind.DEAL, value
        return EntityKind.DEAL, ""

    def shape(self, record: Mapping[str, Any]) -> _Shape:
        signature = tuple(record)
        shape = self._shapes.get(signature)
        if shape is None:
            shape = self._shapes[signature] = _shape(self.vendor, record)
        return shape

    def draft(self, raw: RawRecord) -> Draft | None:
        record = self.vendor.flatten(raw.data)
        shape = self.shape(record)
        return _DealRecord(self, record, shape).draft(raw.where)


def _shape(vendor: Vendor, record: Mapping[str, Any]) -> _Shape:
    keys = {
        role: key
        for role, names in vendor.fields.items()
        if (key := next((n for n in names if n in record), None)) is not None
    }
    missing = [vendor.field_name(r) for r in REQUIRED if r not in keys]
    if missing:
        raise Problem(missing[0], f"is missing: a {vendor.record} needs {', '.join(missing)}")
    custom = tuple(k for k in record if k not in vendor.known)
    carried = set(ALWAYS)
    for role in keys:
        carried |= DEAL_ROLES[role]
    if custom:
        carried.add("custom_fields")
    account = {"name"} if "account_name" in keys else set()
    account |= {f for role, f in _ACCOUNT_ROLES.items() if role in keys}
    return _Shape(keys, frozenset(carried), frozenset(account), custom)


class _DealRecord:
    """One record being mapped: its values by role, parsed with the field named in errors."""

    def __init__(self, mapper: CrmDealMapper, record: Mapping[str, Any], shape: _Shape) -> None:
        self.mapper, self.vendor, self.record, self.shape = mapper, mapper.vendor, record, shape

    def get(self, role: str) -> Any:
        key = self.shape.keys.get(role)
        return None if key is None else self.record.get(key)

    def text(self, role: str) -> str:
        return _text(self.get(role))

    def parse(self, role: str, parse: Callable[[Any], Any]) -> Any:
        value = self.get(role)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        try:
            return parse(value)
        except v.BadValue as exc:
            raise Problem(self.shape.keys[role], str(exc)) from None

    def required(self, role: str) -> str:
        value = self.text(role)
        if not value:
            raise Problem(self.shape.keys[role], "is empty")
        return value

    def draft(self, where: str) -> Draft | None:
        ctx = self.mapper.ctx
        ext_id = self.required("id")
        name = self.required("name")
        created_at = self.parse("created_at", v.to_timestamp)
        if created_at is None:
            raise Problem(self.shape.keys["created_at"], "is empty")
        updated_at = self.parse("updated_at", v.to_timestamp) or created_at
        money = self.parse("amount", v.to_money)
        currency = self.parse("currency", v.parse_currency)
        currency = currency or (money[1] if money else None)
        probability = self.parse("probability", self.vendor.probability)
        close_date = self.parse("close_date", v.to_date)
        closed = self.parse("closed", v.to_bool)
        won = self.parse("won", v.to_bool)
        stage_name = self.vendor.stage_name(self.required("stage"), self.record)
        meta = StageMeta(is_closed=closed, is_won=won) if closed is not None else None
        if self.vendor.stage_meta is not None:
            meta = self.vendor.stage_meta(stage_name) or meta
        stage = ctx.stages.map(
            stage_name,
            meta,
            hint=StageMeta(probability=probability) if probability is not None else None,
        )
        if not ctx.seen.add(EntityKind.DEAL, ext_id):
            raise Problem(self.shape.keys["id"], f"{ext_id!r} appears more than once {ctx.scope}")
        if stage is None:
            return None
        carried = self.shape.carried
        if currency is not None and "currency" not in carried:
            carried = carried | {"currency"}  # the amount's own currency code
        custom: dict[str, Any] = {}
        for key in self.shape.custom:
            value = self.record[key]
            if value is not None and (not isinstance(value, str) or value.strip()):
                custom[key] = value
        if pipeline := self.text("pipeline"):
            custom["pipeline"] = pipeline
        deal = Deal(
            id=_UNSET,
            tenant_id=_UNSET,
            name=name,
            account_id=None,
            stage=stage,
            value=money[0] if money else None,
            currency=currency or "USD",
            source_stage=stage_name,
            probability=probability,
            expected_close=close_date,
            owner=self.text("owner") or None,
            product_line=self.text("product_line") or None,
            source=ctx.stages.source,
            lead_source=self.text("lead_source") or None,
            custom_fields=custom,
            lost_reason=self.text("lost_reason") or None,
            created_at=created_at,
            updated_at=updated_at,
            closed_at=_closed_at(stage.is_closed, close_date),
        )
        return self._draft(where, ext_id, deal, carried)

    def _draft(self, where: str, ext_id: str, deal: Deal, carried: frozenset[str]) -> Draft:
        account_ext, account = self._account(deal.created_at)
        seen = self.mapper.ctx.seen
        first_account = account is not None and seen.add(EntityKind.ACCOUNT, account_ext)
        role = "account_id" if "account_id" in self.shape.keys else "account_name"
        account_column = self.shape.keys.get(role, "")
        account_carried = self.shape.account_carried

        def build(ids: Ids) -> Records:
            out = Records()
            if account is not None and first_account:
                account.id = deal.account_id = ids.own(EntityKind.ACCOUNT, account_ext)
                account.tenant_id = ids.tenant_id
                out.accounts.add(account, account_carried)
            elif account is not None:
                deal.account_id = ids.need(EntityKind.ACCOUNT, account_ext, account_column)
            deal.id, deal.tenant_id = ids.own(EntityKind.DEAL, ext_id), ids.tenant_id
            out.deals.add(deal, carried)
            return out

        own = [(EntityKind.DEAL, ext_id)]
        refs: list[tuple[EntityKind, str, str]] = []
        if first_account:
            own.insert(0, (EntityKind.ACCOUNT, account_ext))
        elif account is not None:
            refs.append((EntityKind.ACCOUNT, account_ext, account_column))
        return Draft(
            kind=EntityKind.DEAL, record=where, record_id=ext_id, build=build, own=own, refs=refs
        )

    def _account(self, created_at: datetime) -> tuple[str, Account | None]:
        ids = _several(self.get("account_id"))
        names = _several(self.get("account_name"))
        if not ids and not names:
            return "", None
        ext = ids[0] if ids else f"name:{normalize_name(names[0])}"
        account = Account(
            id=_UNSET,
            tenant_id=_UNSET,
            name=names[0] if names else ext,
            industry=self.text("account_industry") or None,
            country=self.text("account_country") or None,
            owner=self.text("account_owner") or None,
            created_at=created_at,
            updated_at=created_at,
        )
        return ext, account


_UNSET = UUID(int=0)  # ids are set by build, once the sink knows them


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.strip() if isinstance(value, str) else str(value)


def _several(value: Any) -> list[str]:
    """Associated ids or names: a list, or a string separated by ``;``."""
    if value is None:
        return []
    items = value if isinstance(value, list | tuple) else str(value).split(";")
    return [t for x in items if (t := _text(x))]


def _closed_at(is_closed: bool, close_date: date | None) -> datetime | None:
    if is_closed and close_date is not None:
        return datetime.combine(close_date, time(), tzinfo=UTC)
    return None


def percent(value: Any) -> float:
    """A percentage 0..100 (Salesforce's ``Probability``) as 0..1."""
    if isinstance(value, str):
        return v.parse_percent(value)
    return v.parse_percent(str(Decimal(str(value))))


def fraction(value: Any) -> float:
    """A probability 0..1 (HubSpot's ``hs_deal_stage_probability``), as a number or string."""
    return v.parse_probability(str(value))
