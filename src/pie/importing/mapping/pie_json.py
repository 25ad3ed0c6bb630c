"""``pie/v1`` records -> drafts: schema check, then the rules the schema cannot state
(timestamps parse and carry a zone, money is not negative, the stage history is consistent,
ids are unique in the file, references resolve).

A record carries the fields whose keys it has: a key that is absent leaves the stored value
alone, a key that is null clears it (``KEY_FIELDS`` says which key fills which field)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

from pie.domain.model import (
    Account,
    Activity,
    ActivityOutcome,
    ActivityType,
    Contact,
    Deal,
    EntityKind,
    KeyMoment,
    Objection,
    StageTransition,
    Stakeholder,
    StakeholderRole,
    derive_id,
)
from pie.domain.stage_mapping import StageMapper
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
from pie.importing.json_stream import schema_problem
from pie.importing.mapping import MapContext
from pie.importing.source import RawRecord

_DEFINITION = {"accounts": "account", "contacts": "contact", "deals": "deal"}
_KIND = {"accounts": EntityKind.ACCOUNT, "contacts": EntityKind.CONTACT, "deals": EntityKind.DEAL}

#: Per section, the record's keys -> the fields they fill (a key not listed fills no field:
#: ``id``, or child records such as ``stage_history``).
KEY_FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "accounts": {
        **{k: (k,) for k in ("name", "domain", "industry", "employees", "annual_revenue")},
        **{k: (k,) for k in ("country", "owner", "custom_fields", "created_at", "updated_at")},
    },
    "contacts": {
        "account": ("account_id",),
        **{k: (k,) for k in ("name", "title", "email", "phone", "department", "created_at")},
        "updated_at": ("updated_at",),
    },
    "deals": {
        "account": ("account_id",),
        "stage": ("stage", "source_stage"),
        **{k: (k,) for k in ("name", "value", "currency", "probability", "expected_close")},
        **{k: (k,) for k in ("owner", "product_line", "lead_source", "detection_confidence")},
        **{k: (k,) for k in ("qualification", "custom_fields", "lost_reason", "closed_at")},
        "created_at": ("created_at",),
    },
    "stakeholders": {
        "roles": ("roles",),
        "primary": ("is_primary",),
        "sentiment": ("sentiment",),
        "engagement": ("engagement",),
    },
}
#: Carried by every record of a section: ``updated_at`` follows any change (it defaults to
#: ``created_at``), a deal always says where it came from, a stakeholder whom it links.
_ALWAYS: dict[str, frozenset[str]] = {
    "accounts": frozenset({"updated_at"}),
    "contacts": frozenset({"updated_at"}),
    "deals": frozenset({"source", "updated_at"}),
    "stakeholders": frozenset({"account_id", "deal_id", "contact_id", "created_at", "updated_at"}),
}

T = TypeVar("T")


def carried(section: str, record: dict[str, Any]) -> frozenset[str]:
    """The fields a record of ``section`` carries: those of the keys it has."""
    shape = (section, *record)  # a file's records come in a few shapes
    found = _CARRIED.get(shape)
    if found is None:
        table = KEY_FIELDS[section]
        fields = set(_ALWAYS[section])
        for key in record:
            fields.update(table.get(key, ()))
        found = _CARRIED[shape] = frozenset(fields)
        if len(_CARRIED) > _CARRIED_SHAPES:
            _CARRIED.clear()
    return found


_CARRIED: dict[tuple[str, ...], frozenset[str]] = {}
_CARRIED_SHAPES = 4096


_UNSET = UUID(int=0)  # ids are set by build, once the sink knows them


def plain(value: Any) -> Any:
    """Decoded JSON (Decimal numbers) -> plain Python (int or float)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(x) for k, x in value.items()}
    if isinstance(value, list):
        return [plain(x) for x in value]
    return value


def _parsed(
    rec: dict[str, Any], key: str, parse: Callable[[Any], T], field: str | None
) -> T | None:
    """``rec[key]`` parsed, None when absent; a value that does not parse is a Problem."""
    value = rec.get(key)
    if value is None:
        return None
    try:
        return parse(value)
    except v.BadValue as exc:
        raise Problem(field or key, str(exc)) from None


def _ts(rec: dict[str, Any], key: str, field: str | None = None) -> datetime | None:
    value = rec.get(key)
    if value is None:
        return None
    try:
        return v.parse_timestamp(value, require_zone=True)
    except v.BadValue as exc:
        raise Problem(field or key, str(exc)) from None


def _date(rec: dict[str, Any], key: str, field: str | None = None) -> date | None:
    return _parsed(rec, key, v.parse_date, field)


def _money(rec: dict[str, Any], key: str, field: str | None = None) -> Decimal | None:
    return _parsed(rec, key, v.check_money, field)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


class PieJsonMapper:
    """Maps the records of a ``PieJsonSource`` (streams accounts, contacts, deals)."""

    def __init__(self, ctx: MapContext) -> None:
        self.seen, self.now, self.stages = ctx.seen, ctx.now, ctx.stages

    def describe(self, raw: RawRecord) -> tuple[EntityKind, str]:
        record_id = raw.data.get("id") if isinstance(raw.data, dict) else None
        return _KIND[raw.stream], record_id if isinstance(record_id, str) else ""

    def draft(self, raw: RawRecord) -> Draft | None:
        section, record, where = raw.stream, raw.data, raw.where
        ext = record.get("id") if isinstance(record, dict) else None
        if problem := schema_problem(_DEFINITION[section], record):
            raise Problem(*problem)
        assert isinstance(ext, str)
        if not self.seen.add(_KIND[section], ext):
            raise Problem("id", f"{ext!r} appears more than once in {section}")
        if section == "accounts":
            return self._account(where, ext, record)
        if section == "contacts":
            return self._contact(where, ext, record)
        return self._deal(where, ext, record, self.stages)

    def _account(self, where: str, ext: str, rec: dict[str, Any]) -> Draft:
        created, updated = _ts(rec, "created_at"), _ts(rec, "updated_at")
        created_at = created or self.now  # not carried without the key: a stored one stays
        account = Account(
            id=_UNSET,
            tenant_id=_UNSET,
            name=rec["name"],
            domain=rec.get("domain"),
            industry=rec.get("industry"),
            employees=rec.get("employees"),
            annual_revenue=_money(rec, "annual_revenue"),
            country=rec.get("country"),
            owner=rec.get("owner"),
            custom_fields=plain(rec.get("custom_fields") or {}),
            created_at=created_at,
            updated_at=updated or created_at,
        )
        fields = carried("accounts", rec)

        return account_draft(where, ext, account, fields)

    def _contact(self, where: str, ext: str, rec: dict[str, Any]) -> Draft:
        created, updated = _ts(rec, "created_at"), _ts(rec, "updated_at")
        created_at = created or self.now
        account = rec.get("account")
        contact = Contact(
            id=_UNSET,
            tenant_id=_UNSET,
            account_id=None,
            name=rec["name"],
            title=rec.get("title"),
            email=rec.get("email"),
            phone=rec.get("phone"),
            department=rec.get("department"),
            created_at=created_at,
            updated_at=updated or created_at,
        )
        fields = carried("contacts", rec)

        return contact_draft(where, ext, contact, fields, account=account, account_field="account")

    def _deal(self, where: str, ext: str, rec: dict[str, Any], mapper: StageMapper) -> Draft | None:
        created_at = _ts(rec, "created_at")
        assert created_at is not None  # required by the schema
        updated_at = _ts(rec, "updated_at") or created_at
        closed_at = _ts(rec, "closed_at")
        value = _money(rec, "value")
        expected_close = _date(rec, "expected_close")
        stage = mapper.map(rec["stage"])
        history = rec.get("stage_history") or []
        mapped = [
            (
                mapper.map(h["from"]) if h["from"] is not None else None,
                mapper.map(h["to"]),
            )
            for h in history
        ]
        if stage is None or any(
            t is None or (f is None and h["from"] is not None)
            for (f, t), h in zip(mapped, history, strict=True)
        ):
            return None  # the mapper remembers the unmapped names
        changes = self._history(history, mapped, stage)
        activities = rec.get("activities") or []
        refs: list[tuple[EntityKind, str, str]] = []
        if rec.get("account"):
            refs.append((EntityKind.ACCOUNT, rec["account"], "account"))
        contacts_seen: set[str] = set()
        for i, s in enumerate(rec.get("stakeholders") or []):
            if s["contact"] in contacts_seen:
                raise Problem(f"stakeholders[{i}].contact", f"{s['contact']!r} is listed twice")
            contacts_seen.add(s["contact"])
            refs.append((EntityKind.CONTACT, s["contact"], f"stakeholders[{i}].contact"))
        own = [(EntityKind.DEAL, ext)]
        activity_at: list[datetime] = []
        for i, a in enumerate(activities):
            if not self.seen.add(EntityKind.ACTIVITY, a["id"]):
                raise Problem(f"activities[{i}].id", f"{a['id']!r} appears more than once")
            own.append((EntityKind.ACTIVITY, a["id"]))
            at = _ts(a, "at", f"activities[{i}].at")
            assert at is not None  # required by the schema
            activity_at.append(at)
            for j, p in enumerate(a.get("participants") or []):
                refs.append((EntityKind.CONTACT, p, f"activities[{i}].participants[{j}]"))
        for i, h in enumerate(history):
            if h.get("trigger_activity"):
                field = f"stage_history[{i}].trigger_activity"
                refs.append((EntityKind.ACTIVITY, h["trigger_activity"], field))

        fields = carried("deals", rec)

        def build(ids: Ids) -> Records:
            deal_id = ids.own(EntityKind.DEAL, ext)
            account = rec.get("account")
            account_id = ids.need(EntityKind.ACCOUNT, account, "account") if account else None
            deal = Deal(
                id=deal_id,
                tenant_id=ids.tenant_id,
                name=rec["name"],
                account_id=account_id,
                stage=stage,
                value=value,
                currency=rec.get("currency") or "USD",
                source_stage=rec["stage"],
                probability=_float(rec.get("probability")),
                expected_close=expected_close,
                owner=rec.get("owner"),
                product_line=rec.get("product_line"),
                source=ids.source,
                lead_source=rec.get("lead_source"),
                detection_confidence=_float(rec.get("detection_confidence")),
                qualification=plain(rec.get("qualification") or {}),
                custom_fields=plain(rec.get("custom_fields") or {}),
                lost_reason=rec.get("lost_reason"),
                created_at=created_at,
                updated_at=updated_at,
                closed_at=closed_at,
            )
            out = Records()
            out.deals.add(deal, fields)
            for change in changes:
                out.transitions.add(change(ids, deal_id))
            for s in rec.get("stakeholders") or ():
                out.stakeholders.add(
                    _stakeholder(ids, deal, s, updated_at), carried("stakeholders", s)
                )
            for a, at in zip(activities, activity_at, strict=True):
                out.activities.add(_activity(ids, deal, a, at))
            return out

        return Draft(
            kind=EntityKind.DEAL, record=where, record_id=ext, build=build, own=own, refs=refs
        )

    def _history(
        self,
        history: list[dict[str, Any]],
        mapped: list[tuple[Stage | None, Stage | None]],
        stage: Stage,
    ) -> list[Callable[[Ids, Any], StageTransition]]:
        changes: list[Callable[[Ids, Any], StageTransition]] = []
        previous_at: datetime | None = None
        previous_to: Stage | None = None
        for i, (h, (from_stage, to_stage)) in enumerate(zip(history, mapped, strict=True)):
            at = _ts(h, "at", f"stage_history[{i}].at")
            assert at is not None and to_stage is not None
            if i == 0 and from_stage is not None:
                raise Problem(
                    "stage_history[0].from", "must be null (the deal's entry into its first stage)"
                )
            if i > 0 and from_stage is not previous_to:
                raise Problem(
                    f"stage_history[{i}].from",
                    f"is {h['from']!r} but the previous entry went to {history[i - 1]['to']!r}",
                )
            try:
                classify_transition(from_stage, to_stage)
            except InvalidTransition as exc:
                raise Problem(f"stage_history[{i}].to", str(exc)) from None
            if previous_at is not None and at < previous_at:
                raise Problem(f"stage_history[{i}].at", "is earlier than the previous entry")
            days = None if previous_at is None else (at - previous_at).total_seconds() / 86400
            changes.append(
                _change(
                    from_stage,
                    to_stage,
                    at,
                    days,
                    _money(h, "value", f"stage_history[{i}].value"),
                    _date(h, "expected_close", f"stage_history[{i}].expected_close"),
                    _float(h.get("probability")),
                    h.get("trigger_activity"),
                )
            )
            previous_at, previous_to = at, to_stage
        if history and previous_to is not stage:
            raise Problem(
                f"stage_history[{len(history) - 1}].to",
                f"is {history[-1]['to']!r} but the deal's stage is {stage.value!r}",
            )
        return changes


def _change(
    from_stage: Stage | None,
    to_stage: Stage,
    at: datetime,
    days: float | None,
    value: Decimal | None,
    expected_close: date | None,
    probability: float | None,
    trigger: str | None,
) -> Callable[[Ids, Any], StageTransition]:
    def make(ids: Ids, deal_id: Any) -> StageTransition:
        return StageTransition(
            id=derive_id(
                ids.tenant_id, EntityKind.STAGE_TRANSITION, deal_id, at.isoformat(), to_stage
            ),
            tenant_id=ids.tenant_id,
            deal_id=deal_id,
            from_stage=from_stage,
            to_stage=to_stage,
            at=at,
            days_in_from_stage=days,
            trigger_activity_id=ids.ref(EntityKind.ACTIVITY, trigger) if trigger else None,
            value=value,
            expected_close=expected_close,
            probability=probability,
        )

    return make


def _stakeholder(ids: Ids, deal: Deal, s: dict[str, Any], updated: datetime) -> Stakeholder:
    contact_id = ids.need(EntityKind.CONTACT, s["contact"], "stakeholders.contact")
    # Undated roles are dated at the deal's last update, never at its creation: a champion
    # found late must not look known from the start (that would leak into back-tests).
    known = _ts(s, "created_at") or updated
    return deal_stakeholder(
        ids,
        deal,
        contact_id,
        roles=tuple(StakeholderRole(r) for r in s.get("roles") or ()),
        is_primary=bool(s.get("primary", False)),
        sentiment=_float(s.get("sentiment")),
        engagement=_float(s.get("engagement")),
        created_at=known,
        updated_at=max(known, updated),
    )


def _activity(ids: Ids, deal: Deal, a: dict[str, Any], at: datetime) -> Activity:
    return Activity(
        id=ids.own(EntityKind.ACTIVITY, a["id"]),
        tenant_id=ids.tenant_id,
        deal_id=deal.id,
        account_id=deal.account_id,
        type=ActivityType(a["type"]),
        occurred_at=at,
        participants=tuple(
            ids.need(EntityKind.CONTACT, p, "activities.participants")
            for p in a.get("participants") or ()
        ),
        outcome=ActivityOutcome(a.get("outcome") or "unknown"),
        subject=a.get("subject"),
        summary=a.get("summary"),
        key_moments=tuple(
            KeyMoment(
                text=m["text"],
                at_seconds=_float(m.get("at_seconds")),
                sentiment=_float(m.get("sentiment")),
            )
            for m in a.get("key_moments") or ()
        ),
        next_steps=tuple(a.get("next_steps") or ()),
        objections=tuple(
            Objection(
                objection=o["objection"],
                resolved=bool(o.get("resolved", False)),
                resolution=o.get("resolution"),
                resolved_at=_ts(o, "resolved_at"),
            )
            for o in a.get("objections") or ()
        ),
        raw_content=a.get("content"),
    )
