"""HubSpot: a deal, in the CRM API's property names, becomes a Deal and its Account.

The API returns ``{"id", "properties": {...}, "associations": {"companies": ...}}``; it is read
flat: the properties, ``hs_object_id``, and the associated companies as
``associatedcompanyids`` (HubSpot's name for them in the legacy API and in exports; the
company's name, which only a CSV export has, as ``associatedcompany``). A deals export (CSV)
is first mapped onto the same names (``CSV_HEADERS``), so the CSV import and the API
connector share this mapper. Property values are strings, as HubSpot sends them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from pie.domain.model import (
    Account,
    Activity,
    ActivityType,
    Contact,
    EntityKind,
    StageTransition,
    StakeholderRole,
    derive_id,
)
from pie.domain.stage_mapping import StageMeta, normalize_name
from pie.domain.stages import Stage
from pie.importing import values as v
from pie.importing.draft import Draft, Ids, Problem, Records, account_draft, deal_stakeholder
from pie.importing.mapping import MapContext
from pie.importing.mapping.crm import CrmDealMapper, Vendor, _several, _text, fraction
from pie.importing.mapping.salesforce import ROLES
from pie.importing.source import RawRecord

FIELDS: Mapping[str, tuple[str, ...]] = {
    "id": ("hs_object_id",),
    "name": ("dealname",),
    "stage": ("dealstage",),
    "created_at": ("createdate",),
    "updated_at": ("hs_lastmodifieddate",),
    "amount": ("amount",),
    "currency": ("deal_currency_code",),
    "probability": ("hs_deal_stage_probability",),
    "close_date": ("closedate",),
    "owner": ("hubspot_owner_id",),
    "pipeline": ("pipeline",),
    "closed": ("hs_is_closed",),
    "won": ("hs_is_closed_won",),
    "lost_reason": ("closed_lost_reason",),
    "lead_source": ("hs_analytics_source",),
    "account_id": ("associatedcompanyids",),
    "account_name": ("associatedcompany",),
}

#: A deals export's column headers -> properties. Matched ignoring case and spaces.
CSV_HEADERS: Mapping[str, str] = {
    "Record ID": "hs_object_id",
    "Deal Name": "dealname",
    "Deal Stage": "dealstage",
    "Create Date": "createdate",
    "Last Modified Date": "hs_lastmodifieddate",
    "Amount": "amount",
    "Currency": "deal_currency_code",
    "Deal probability": "hs_deal_stage_probability",
    "Close Date": "closedate",
    "Deal owner": "hubspot_owner_id",
    "Pipeline": "pipeline",
    "Is Closed": "hs_is_closed",
    "Is Closed Won": "hs_is_closed_won",
    "Closed Lost Reason": "closed_lost_reason",
    "Original Source Type": "hs_analytics_source",
    "Associated Company IDs": "associatedcompanyids",
    "Associated Company ID": "associatedcompanyids",
    "Associated Company IDs (Primary)": "associatedcompanyids",
    "Associated Company": "associatedcompany",
    "Associated Company (Primary)": "associatedcompany",
    "Company name": "associatedcompany",
}

IGNORED = frozenset(
    {
        "hs_createdate",
        "hs_is_closed_count",
        "hs_deal_stage_probability_shadow",
        "hs_merged_object_ids",
    }
)
#: The ids of the records merged into this one (``;``-separated), which HubSpot no longer has.
MERGED = "hs_merged_object_ids"


def flatten(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """An API object -> its properties, with its id and associated company ids."""
    properties = record.get("properties")
    if not isinstance(properties, Mapping):
        return record
    flat = dict(properties)
    if record.get("id") is not None:
        flat.setdefault("hs_object_id", str(record["id"]))
    companies = (record.get("associations") or {}).get("companies")
    if isinstance(companies, Mapping):
        flat["associatedcompanyids"] = [str(c["id"]) for c in companies.get("results") or ()]
    return flat


def stage_name(stage: str, record: Mapping[str, Any]) -> str:
    """Exports may label a stage "Closed Won (Sales Pipeline)": the pipeline is removed."""
    pipeline = record.get("pipeline")
    pipeline = pipeline.strip() if isinstance(pipeline, str) else ""
    if pipeline and stage.endswith(f"({pipeline})"):
        return stage[: -len(pipeline) - 2].strip() or stage
    return stage


DEAL = Vendor(
    name="hubspot",
    record="deal",
    fields=FIELDS,
    probability=fraction,
    ignored=IGNORED,
    flatten=flatten,
    stage_name=stage_name,
)


def mapper(ctx: MapContext) -> CrmDealMapper:
    """The mapper of stream ``deals``: deal objects."""
    return CrmDealMapper(DEAL, ctx)


# --- The CRM API (the HubSpot connector): every object type, by stream -------------------------
#
# Streams: ``pipelines`` (deal pipelines with their stages: metadata, nothing stored), then
# ``companies``, ``contacts``, ``deals`` (with ``propertiesWithHistory.dealstage`` and their
# associations), the engagements ``calls``, ``emails``, ``meetings``, ``notes`` (with their
# associations to deals, contacts and companies), and ``archived:<object type>`` (records
# archived in HubSpot: deleted in PIE when stored).

PIPELINES = "pipelines"
ENGAGEMENTS: Mapping[str, ActivityType] = {
    "calls": ActivityType.CALL,
    "emails": ActivityType.EMAIL,
    "meetings": ActivityType.MEETING,
    "notes": ActivityType.INTERNAL,
}
#: object type -> the kind of record it becomes
KINDS: Mapping[str, EntityKind] = {
    "companies": EntityKind.ACCOUNT,
    "contacts": EntityKind.CONTACT,
    "deals": EntityKind.DEAL,
    **dict.fromkeys(ENGAGEMENTS, EntityKind.ACTIVITY),
}
ARCHIVED = "archived:"
#: engagement type -> (title, body) properties
ENGAGEMENT_TEXT: Mapping[str, tuple[str | None, str]] = {
    "calls": ("hs_call_title", "hs_call_body"),
    "emails": ("hs_email_subject", "hs_email_text"),
    "meetings": ("hs_meeting_title", "hs_meeting_body"),
    "notes": (None, "hs_note_body"),
}
COMPANY_FIELDS: Mapping[str, str] = {
    "name": "name",
    "domain": "domain",
    "industry": "industry",
    "numberofemployees": "employees",
    "annualrevenue": "annual_revenue",
    "country": "country",
    "hubspot_owner_id": "owner",
}
CONTACT_FIELDS: Mapping[str, str] = {
    "jobtitle": "title",
    "email": "email",
    "phone": "phone",
    "department": "department",
}
#: Properties every object has that are neither fields nor custom fields.
SYSTEM = frozenset(
    {
        "hs_object_id",
        "createdate",
        "hs_createdate",
        "hs_lastmodifieddate",
        "lastmodifieddate",
        "hs_pipeline",
        "hs_merged_object_ids",
    }
)
#: The properties the connector asks for, per object type (custom properties are added).
PROPERTIES: Mapping[str, tuple[str, ...]] = {
    "deals": tuple(
        sorted(
            {*(n for names in FIELDS.values() for n in names), MERGED}
            - {"associatedcompany"}
            - {"associatedcompanyids"}
        )
    ),
    "companies": (
        "name",
        "domain",
        "industry",
        "numberofemployees",
        "annualrevenue",
        "country",
        "hubspot_owner_id",
        "createdate",
        "hs_lastmodifieddate",
        MERGED,
    ),
    "contacts": (
        "firstname",
        "lastname",
        "email",
        "jobtitle",
        "phone",
        "department",
        "associatedcompanyid",
        "createdate",
        "lastmodifieddate",
        MERGED,
    ),
    "calls": (
        "hs_timestamp",
        "hs_call_title",
        "hs_call_body",
        "hs_call_duration",
        "hs_call_direction",
        "hs_call_disposition",
        "hs_lastmodifieddate",
    ),
    "emails": (
        "hs_timestamp",
        "hs_email_subject",
        "hs_email_text",
        "hs_email_direction",
        "hs_lastmodifieddate",
    ),
    "meetings": (
        "hs_timestamp",
        "hs_meeting_title",
        "hs_meeting_body",
        "hs_meeting_start_time",
        "hs_meeting_end_time",
        "hs_meeting_outcome",
        "hs_lastmodifieddate",
    ),
    "notes": ("hs_timestamp", "hs_note_body", "hs_lastmodifieddate"),
}
#: The property each object type's modification time is in (search filters and cursors).
MODIFIED: Mapping[str, str] = {
    **dict.fromkeys(("deals", "companies", *ENGAGEMENTS), "hs_lastmodifieddate"),
    "contacts": "lastmodifieddate",
}


#: What a deal's association with a contact says of its stakeholder: who, on which deal. Its
#: roles and scores are PIE's or a person's, and its ``created_at`` (when the contact became
#: known on the deal) is kept from the first time.
STAKEHOLDER_LINK = frozenset({"account_id", "deal_id", "contact_id"})


class Pipelines:
    """The portal's deal pipelines, as the ``pipelines`` stream brings them: each stage's label
    and what its metadata says (probability, closed, won, place among the open stages), so a
    custom stage maps without a hand-made mapping whenever its metadata allows."""

    def __init__(self) -> None:
        self.labels: dict[str, str] = {}  # stage id -> label
        self.meta: dict[str, StageMeta] = {}  # normalized stage id or label -> metadata

    def add(self, pipeline: Mapping[str, Any]) -> None:
        stages = [s for s in pipeline.get("stages") or () if isinstance(s, Mapping)]
        stages.sort(key=lambda s: (_number(s.get("displayOrder")), str(s.get("id"))))
        opened = [s for s in stages if not _is_closed(s)]
        for stage in stages:
            stage_id, label = str(stage.get("id") or ""), str(stage.get("label") or "")
            if not stage_id:
                continue
            metadata = stage.get("metadata") or {}
            probability = _probability(metadata.get("probability"))
            closed = _is_closed(stage)
            meta = StageMeta(
                order=None if closed else opened.index(stage),
                of=None if closed else len(opened),
                probability=probability,
                is_closed=closed,
                is_won=(probability is not None and probability >= 1.0) if closed else False,
            )
            self.labels[stage_id] = label or stage_id
            self.meta[normalize_name(stage_id)] = meta
            if label:
                self.meta.setdefault(normalize_name(label), meta)

    def name(self, stage: str, record: Mapping[str, Any] | None = None) -> str:
        """The name a stage id is mapped by: its label when the pipelines are known."""
        return self.labels.get(stage.strip(), stage_name(stage, record or {}))

    def metadata(self, name: str) -> StageMeta | None:
        return self.meta.get(normalize_name(name))


def _is_closed(stage: Mapping[str, Any]) -> bool:
    return str((stage.get("metadata") or {}).get("isClosed", "")).strip().lower() == "true"


def _probability(value: Any) -> float | None:
    try:
        return fraction(value) if value not in (None, "") else None
    except v.BadValue:
        return None


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _roles(record: Mapping[str, Any], to: str) -> dict[str, tuple[StakeholderRole, ...]]:
    """Associated id -> the stakeholder roles its association labels name ("Decision maker",
    "Champion": the roles Salesforce's contact roles map to). An association without a label
    that names a role carries no roles (a person's roles in PIE stay)."""
    found = (record.get("associations") or {}).get(to)
    out: dict[str, tuple[StakeholderRole, ...]] = {}
    if not isinstance(found, Mapping):
        return out
    for r in found.get("results") or ():
        if not isinstance(r, Mapping):
            continue
        named = (ROLES.get(str(label).strip().lower()) for label in r.get("labels") or ())
        roles = tuple(dict.fromkeys(role for role in named if role is not None))
        if roles:
            out[str(r["id"])] = roles
    return out


def _associated(record: Mapping[str, Any], to: str) -> list[str]:
    found = (record.get("associations") or {}).get(to)
    if not isinstance(found, Mapping):
        return []
    return [str(r["id"]) for r in found.get("results") or () if isinstance(r, Mapping)]


class ApiMapper:
    """Maps every stream of the HubSpot connector for one run (see the streams above)."""

    def __init__(self, ctx: MapContext) -> None:
        self.ctx = ctx
        self.pipelines = Pipelines()
        vendor = replace(DEAL, stage_name=self.pipelines.name, stage_meta=self.pipelines.metadata)
        self.deals = CrmDealMapper(vendor, ctx)

    def describe(self, raw: RawRecord) -> tuple[EntityKind, str]:
        if raw.stream == "deals":
            return self.deals.describe(raw)
        kind = KINDS.get(raw.stream.removeprefix(ARCHIVED), EntityKind.DEAL)
        record = raw.data
        if raw.stream == PIPELINES or not isinstance(record, Mapping):
            return kind, ""
        return kind, _text(record.get("id"))

    def draft(self, raw: RawRecord) -> Draft | None:
        record = raw.data
        if not isinstance(record, Mapping):
            raise Problem("", "is not an object")
        if raw.stream == PIPELINES:
            self.pipelines.add(record)
            return Draft(kind=EntityKind.DEAL, record=raw.where, record_id="", build=_nothing)
        if raw.stream.startswith(ARCHIVED):
            return _archived(raw.stream.removeprefix(ARCHIVED), raw.where, record)
        if raw.stream == "deals":
            return self._deal(raw)
        if raw.stream == "companies":
            return self._company(raw.where, record)
        if raw.stream == "contacts":
            return self._contact(raw.where, record)
        if raw.stream in ENGAGEMENTS:
            return self._engagement(raw.stream, raw.where, record)
        raise Problem("", f"unknown stream {raw.stream!r}")

    def _id(self, kind: EntityKind, record: Mapping[str, Any]) -> str:
        ext = _text(record.get("id"))
        if not ext:
            raise Problem("hs_object_id", "is empty")
        if not self.ctx.seen.add(kind, ext):
            raise Problem("hs_object_id", f"{ext!r} appears more than once {self.ctx.scope}")
        return ext

    def _company(self, where: str, record: Mapping[str, Any]) -> Draft:
        props = _properties(record)
        name = _text(props.get("name"))
        if "name" in props and not name:
            raise Problem("name", "is empty")
        created = _time(props, "createdate") or self.ctx.now
        updated = _time(props, "hs_lastmodifieddate") or created
        employees = _parsed(props, "numberofemployees", _count)
        revenue = _parsed(props, "annualrevenue", lambda x: v.to_money(x)[0])
        ext = _text(record.get("id"))
        custom = _custom(props, COMPANY_FIELDS)
        account = Account(
            id=_UNSET,
            tenant_id=_UNSET,
            name=name or ext,
            domain=_text(props.get("domain")) or None,
            industry=_text(props.get("industry")) or None,
            employees=employees,
            annual_revenue=revenue,
            country=_text(props.get("country")) or None,
            owner=_text(props.get("hubspot_owner_id")) or None,
            custom_fields=custom,
            created_at=created,
            updated_at=updated,
        )
        carried = {f for key, f in COMPANY_FIELDS.items() if key in props}
        carried |= {"created_at", "updated_at"} | ({"custom_fields"} if custom else set())
        ext = self._id(EntityKind.ACCOUNT, record)
        fields = frozenset(carried)

        return _merges(account_draft(where, ext, account, fields), props)

    def _contact(self, where: str, record: Mapping[str, Any]) -> Draft:
        props = _properties(record)
        first, last = _text(props.get("firstname")), _text(props.get("lastname"))
        email = _text(props.get("email"))
        name = " ".join(p for p in (first, last) if p) or email
        if not name:
            raise Problem("firstname", "is empty: a contact needs a name or an email")
        if email and "@" not in email:
            raise Problem("email", f"is not an email address: {email!r}")
        created = _time(props, "createdate") or self.ctx.now
        updated = _time(props, "lastmodifieddate") or created
        companies = _associated(record, "companies") or _several(props.get("associatedcompanyid"))
        contact = Contact(
            id=_UNSET,
            tenant_id=_UNSET,
            account_id=None,
            name=name,
            title=_text(props.get("jobtitle")) or None,
            email=email or None,
            phone=_text(props.get("phone")) or None,
            department=_text(props.get("department")) or None,
            created_at=created,
            updated_at=updated,
        )
        carried = {f for key, f in CONTACT_FIELDS.items() if key in props}
        carried |= {"name", "created_at", "updated_at"}
        has_company = "associatedcompanyid" in props or "companies" in (
            record.get("associations") or {}
        )
        if has_company:
            carried.add("account_id")
        ext = self._id(EntityKind.CONTACT, record)
        fields = frozenset(carried)
        company = companies[0] if companies else None

        def build(ids: Ids) -> Records:
            out = Records()
            contact.id, contact.tenant_id = ids.own(EntityKind.CONTACT, ext), ids.tenant_id
            if company is not None:
                contact.account_id = ids.ref(EntityKind.ACCOUNT, company)
            out.contacts.add(contact, fields)
            return out

        draft = Draft(
            kind=EntityKind.CONTACT,
            record=where,
            record_id=ext,
            build=build,
            own=[(EntityKind.CONTACT, ext)],
            lookups=[(EntityKind.ACCOUNT, company)] if company else [],
        )
        return _merges(draft, props)

    def _engagement(self, kind: str, where: str, record: Mapping[str, Any]) -> Draft:
        props = _properties(record)
        at = _time(props, "hs_timestamp")
        if at is None:
            raise Problem("hs_timestamp", "is empty")
        title_key, body_key = ENGAGEMENT_TEXT[kind]
        deals = _associated(record, "deals")
        contacts = _associated(record, "contacts")
        companies = _associated(record, "companies")
        activity = Activity(
            id=_UNSET,
            tenant_id=_UNSET,
            deal_id=None,
            account_id=None,
            type=ENGAGEMENTS[kind],
            occurred_at=at,
            subject=(_text(props.get(title_key)) or None) if title_key else None,
            raw_content=_text(props.get(body_key)) or None,
        )
        ext = self._id(EntityKind.ACTIVITY, record)
        lookups = [(EntityKind.DEAL, d) for d in deals[:1]]
        lookups += [(EntityKind.ACCOUNT, c) for c in companies[:1]]
        lookups += [(EntityKind.CONTACT, c) for c in contacts]

        def build(ids: Ids) -> Records:
            out = Records()
            activity.id, activity.tenant_id = ids.own(EntityKind.ACTIVITY, ext), ids.tenant_id
            activity.deal_id = ids.ref(EntityKind.DEAL, deals[0]) if deals else None
            if companies:
                activity.account_id = ids.ref(EntityKind.ACCOUNT, companies[0])
            found = (ids.ref(EntityKind.CONTACT, c) for c in contacts)
            activity.participants = tuple(dict.fromkeys(p for p in found if p is not None))
            out.activities.add(activity)
            return out

        return Draft(
            kind=EntityKind.ACTIVITY,
            record=where,
            record_id=ext,
            build=build,
            own=[(EntityKind.ACTIVITY, ext)],
            lookups=lookups,
        )

    def _deal(self, raw: RawRecord) -> Draft | None:
        record = raw.data
        history = (record.get("propertiesWithHistory") or {}).get("dealstage")
        entries = _stage_entries(history) if isinstance(history, list) else []
        changes: list[tuple[Stage | None, Stage, datetime, float | None]] = []
        previous: tuple[Stage, datetime] | None = None
        for value, at in entries:
            name = self.pipelines.name(value, _properties(record))
            stage = self.ctx.stages.map(name, self.pipelines.metadata(name))
            if stage is None:
                return None
            if previous is not None and previous[0] is stage:
                continue
            days = (at - previous[1]).total_seconds() / 86400 if previous else None
            changes.append((previous[0] if previous else None, stage, at, days))
            previous = (stage, at)
        draft = self.deals.draft(raw)
        if draft is not None:
            draft = _merges(draft, _properties(record))
        contacts = _associated(record, "contacts")
        roles = _roles(record, "contacts")
        if draft is None or not (changes or contacts):
            return draft
        ext, inner, source = draft.record_id, draft.build, self.ctx.stages.source

        def build(ids: Ids) -> Records:
            out = inner(ids)
            deal = out.deals.items[-1]
            for contact in contacts:
                contact_id = ids.ref(EntityKind.CONTACT, contact)
                if contact_id is None:
                    continue  # not stored (rejected, or not read yet): linked next time
                labelled = roles.get(contact, ())
                out.stakeholders.add(
                    deal_stakeholder(
                        ids,
                        deal,
                        contact_id,
                        created_at=deal.updated_at,
                        updated_at=deal.updated_at,
                        roles=labelled,
                    ),
                    STAKEHOLDER_LINK | {"roles"} if labelled else STAKEHOLDER_LINK,
                )
            for before, after, at, days in changes:
                key = f"{ext}|{at.isoformat()}"
                out.transitions.add(
                    StageTransition(
                        id=derive_id(ids.tenant_id, EntityKind.STAGE_TRANSITION, source, key),
                        tenant_id=ids.tenant_id,
                        deal_id=deal.id,
                        from_stage=before,
                        to_stage=after,
                        at=at,
                        days_in_from_stage=days,
                    )
                )
            return out

        draft.build = build
        draft.lookups = [*draft.lookups, *((EntityKind.CONTACT, c) for c in contacts)]
        return draft


def api_mapper(ctx: MapContext) -> ApiMapper:
    """The mapper of the HubSpot connector's streams."""
    return ApiMapper(ctx)


def _stage_entries(history: list[Any]) -> list[tuple[str, datetime]]:
    """``propertiesWithHistory.dealstage`` (newest first) -> (stage, time), oldest first."""
    entries: list[tuple[str, datetime]] = []
    for n, entry in enumerate(history):
        if not isinstance(entry, Mapping) or not _text(entry.get("value")):
            continue
        try:
            at = v.to_timestamp(entry.get("timestamp"))
        except v.BadValue as exc:
            raise Problem(f"propertiesWithHistory.dealstage[{n}].timestamp", str(exc)) from None
        entries.append((_text(entry["value"]), at))
    entries.sort(key=lambda e: e[1])
    return entries


def _merges(draft: Draft, props: Mapping[str, Any]) -> Draft:
    """A record that others were merged into (``hs_merged_object_ids``): their ids now name
    it (their refs point here), and a PIE record stored for one of them is merged into this
    one (``Records.merges``: its activities move here, then it is deleted)."""
    kind, ext = draft.kind, draft.record_id
    merged = [m for m in _several(props.get(MERGED)) if m != ext]
    if not merged:
        return draft
    inner = draft.build

    def build(ids: Ids) -> Records:
        out = inner(ids)
        me = ids.own(kind, ext)
        for other in merged:
            duplicate = ids.ref(kind, other)
            if duplicate is not None and duplicate != me:
                out.merges.append((kind, duplicate, me))
        return out

    draft.build = build
    draft.lookups = [*draft.lookups, *((kind, m) for m in merged)]
    draft.aliases = [(kind, m) for m in merged]
    return draft


def _archived(object_type: str, where: str, record: Mapping[str, Any]) -> Draft:
    kind = KINDS.get(object_type)
    if kind is None:
        raise Problem("", f"unknown object type {object_type!r}")
    ext = _text(record.get("id"))
    if not ext:
        raise Problem("hs_object_id", "is empty")

    def build(ids: Ids) -> Records:
        out = Records()
        if (ident := ids.ref(kind, ext)) is not None:
            out.deletes.append((kind, ident))
        return out

    return Draft(kind=kind, record=where, record_id=ext, build=build, lookups=[(kind, ext)])


_UNSET = UUID(int=0)  # ids are set by build, once the sink knows them


def _nothing(ids: Ids) -> Records:
    return Records()


def _properties(record: Mapping[str, Any]) -> Mapping[str, Any]:
    props = record.get("properties")
    if not isinstance(props, Mapping):
        raise Problem("properties", "is missing")
    return props


def _time(props: Mapping[str, Any], key: str) -> datetime | None:
    value = props.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return v.to_timestamp(value)
    except v.BadValue as exc:
        raise Problem(key, str(exc)) from None


def _parsed(props: Mapping[str, Any], key: str, parse: Callable[[Any], Any]) -> Any:
    value = props.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return parse(value)
    except (v.BadValue, ValueError, InvalidOperation) as exc:
        raise Problem(key, str(exc)) from None


def _count(value: Any) -> int:
    number = Decimal(str(value).strip())
    if number != number.to_integral_value() or number < 0:
        raise v.BadValue(f"is not a whole number: {value!r}")
    return int(number)


def _custom(props: Mapping[str, Any], known: Mapping[str, str]) -> dict[str, Any]:
    return {
        key: value
        for key, value in props.items()
        if key not in known
        and key not in SYSTEM
        and value is not None
        and (not isinstance(value, str) or value.strip())
    }
