"""Salesforce: an Opportunity, in the REST API's field names, becomes a Deal and its Account;
the API connector's other objects (Account, Contact, OpportunityContactRole, Task, Event,
OpportunityStage metadata, OpportunityHistory) map through ``ApiMapper``.

The API's records (``SELECT Id, Name, StageName, ... FROM Opportunity``) nest relationship
fields (``"Account": {"Name": ...}``); they are read as dotted names (``Account.Name``). An
opportunity report exported as CSV is first mapped onto the same names (``CSV_HEADERS``), so
the CSV import and the API connector share this mapper. "Opportunity" exists only here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pie.domain.model import (
    Account,
    Activity,
    ActivityType,
    Contact,
    EntityKind,
    StageTransition,
    Stakeholder,
    StakeholderRole,
    derive_id,
)
from pie.domain.stage_mapping import StageMeta, infer_stage
from pie.domain.stages import InvalidTransition, Stage, classify_transition
from pie.importing import values as v
from pie.importing.draft import Draft, Ids, Problem, Records, account_draft, contact_draft
from pie.importing.mapping import MapContext
from pie.importing.mapping.crm import CrmDealMapper, Vendor, percent
from pie.importing.source import RawRecord

_UNSET = UUID(int=0)  # ids are set by build, once the sink knows them

#: PIE's roles -> the Opportunity's API fields (first present wins). ``Loss_Reason__c`` and
#: ``Product_Line__c`` are custom fields (Salesforce has no standard ones).
FIELDS: Mapping[str, tuple[str, ...]] = {
    "id": ("Id",),
    "name": ("Name",),
    "stage": ("StageName",),
    "created_at": ("CreatedDate",),
    "updated_at": ("LastModifiedDate",),
    "amount": ("Amount",),
    "currency": ("CurrencyIsoCode",),
    "probability": ("Probability",),
    "close_date": ("CloseDate",),
    "owner": ("Owner.Name", "OwnerId"),
    "lead_source": ("LeadSource",),
    "closed": ("IsClosed",),
    "won": ("IsWon",),
    "lost_reason": ("Loss_Reason__c",),
    "product_line": ("Product_Line__c",),
    "account_id": ("AccountId",),
    "account_name": ("Account.Name",),
    "account_industry": ("Account.Industry",),
    "account_country": ("Account.BillingCountry",),
    "account_owner": ("Account.Owner.Name",),
}

#: An opportunity report's column headers -> API fields. Matched ignoring case and spaces.
CSV_HEADERS: Mapping[str, str] = {
    "Opportunity ID": "Id",
    "Opportunity ID (18)": "Id",
    "Opportunity Name": "Name",
    "Stage": "StageName",
    "Created Date": "CreatedDate",
    "Last Modified Date": "LastModifiedDate",
    "Amount": "Amount",
    "Currency": "CurrencyIsoCode",
    "Opportunity Currency": "CurrencyIsoCode",
    "Amount Currency": "CurrencyIsoCode",
    "Probability (%)": "Probability",
    "Close Date": "CloseDate",
    "Opportunity Owner": "Owner.Name",
    "Lead Source": "LeadSource",
    "Closed": "IsClosed",
    "Won": "IsWon",
    "Loss Reason": "Loss_Reason__c",
    "Closed Lost Reason": "Loss_Reason__c",
    "Product Line": "Product_Line__c",
    "Product Family": "Product_Line__c",
    "Account ID": "AccountId",
    "Account Name": "Account.Name",
    "Industry": "Account.Industry",
    "Billing Country": "Account.BillingCountry",
    "Account Owner": "Account.Owner.Name",
}

#: API fields that are neither PIE fields nor worth keeping as custom fields.
IGNORED = frozenset(
    {
        "attributes",
        "SystemModstamp",
        "IsDeleted",
        "CreatedById",
        "LastModifiedById",
        "LastActivityDate",
        "LastViewedDate",
        "LastReferencedDate",
        "Account.Id",
        "Owner.Id",
        "FiscalQuarter",
        "FiscalYear",
        "Fiscal",
    }
)


def flatten(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """An API record with nested relationships -> dotted names; a flat record as it is."""
    if "attributes" not in record:
        return record
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):  # a relationship (JSON objects decode to dicts)
            if key != "attributes":
                _flatten(value, f"{key}.", flat)
        else:
            flat[key] = value
    return flat


def _flatten(record: Mapping[str, Any], prefix: str, into: dict[str, Any]) -> None:
    for key, value in record.items():
        if key == "attributes":
            continue
        if isinstance(value, Mapping):
            _flatten(value, f"{prefix}{key}.", into)
        else:
            into[f"{prefix}{key}"] = value


OPPORTUNITY = Vendor(
    name="salesforce",
    record="opportunity",
    fields=FIELDS,
    probability=percent,
    ignored=IGNORED,
    flatten=flatten,
)


def mapper(ctx: MapContext) -> CrmDealMapper:
    """The mapper of stream ``deals``: Opportunity records."""
    return CrmDealMapper(OPPORTUNITY, ctx)


# --- the REST API's other objects (the connector's streams) ---------------------------------
#
# The connector (``pie.sources.salesforce``) reads these streams, in this order; each record
# is the API's record as ``query`` returns it (``attributes``, nested relationships).
# ``stages`` is one record holding every OpportunityStage (metadata, not stored); a
# ``stage_history`` record holds one opportunity's OpportunityHistory rows, oldest first.

STAGES, ACCOUNTS, CONTACTS, DEALS = "stages", "accounts", "contacts", "deals"
CONTACT_ROLES, TASKS, CALENDAR, STAGE_HISTORY = (
    "contact_roles",
    "tasks",
    "calendar_events",
    "stage_history",
)
#: Objects whose deletes are carried over (``queryAll`` of ``IsDeleted = true``), children
#: first, and the kind of record each deletes; stream ``deleted:<Object>``.
DELETED_OBJECTS: Mapping[str, EntityKind] = {
    "Task": EntityKind.ACTIVITY,
    "Event": EntityKind.ACTIVITY,
    "OpportunityContactRole": EntityKind.STAKEHOLDER,
    "Opportunity": EntityKind.DEAL,
    "Contact": EntityKind.CONTACT,
    "Account": EntityKind.ACCOUNT,
}
DELETE_STREAMS = tuple(f"deleted:{o}" for o in DELETED_OBJECTS)
API_STREAMS = (
    *(STAGES, ACCOUNTS, CONTACTS, DEALS, CONTACT_ROLES, TASKS, CALENDAR, STAGE_HISTORY),
    *DELETE_STREAMS,
)
STREAM_KIND: Mapping[str, EntityKind] = {
    STAGES: EntityKind.DEAL,  # nothing is stored; the kind names it in messages
    ACCOUNTS: EntityKind.ACCOUNT,
    CONTACTS: EntityKind.CONTACT,
    DEALS: EntityKind.DEAL,
    CONTACT_ROLES: EntityKind.STAKEHOLDER,
    TASKS: EntityKind.ACTIVITY,
    CALENDAR: EntityKind.ACTIVITY,
    STAGE_HISTORY: EntityKind.STAGE_TRANSITION,
}

#: Account fields -> the Account fields they fill (custom ``__c`` fields: ``custom_fields``).
ACCOUNT_FIELDS: Mapping[str, str] = {
    "Name": "name",
    "Website": "domain",
    "Industry": "industry",
    "NumberOfEmployees": "employees",
    "AnnualRevenue": "annual_revenue",
    "BillingCountry": "country",
    "Owner.Name": "owner",
    "CreatedDate": "created_at",
    "LastModifiedDate": "updated_at",
}
CONTACT_FIELDS: Mapping[str, str] = {
    "AccountId": "account_id",
    "FirstName": "name",
    "LastName": "name",
    "Title": "title",
    "Email": "email",
    "Phone": "phone",
    "Department": "department",
    "CreatedDate": "created_at",
    "LastModifiedDate": "updated_at",
}
#: OpportunityContactRole.Role (picklist values, the stock ones and common custom ones).
ROLES: Mapping[str, StakeholderRole] = {
    "champion": StakeholderRole.CHAMPION,
    "executive sponsor": StakeholderRole.CHAMPION,
    "blocker": StakeholderRole.BLOCKER,
    "economic buyer": StakeholderRole.ECONOMIC_BUYER,
    "economic decision maker": StakeholderRole.ECONOMIC_BUYER,
    "technical buyer": StakeholderRole.TECHNICAL_BUYER,
    "evaluator": StakeholderRole.TECHNICAL_BUYER,
    "influencer": StakeholderRole.INFLUENCER,
    "business user": StakeholderRole.END_USER,
    "decision maker": StakeholderRole.DECISION_MAKER,
    "legal": StakeholderRole.LEGAL,
    "procurement": StakeholderRole.PROCUREMENT,
    "gatekeeper": StakeholderRole.GATEKEEPER,
}
#: Task/Event ``Type`` (and Task ``TaskSubtype``) values -> activity types.
ACTIVITY_TYPES: Mapping[str, ActivityType] = {
    "call": ActivityType.CALL,
    "email": ActivityType.EMAIL,
    "listemail": ActivityType.EMAIL,
    "meeting": ActivityType.MEETING,
    "demo": ActivityType.DEMO,
    "proposal": ActivityType.PROPOSAL,
    "contract": ActivityType.CONTRACT,
    "objection": ActivityType.OBJECTION,
    "follow-up": ActivityType.FOLLOW_UP,
    "follow up": ActivityType.FOLLOW_UP,
    "internal": ActivityType.INTERNAL,
}
_STAKEHOLDER_CARRIED = frozenset(
    {"account_id", "deal_id", "contact_id", "roles", "is_primary", "created_at", "updated_at"}
)
_ACTIVITY_CARRIED = frozenset(
    {"deal_id", "account_id", "type", "occurred_at", "participants", "subject", "summary"}
)
_OPPORTUNITY_PREFIX, _CONTACT_PREFIX = "006", "003"
#: Streams whose mapping reads relationship fields (``Owner.Name``) or every field (custom ones).
_NESTED = frozenset({ACCOUNTS, CONTACT_ROLES})


def stage_meta(stages: Sequence[Mapping[str, Any]]) -> dict[str, StageMeta]:
    """OpportunityStage records -> what each stage name (API name and label) says: closed,
    won, default probability, and its place among the active open stages."""
    active = sorted(
        (s for s in stages if s.get("IsActive", True)), key=lambda s: s.get("SortOrder") or 0
    )
    open_names = [s["ApiName"] for s in active if not s.get("IsClosed")]
    out: dict[str, StageMeta] = {}
    for s in active:
        name = s["ApiName"]
        probability = s.get("DefaultProbability")
        meta = StageMeta(
            order=open_names.index(name) if name in open_names else None,
            of=len(open_names),
            probability=None if probability is None else percent(probability),
            is_closed=bool(s.get("IsClosed")),
            is_won=bool(s.get("IsWon")),
        )
        for label in {name, s.get("MasterLabel") or name}:
            out[label] = meta
    return out


class ApiMapper:
    """Maps every stream of the Salesforce connector (see ``API_STREAMS``) for one run."""

    def __init__(self, ctx: MapContext) -> None:
        self.ctx = ctx
        self.deals = CrmDealMapper(OPPORTUNITY, ctx)

    def describe(self, raw: RawRecord) -> tuple[EntityKind, str]:
        if raw.stream == DEALS:
            return self.deals.describe(raw)
        data = raw.data if isinstance(raw.data, Mapping) else {}
        key = "OpportunityId" if raw.stream == STAGE_HISTORY else "Id"
        kind = STREAM_KIND.get(raw.stream) or _deleted_kind(raw.stream) or EntityKind.DEAL
        return kind, _str(data.get(key))

    def draft(self, raw: RawRecord) -> Draft | None:
        stream = raw.stream
        if stream == DEALS:
            return self.deals.draft(raw)
        if (kind := _deleted_kind(stream)) is not None:
            return _deleted(raw, kind)
        if stream == STAGES:
            return self._stages(raw)
        if stream == STAGE_HISTORY:
            return self._history(raw)
        # Tasks, events and contacts are read by their own fields only: no need to flatten
        record = flatten(raw.data) if stream in _NESTED else raw.data
        ext = _str(record.get("Id"))
        if not ext:
            raise Problem("Id", "is missing")
        kind = STREAM_KIND[stream]
        if not self.ctx.seen.add(kind, ext):
            raise Problem("Id", f"{ext!r} appears more than once {self.ctx.scope}")
        if stream == ACCOUNTS:
            return _account(raw.where, ext, record)
        if stream == CONTACTS:
            return _contact(raw.where, ext, record)
        if stream == CONTACT_ROLES:
            return _contact_role(raw.where, ext, record)
        if stream in (TASKS, CALENDAR):
            return _activity(raw.where, ext, record, event=stream == CALENDAR)
        raise Problem("stream", f"unknown stream {stream!r}")

    def _stages(self, raw: RawRecord) -> Draft:
        """Teach the stage mapper every stage the metadata decides (custom stages too)."""
        for name, meta in stage_meta(raw.data.get("records") or ()).items():
            if infer_stage(meta) is not None:
                self.ctx.stages.map(name, meta)
        return Draft(kind=EntityKind.DEAL, record=raw.where, record_id="", build=_nothing)

    def _history(self, raw: RawRecord) -> Draft | None:
        opportunity = _str(raw.data.get("OpportunityId"))
        if not opportunity:  # a page whose opportunities are mapped already: nothing to do
            return Draft(kind=EntityKind.STAGE_TRANSITION, record=raw.where, record_id="",
                         build=_nothing)  # fmt: skip
        rows = sorted(
            (flatten(r) for r in raw.data.get("rows") or ()),
            key=lambda r: (str(r.get("CreatedDate")), str(r.get("Id"))),
        )
        steps: list[StageTransition] = []
        previous: Stage | None = None
        entered: datetime | None = None
        for row in rows:
            name = _str(row.get("StageName"))
            if not name:
                raise Problem("StageName", f"is empty in history row {row.get('Id')}")
            stage = self.ctx.stages.map(name)
            if stage is None:
                return None
            if stage is previous:
                continue  # an amount or close date change, not a stage change
            at = _parse(row, "CreatedDate", _timestamp)
            if at is None:
                raise Problem("CreatedDate", f"is empty in history row {row.get('Id')}")
            try:
                classify_transition(previous, stage)
            except InvalidTransition as exc:
                raise Problem("StageName", f"history row {row.get('Id')}: {exc}") from None
            money = _parse(row, "Amount", v.to_money)
            probability = _parse(row, "Probability", percent)
            steps.append(
                StageTransition(
                    id=_UNSET,
                    tenant_id=_UNSET,
                    deal_id=_UNSET,
                    from_stage=previous,
                    to_stage=stage,
                    at=at,
                    days_in_from_stage=(
                        None if entered is None else (at - entered).total_seconds() / 86400.0
                    ),
                    value=money[0] if money else None,
                    expected_close=_parse(row, "CloseDate", v.to_date),
                    probability=probability,
                )
            )
            previous, entered = stage, at

        def build(ids: Ids) -> Records:
            deal_id = ids.need(EntityKind.DEAL, opportunity, "OpportunityId")
            out = Records()
            for t in steps:
                t.deal_id, t.tenant_id = deal_id, ids.tenant_id
                key = (deal_id, t.at.isoformat(), t.to_stage)
                t.id = derive_id(ids.tenant_id, EntityKind.STAGE_TRANSITION, *key)
                out.transitions.add(t)
            return out

        return Draft(
            kind=EntityKind.STAGE_TRANSITION,
            record=raw.where,
            record_id=opportunity,
            build=build,
            refs=[(EntityKind.DEAL, opportunity, "OpportunityId")],
        )


def api_mapper(ctx: MapContext) -> ApiMapper:
    """The mapper of the Salesforce connector's streams."""
    return ApiMapper(ctx)


def _nothing(_ids: Ids) -> Records:
    return Records()


_DELETED_KIND = {f"deleted:{sobject}": kind for sobject, kind in DELETED_OBJECTS.items()}


def _deleted_kind(stream: str) -> EntityKind | None:
    return _DELETED_KIND.get(stream)


def _deleted(raw: RawRecord, kind: EntityKind) -> Draft:
    """A record the org deleted: deleted from the store, with its external ref, if it is
    there; else nothing (so reading the delete again is a no-op). An undeleted record comes
    back with the id derived from its Salesforce id, the one it had."""
    ext = _str(raw.data.get("Id"))
    if not ext:  # a marker that only moves the stream's cursor
        return Draft(kind=kind, record=raw.where, record_id="", build=_nothing)

    def build(ids: Ids) -> Records:
        out = Records()
        if (ident := ids.ref(kind, ext)) is not None:
            out.deletes.append((kind, ident))
        return out

    return Draft(kind=kind, record=raw.where, record_id=ext, build=build, lookups=[(kind, ext)])


def _str(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    return "" if value is None else str(value)


def _timestamp(value: Any) -> datetime:
    """A time stamp as the API writes it (``2024-01-02T03:04:05.000+0000``), quickly; anything
    else as ``values.to_timestamp`` reads it (and refuses it)."""
    if isinstance(value, str) and len(value) > 19 and value[4] == "-" and value[10] == "T":
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is UTC:
                return parsed
            if parsed.tzinfo is None:
                return parsed.replace(tzinfo=UTC)
            return parsed.astimezone(UTC)
    return v.to_timestamp(value)


def _parse(record: Mapping[str, Any], key: str, parse: Callable[[Any], Any]) -> Any:
    value = record.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return parse(value)
    except v.BadValue as exc:
        raise Problem(key, str(exc)) from None


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise v.BadValue(f"is not a whole number: {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise v.BadValue(f"is not a whole number: {value!r}") from None
    if number != int(number) or number < 0:
        raise v.BadValue(f"is not a whole number: {value!r}")
    return int(number)


def _domain(url: Any) -> str:
    text = _str(url).lower()
    for prefix in ("https://", "http://"):
        text = text.removeprefix(prefix)
    return text.removeprefix("www.").split("/", 1)[0]


def _times(record: Mapping[str, Any]) -> tuple[datetime, datetime]:
    created = _parse(record, "CreatedDate", _timestamp)
    if created is None:
        raise Problem("CreatedDate", "is missing")
    if record.get("LastModifiedDate") == record.get("CreatedDate"):
        return created, created
    updated = _parse(record, "LastModifiedDate", _timestamp) or created
    return created, updated


def _carried(record: Mapping[str, Any], table: Mapping[str, str], always: set[str]) -> set[str]:
    fields = set(always)
    fields.update(f for key, f in table.items() if key in record)
    return fields


def _account(where: str, ext: str, rec: Mapping[str, Any]) -> Draft:
    name = _str(rec.get("Name"))
    if not name:
        raise Problem("Name", "is empty")
    created, updated = _times(rec)
    money = _parse(rec, "AnnualRevenue", v.to_money)
    custom = {k: x for k, x in rec.items() if k.endswith("__c") and x is not None}
    account = Account(
        id=_UNSET,
        tenant_id=_UNSET,
        name=name,
        domain=_domain(rec.get("Website")) or None,
        industry=_str(rec.get("Industry")) or None,
        employees=_parse(rec, "NumberOfEmployees", _int),
        annual_revenue=money[0] if money else None,
        country=_str(rec.get("BillingCountry")) or None,
        owner=_str(rec.get("Owner.Name")) or None,
        custom_fields=custom,
        created_at=created,
        updated_at=updated,
    )
    fields = _carried(rec, ACCOUNT_FIELDS, {"name", "created_at", "updated_at"})
    if any(k.endswith("__c") for k in rec):
        fields.add("custom_fields")
    carried = frozenset(fields)

    return account_draft(where, ext, account, carried)


def _contact(where: str, ext: str, rec: Mapping[str, Any]) -> Draft:
    name = " ".join(p for p in (_str(rec.get("FirstName")), _str(rec.get("LastName"))) if p)
    if not name:
        raise Problem("LastName", "is empty")
    created, updated = _times(rec)
    account = _str(rec.get("AccountId"))
    contact = Contact(
        id=_UNSET,
        tenant_id=_UNSET,
        account_id=None,
        name=name,
        title=_str(rec.get("Title")) or None,
        email=_str(rec.get("Email")) or None,
        phone=_str(rec.get("Phone")) or None,
        department=_str(rec.get("Department")) or None,
        created_at=created,
        updated_at=updated,
    )
    carried = frozenset(_carried(rec, CONTACT_FIELDS, {"name", "created_at", "updated_at"}))

    return contact_draft(where, ext, contact, carried, account=account, account_field="AccountId")


def _contact_role(where: str, ext: str, rec: Mapping[str, Any]) -> Draft:
    opportunity, contact = _str(rec.get("OpportunityId")), _str(rec.get("ContactId"))
    if not opportunity:
        raise Problem("OpportunityId", "is empty")
    if not contact:
        raise Problem("ContactId", "is empty")
    created, updated = _times(rec)
    role = ROLES.get(" ".join(_str(rec.get("Role")).split()).casefold())
    primary = _parse(rec, "IsPrimary", v.to_bool)
    account = _str(rec.get("Opportunity.AccountId"))

    def build(ids: Ids) -> Records:
        out = Records()
        out.stakeholders.add(
            Stakeholder(
                id=ids.own(EntityKind.STAKEHOLDER, ext),
                tenant_id=ids.tenant_id,
                account_id=ids.ref(EntityKind.ACCOUNT, account) if account else None,
                deal_id=ids.need(EntityKind.DEAL, opportunity, "OpportunityId"),
                contact_id=ids.need(EntityKind.CONTACT, contact, "ContactId"),
                roles=(role,) if role else (),
                is_primary=bool(primary),
                created_at=created,
                updated_at=updated,
            ),
            _STAKEHOLDER_CARRIED,
        )
        return out

    refs = [
        (EntityKind.DEAL, opportunity, "OpportunityId"),
        (EntityKind.CONTACT, contact, "ContactId"),
    ]
    if account:
        refs.append((EntityKind.ACCOUNT, account, "Opportunity.AccountId"))
    return Draft(
        kind=EntityKind.STAKEHOLDER,
        record=where,
        record_id=ext,
        build=build,
        own=[(EntityKind.STAKEHOLDER, ext)],
        refs=refs,
    )


def activity_type(record: Mapping[str, Any], *, event: bool) -> ActivityType:
    for key in ("Type", "TaskSubtype"):
        found = ACTIVITY_TYPES.get(" ".join(_str(record.get(key)).split()).casefold())
        if found is not None:
            return found
    return ActivityType.MEETING if event else ActivityType.FOLLOW_UP


def _activity(where: str, ext: str, rec: Mapping[str, Any], *, event: bool) -> Draft:
    created, _ = _times(rec)
    at = _parse(rec, "StartDateTime", _timestamp) if event else None
    what, who, account = _str(rec.get("WhatId")), _str(rec.get("WhoId")), _str(rec.get("AccountId"))
    opportunity = what if what.startswith(_OPPORTUNITY_PREFIX) else ""
    contact = who if who.startswith(_CONTACT_PREFIX) else ""
    kind = activity_type(rec, event=event)
    occurred = at or created

    def build(ids: Ids) -> Records:
        out = Records()
        out.activities.add(
            Activity(
                id=ids.own(EntityKind.ACTIVITY, ext),
                tenant_id=ids.tenant_id,
                deal_id=ids.need(EntityKind.DEAL, opportunity, "WhatId") if opportunity else None,
                account_id=ids.ref(EntityKind.ACCOUNT, account) if account else None,
                type=kind,
                occurred_at=occurred,
                participants=(ids.need(EntityKind.CONTACT, contact, "WhoId"),) if contact else (),
                subject=_str(rec.get("Subject")) or None,
                summary=_str(rec.get("Description")) or None,
            ),
            _ACTIVITY_CARRIED,
        )
        return out

    refs = []
    if opportunity:
        refs.append((EntityKind.DEAL, opportunity, "WhatId"))
    if contact:
        refs.append((EntityKind.CONTACT, contact, "WhoId"))
    if account:
        refs.append((EntityKind.ACCOUNT, account, "AccountId"))
    return Draft(
        kind=EntityKind.ACTIVITY,
        record=where,
        record_id=ext,
        build=build,
        own=[(EntityKind.ACTIVITY, ext)],
        refs=refs,
    )
