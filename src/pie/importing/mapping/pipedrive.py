"""Pipedrive: organizations, persons, deals (with their deal flow) and activities, in the API's
field names, become Accounts, Contacts, Deals (with a primary Stakeholder and StageTransitions)
and Activities.

Records are API v2's (``GET /api/v2/deals`` etc.): ids are integers, times RFC 3339, custom
fields under ``custom_fields`` by their 40-hex keys. A deal record may carry ``_flow``: the
``dealChange`` items of ``GET /api/v1/deals/{id}/flow`` (v1: times ``YYYY-MM-DD HH:MM:SS`` UTC,
values as strings), which the connector adds because v2 has no stage history.

What a record means depends on the account's metadata, which the connector adds to each
record as ``_metadata`` (``{"pipelines": [...], "stages": [...], "fields": {"deal": [...]},
"users": [...]}``, as the API lists them; owners are named by ``users``), so the mapping is a
function of the record alone and a changed stage or field definition changes the record's
digest. A deal names its stage by id, and the stage's name, pipeline, place (``order_nr``)
and ``deal_probability`` decide the canonical stage, so custom stages map without a mapping
file whenever the metadata says enough. Won and lost are deal ``status`` values, not stages.
Custom fields are kept by their names (``dealFields``, ``organizationFields``,
``personFields``); option ids become labels.

A record that is deleted (``is_deleted``, or a deal's ``status`` ``deleted``) deletes the
stored record. "Organization" and "person" exist only here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from pie.domain.model import (
    Account,
    Activity,
    ActivityType,
    Contact,
    Deal,
    EntityKind,
    StageTransition,
    derive_id,
)
from pie.domain.stage_mapping import StageMeta
from pie.domain.stages import InvalidTransition, Stage, classify_transition
from pie.importing import values as v
from pie.importing.draft import (
    Draft,
    Ids,
    Problem,
    Records,
    account_draft,
    contact_draft,
    deal_stakeholder,
)
from pie.importing.mapping import MapContext
from pie.importing.source import RawRecord

ORGANIZATIONS, PERSONS, DEALS, ACTIVITIES = "organizations", "persons", "deals", "activities"
STREAMS = (ORGANIZATIONS, PERSONS, DEALS, ACTIVITIES)
KINDS: Mapping[str, EntityKind] = {
    ORGANIZATIONS: EntityKind.ACCOUNT,
    PERSONS: EntityKind.CONTACT,
    DEALS: EntityKind.DEAL,
    ACTIVITIES: EntityKind.ACTIVITY,
}
FLOW, METADATA = "_flow", "_metadata"  # what the connector adds to the API's records
PARTICIPANTS = "_participants"  # and a deal's v1 participants (persons taking part)
#: The field-metadata entity of each stream (``GET /api/v1/{entity}Fields``).
FIELD_ENTITIES: Mapping[str, str] = {
    ORGANIZATIONS: "organization",
    PERSONS: "person",
    DEALS: "deal",
}

#: Activity types (their ``key_string``) -> PIE's; any other type is a follow-up.
ACTIVITY_TYPES: Mapping[str, ActivityType] = {
    "call": ActivityType.CALL,
    "meeting": ActivityType.MEETING,
    "lunch": ActivityType.MEETING,
    "email": ActivityType.EMAIL,
    "task": ActivityType.FOLLOW_UP,
    "deadline": ActivityType.FOLLOW_UP,
    "demo": ActivityType.DEMO,
    "proposal": ActivityType.PROPOSAL,
    "contract": ActivityType.CONTRACT,
    "internal": ActivityType.INTERNAL,
}

ACCOUNT_FIELDS = frozenset({"name", "owner", "country", "custom_fields", "created_at"})
CONTACT_FIELDS = frozenset({"name", "email", "phone", "account_id", "created_at"})
DEAL_FIELDS = frozenset(
    {
        "source",
        "name",
        "stage",
        "source_stage",
        "value",
        "currency",
        "probability",
        "expected_close",
        "owner",
        "lost_reason",
        "account_id",
        "custom_fields",
        "created_at",
        "closed_at",
    }
)
#: A deal's person is its primary stakeholder; roles, scores and notes are PIE's to fill.
STAKEHOLDER_FIELDS = frozenset({"account_id", "deal_id", "contact_id", "is_primary", "created_at"})
ACTIVITY_FIELDS = frozenset(
    {"deal_id", "account_id", "type", "occurred_at", "participants", "subject", "summary"}
)


@dataclass(slots=True)
class Metadata:
    """The account's pipelines, stages and custom-field definitions, as the API lists them."""

    pipelines: dict[int, Mapping[str, Any]] = field(default_factory=dict)
    stages: dict[int, Mapping[str, Any]] = field(default_factory=dict)
    users: dict[int, str] = field(default_factory=dict)  # user id -> name
    #: entity ("deal", "organization", "person") -> field key -> field definition
    fields: dict[str, dict[str, Mapping[str, Any]]] = field(default_factory=dict)

    @classmethod
    def of(cls, document: Any) -> Metadata:
        """From a record's ``_metadata``."""
        meta = cls()
        if isinstance(document, Mapping):
            meta.load(
                document.get("pipelines") or (),
                document.get("stages") or (),
                document.get("fields") or {},
                document.get("users") or (),
            )
        return meta

    def load(
        self,
        pipelines: Sequence[Mapping[str, Any]],
        stages: Sequence[Mapping[str, Any]],
        fields: Mapping[str, Sequence[Mapping[str, Any]]],
        users: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        self.users = {int(u["id"]): str(u["name"]) for u in users if u.get("name")}
        self.pipelines = {int(p["id"]): p for p in pipelines}
        self.stages = {int(s["id"]): s for s in stages}
        self.fields = {entity: {str(f["key"]): f for f in defs} for entity, defs in fields.items()}

    def stage(self, stage_id: Any, field_name: str) -> tuple[str, StageMeta]:
        """The stage's name and what its pipeline says about it: its place among the
        pipeline's stages (by ``order_nr``) and its deal probability."""
        try:
            stage = self.stages[int(stage_id)]
        except (KeyError, TypeError, ValueError):
            raise Problem(field_name, f"stage {stage_id!r} is not among the stages") from None
        pipeline_id = stage.get("pipeline_id")
        siblings = sorted(
            (s for s in self.stages.values() if s.get("pipeline_id") == pipeline_id),
            key=lambda s: (s.get("order_nr") or 0, s["id"]),
        )
        live = [s for s in siblings if not s.get("is_deleted")] or siblings
        order = next((i for i, s in enumerate(live) if s["id"] == stage["id"]), None)
        pipeline = self.pipelines.get(int(pipeline_id)) if pipeline_id is not None else None
        enabled = pipeline is None or pipeline.get("is_deal_probability_enabled", True)
        chance = stage.get("deal_probability")
        probability = float(chance) / 100.0 if enabled and chance is not None else None
        meta = StageMeta(order=order, of=len(live), probability=probability, is_closed=False)
        return str(stage.get("name") or stage_id), meta

    def owner(self, user_id: Any) -> str | None:
        """A user's name (their id when the users are not known)."""
        if user_id is None or user_id == "":
            return None
        try:
            return self.users.get(int(user_id)) or str(user_id)
        except (TypeError, ValueError):
            return str(user_id)

    def pipeline_name(self, pipeline_id: Any) -> str | None:
        if pipeline_id is None:
            return None
        pipeline = self.pipelines.get(int(pipeline_id))
        return str(pipeline["name"]) if pipeline and pipeline.get("name") else None

    def custom_fields(self, entity: str, values: Any) -> dict[str, Any]:
        """``custom_fields`` by field name; option ids as labels; empty values left out."""
        if not isinstance(values, Mapping):
            return {}
        defs = self.fields.get(entity, {})
        out: dict[str, Any] = {}
        for key, value in values.items():
            if value is None or value == "" or value == []:
                continue
            definition = defs.get(key)
            name = str(definition.get("name") or key) if definition else key
            out[name] = _option_labels(definition, value) if definition else value
        return out


def _option_labels(definition: Mapping[str, Any], value: Any) -> Any:
    options = {o.get("id"): o.get("label") for o in definition.get("options") or ()}
    if not options:
        return value
    if isinstance(value, list):
        return [options.get(x, x) for x in value]
    return options.get(value, value)


class PipedriveMapper:
    """Maps the records of a Pipedrive connector for one run."""

    def __init__(self, ctx: MapContext) -> None:
        self.ctx = ctx
        self.meta = Metadata()
        self._document: Any = None  # the ``_metadata`` ``meta`` was read from

    def _metadata(self, record: Mapping[str, Any]) -> None:
        """``meta`` from the record's ``_metadata``, read once per document."""
        document = record.get(METADATA)
        if document is not self._document:
            self.meta, self._document = Metadata.of(document), document

    def describe(self, raw: RawRecord) -> tuple[EntityKind, str]:
        kind = KINDS.get(raw.stream, EntityKind.DEAL)
        record = raw.data
        ident = record.get("id") if isinstance(record, Mapping) else None
        return kind, "" if ident is None else str(ident)

    def draft(self, raw: RawRecord) -> Draft | None:
        if raw.stream not in KINDS:
            raise Problem("", f"unknown stream {raw.stream!r}")
        record = raw.data
        if not isinstance(record, Mapping):
            raise Problem("", "is not an object")
        kind = KINDS[raw.stream]
        ext = _text(record.get("id"))
        if not ext:
            raise Problem("id", "is empty")
        if not self.ctx.seen.add(kind, ext):
            raise Problem("id", f"{ext!r} appears more than once {self.ctx.scope}")
        if is_deleted(record):
            return _delete(kind, raw.where, ext)
        self._metadata(record)
        if raw.stream == ORGANIZATIONS:
            return self._organization(raw.where, ext, record)
        if raw.stream == PERSONS:
            return self._person(raw.where, ext, record)
        if raw.stream == DEALS:
            return self._deal(raw.where, ext, record)
        return self._activity(raw.where, ext, record)

    def _organization(self, where: str, ext: str, rec: Mapping[str, Any]) -> Draft:
        created = _required_time(rec, "add_time")
        address = rec.get("address")
        country = address.get("country") if isinstance(address, Mapping) else None
        account = Account(
            id=_UNSET,
            tenant_id=_UNSET,
            name=_required(rec, "name"),
            country=_text(country) or None,
            owner=self.meta.owner(rec.get("owner_id")),
            custom_fields=self.meta.custom_fields("organization", rec.get("custom_fields")),
            created_at=created,
            updated_at=_time(rec, "update_time") or created,
        )

        return account_draft(where, ext, account, ACCOUNT_FIELDS | {"updated_at"})

    def _person(self, where: str, ext: str, rec: Mapping[str, Any]) -> Draft:
        created = _required_time(rec, "add_time")
        org = _text(rec.get("org_id"))
        contact = Contact(
            id=_UNSET,
            tenant_id=_UNSET,
            account_id=None,
            name=_required(rec, "name"),
            email=_primary(rec.get("emails")),
            phone=_primary(rec.get("phones")),
            created_at=created,
            updated_at=_time(rec, "update_time") or created,
        )

        carried = CONTACT_FIELDS | {"updated_at"}
        return contact_draft(where, ext, contact, carried, account=org, account_field="org_id")

    def _deal(self, where: str, ext: str, rec: Mapping[str, Any]) -> Draft | None:
        stages = self.ctx.stages
        created = _required_time(rec, "add_time")
        updated = _time(rec, "update_time") or created
        name = _required(rec, "title")
        money = _parse(rec, "value", v.to_money)
        currency = _parse(rec, "currency", v.parse_currency) or (money[1] if money else None)
        probability = _parse(rec, "probability", _percent)
        expected = _parse(rec, "expected_close_date", v.to_date)
        status = _text(rec.get("status")) or "open"
        if status not in ("open", "won", "lost"):
            raise Problem("status", f"{status!r} is not open, won, lost or deleted")
        stage_name, stage = self._state(rec.get("stage_id"), status, "stage_id")
        history = self._history(rec, status, created)
        if stage is None or history is None:
            return None  # the stage mapper has the unmapped names
        closed_at = None
        if status != "open":
            closed_at = _time(rec, f"{status}_time") or _time(rec, "close_time") or updated
        custom = self.meta.custom_fields("deal", rec.get("custom_fields"))
        if pipeline := self.meta.pipeline_name(rec.get("pipeline_id")):
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
            expected_close=expected,
            owner=self.meta.owner(rec.get("owner_id")),
            source=stages.source,
            custom_fields=custom,
            lost_reason=_text(rec.get("lost_reason")) or None,
            created_at=created,
            updated_at=updated,
            closed_at=closed_at,
        )
        org, person = _text(rec.get("org_id")), _text(rec.get("person_id"))
        others = [p for p in _participants(rec) if p != person]
        refs: list[tuple[EntityKind, str, str]] = []
        if org:
            refs.append((EntityKind.ACCOUNT, org, "org_id"))
        if person:
            refs.append((EntityKind.CONTACT, person, "person_id"))

        def build(ids: Ids) -> Records:
            deal.id, deal.tenant_id = ids.own(EntityKind.DEAL, ext), ids.tenant_id
            deal.account_id = ids.need(EntityKind.ACCOUNT, org, "org_id") if org else None
            out = Records()
            out.deals.add(deal, DEAL_FIELDS | {"updated_at"})
            for step in history:
                out.transitions.add(step.transition(ids.tenant_id, deal.id))
            if person:
                contact_id = ids.need(EntityKind.CONTACT, person, "person_id")
                out.stakeholders.add(
                    deal_stakeholder(
                        ids,
                        deal,
                        contact_id,
                        created_at=created,
                        updated_at=updated,
                        is_primary=True,
                    ),
                    STAKEHOLDER_FIELDS | {"updated_at"},
                )
            for other in others:  # a participant not stored (yet) is linked next time
                if (taking_part := ids.ref(EntityKind.CONTACT, other)) is None:
                    continue
                out.stakeholders.add(
                    deal_stakeholder(
                        ids, deal, taking_part, created_at=created, updated_at=updated
                    ),
                    STAKEHOLDER_FIELDS | {"updated_at"},
                )
            return out

        return Draft(
            kind=EntityKind.DEAL,
            record=where,
            record_id=ext,
            build=build,
            own=[(EntityKind.DEAL, ext)],
            refs=refs,
            lookups=[(EntityKind.CONTACT, p) for p in others],
        )

    def _state(self, stage_id: Any, status: str, field_name: str) -> tuple[str, Stage | None]:
        """A deal's canonical stage from its stage and status: won and lost are statuses."""
        if status in ("won", "lost"):
            won = status == "won"
            return status, self.ctx.stages.map(status, StageMeta(is_closed=True, is_won=won))
        if stage_id is None:
            raise Problem(field_name, "is empty")
        name, meta = self.meta.stage(stage_id, field_name)
        return name, self.ctx.stages.map(name, meta)

    def _history(
        self, rec: Mapping[str, Any], status: str, created: datetime
    ) -> list[_Step] | None:
        """The deal's stage transitions from its flow: the entry into its first stage at
        ``add_time``, then one per change of its canonical stage (stage or status), each with
        the deal's value, expected close and probability as they were then (the flow's changes
        of those fields; before the first change, its old value)."""
        flow = rec.get(FLOW)
        if flow is None:
            return []
        if not isinstance(flow, list):
            raise Problem(FLOW, "is not a list")
        changes: list[tuple[datetime, int, str, str, str, int]] = []
        for n, item in enumerate(flow):
            data = item.get("data") if isinstance(item, Mapping) else None
            if not isinstance(data, Mapping) or item.get("object") != "dealChange":
                continue
            key = data.get("field_key")
            if key not in _FLOW_FIELDS:
                continue
            at = _v1_time(data.get("log_time") or item.get("timestamp"), f"{FLOW}[{n}].log_time")
            old, new = _text(data.get("old_value")), _text(data.get("new_value"))
            changes.append((at, int(data.get("id") or 0), str(key), old, new, n))
        changes.sort(key=lambda c: (c[0], c[1]))

        def first(key: str, default: str) -> str:
            return next((c[3] for c in changes if c[2] == key), default)

        stage_id = first("stage_id", _text(rec.get("stage_id"))) or _text(rec.get("stage_id"))
        state = first("status", status)
        if state not in ("open", "won", "lost"):
            state = "open"
        #: field -> (its text value, where it was set: the record or a flow item)
        facts = {k: (first(k, _text(rec.get(k))), FLOW) for k in _FLOW_FIELDS[2:]}
        current = self._state(stage_id, state, FLOW)[1]
        if current is None:
            return None
        steps = [_Step(None, current, created, None, *_facts(facts))]
        entered = created
        unmapped = False
        for at, _, key, _, new, n in changes:
            where = f"{FLOW}[{n}]"
            if key == "stage_id":
                stage_id = new
            elif key == "status" and new in ("open", "won", "lost"):
                state = new
            elif key == "status":
                continue  # "deleted": the record says so itself
            else:
                facts[key] = (new, where)
                continue
            stage = self._state(stage_id, state, where)[1]
            if stage is None:
                unmapped = True
                continue
            if stage is current:
                continue
            try:
                classify_transition(current, stage)
            except InvalidTransition as exc:
                raise Problem(where, str(exc)) from None
            days = (at - entered).total_seconds() / 86400.0
            steps.append(_Step(current, stage, at, days, *_facts(facts)))
            current, entered = stage, at
        return None if unmapped else steps

    def _activity(self, where: str, ext: str, rec: Mapping[str, Any]) -> Draft:
        created = _required_time(rec, "add_time")
        occurred = _due(rec) or created
        deal_ext, org, person = (_text(rec.get(k)) for k in ("deal_id", "org_id", "person_id"))
        kind = ACTIVITY_TYPES.get(_text(rec.get("type")).lower(), ActivityType.FOLLOW_UP)
        activity = Activity(
            id=_UNSET,
            tenant_id=_UNSET,
            deal_id=None,
            account_id=None,
            type=kind,
            occurred_at=occurred,
            subject=_text(rec.get("subject")) or None,
            summary=_text(rec.get("note")) or None,
        )
        refs: list[tuple[EntityKind, str, str]] = []
        if deal_ext:
            refs.append((EntityKind.DEAL, deal_ext, "deal_id"))
        if org:
            refs.append((EntityKind.ACCOUNT, org, "org_id"))
        if person:
            refs.append((EntityKind.CONTACT, person, "person_id"))

        def build(ids: Ids) -> Records:
            activity.id, activity.tenant_id = ids.own(EntityKind.ACTIVITY, ext), ids.tenant_id
            if deal_ext:
                activity.deal_id = ids.need(EntityKind.DEAL, deal_ext, "deal_id")
            if org:
                activity.account_id = ids.need(EntityKind.ACCOUNT, org, "org_id")
            if person:
                activity.participants = (ids.need(EntityKind.CONTACT, person, "person_id"),)
            out = Records()
            out.activities.add(activity, ACTIVITY_FIELDS)
            return out

        return Draft(
            kind=EntityKind.ACTIVITY,
            record=where,
            record_id=ext,
            build=build,
            own=[(EntityKind.ACTIVITY, ext)],
            refs=refs,
        )


#: The deal-flow changes read: the stage and status, and the facts a transition records.
_FLOW_FIELDS = ("stage_id", "status", "value", "expected_close_date", "probability")


def _facts(
    facts: Mapping[str, tuple[str, str]],
) -> tuple[Decimal | None, date | None, float | None]:
    """(value, expected close, probability) from the flow's text values."""

    def parse(key: str, fn: Any) -> Any:
        text, where = facts.get(key) or ("", "")
        if not text:
            return None
        try:
            return fn(text)
        except v.BadValue as exc:
            raise Problem(f"{where}.{key}", str(exc)) from None

    money = parse("value", v.parse_money)
    return (
        money[0] if money else None,
        parse("expected_close_date", v.parse_date),
        parse("probability", v.parse_percent),
    )


@dataclass(frozen=True, slots=True)
class _Step:
    from_stage: Stage | None
    to_stage: Stage
    at: datetime
    days: float | None
    value: Decimal | None = None
    expected_close: date | None = None
    probability: float | None = None

    def transition(self, tenant_id: UUID, deal_id: UUID) -> StageTransition:
        return StageTransition(
            id=derive_id(
                tenant_id, EntityKind.STAGE_TRANSITION, deal_id, self.at.isoformat(), self.to_stage
            ),
            tenant_id=tenant_id,
            deal_id=deal_id,
            from_stage=self.from_stage,
            to_stage=self.to_stage,
            at=self.at,
            days_in_from_stage=self.days,
            value=self.value,
            expected_close=self.expected_close,
            probability=self.probability,
        )


def mapper(ctx: MapContext) -> PipedriveMapper:
    """The mapper of every Pipedrive stream."""
    return PipedriveMapper(ctx)


def _delete(kind: EntityKind, where: str, ext: str) -> Draft:
    """A deleted record: delete what is stored of it, its external ref with it; a record
    that is not stored (deleted before, or never stored) is left alone."""

    def build(ids: Ids) -> Records:
        out = Records()
        if (ident := ids.ref(kind, ext)) is not None:
            out.deletes.append((kind, ident))
        return out

    return Draft(kind=kind, record=where, record_id=ext, build=build, lookups=[(kind, ext)])


def _participants(rec: Mapping[str, Any]) -> list[str]:
    """The person ids of a deal's v1 participants (``person_id`` is ``{"value": id, ...}``)."""
    found = rec.get(PARTICIPANTS)
    if not isinstance(found, list):
        return []
    out: list[str] = []
    for item in found:
        if not isinstance(item, Mapping) or item.get("active_flag") is False:
            continue
        person = item.get("person_id")
        ident = _text(person.get("value") if isinstance(person, Mapping) else person)
        if ident and ident not in out:
            out.append(ident)
    return out


def is_deleted(record: Mapping[str, Any]) -> bool:
    """Whether Pipedrive says the record is deleted."""
    return bool(record.get("is_deleted")) or record.get("status") == "deleted"


_UNSET = UUID(int=0)  # ids are set by build, once the sink knows them


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.strip() if isinstance(value, str) else str(value)


def _required(rec: Mapping[str, Any], key: str) -> str:
    value = _text(rec.get(key))
    if not value:
        raise Problem(key, "is empty")
    return value


def _parse(rec: Mapping[str, Any], key: str, parse: Any) -> Any:
    value = rec.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return parse(value)
    except v.BadValue as exc:
        raise Problem(key, str(exc)) from None


def _time(rec: Mapping[str, Any], key: str) -> datetime | None:
    value: datetime | None = _parse(rec, key, v.to_timestamp)
    return value


def _required_time(rec: Mapping[str, Any], key: str) -> datetime:
    value = _time(rec, key)
    if value is None:
        raise Problem(key, "is empty")
    return value


def _v1_time(value: Any, field_name: str) -> datetime:
    """API v1's ``YYYY-MM-DD HH:MM:SS`` (UTC)."""
    try:
        return datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        raise Problem(field_name, f"{value!r} is not a time (YYYY-MM-DD HH:MM:SS)") from None


def _due(rec: Mapping[str, Any]) -> datetime | None:
    """When an activity happens: its due date and time (UTC), else None."""
    day = _text(rec.get("due_date"))
    if not day:
        return None
    at = _text(rec.get("due_time")) or "00:00"
    text = f"{day}T{at}:00Z" if at.count(":") == 1 else f"{day}T{at}Z"
    try:
        return v.parse_timestamp(text)
    except v.BadValue as exc:
        raise Problem("due_date", str(exc)) from None


def _percent(value: Any) -> float:
    """A deal's ``probability``, 0..100, as 0..1."""
    return v.parse_percent(str(value))


def _primary(items: Any) -> str | None:
    """The primary (else the first) value of a person's ``emails`` or ``phones``."""
    if not isinstance(items, list) or not items:
        return None
    chosen = next((i for i in items if isinstance(i, Mapping) and i.get("primary")), items[0])
    value = chosen.get("value") if isinstance(chosen, Mapping) else chosen
    return _text(value) or None
