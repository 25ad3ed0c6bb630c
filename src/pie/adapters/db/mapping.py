"""Rows <-> domain objects. The only place that knows both shapes.

``*_to_row`` returns a dict keyed by column name holding Python values the column types accept
(enums as strings, tuples as lists, nested value objects as dicts); ``*_from_row`` takes a row
mapping read through those same column types.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from pie.adapters.db.engine import json_dumps
from pie.adapters.db.types import to_money
from pie.domain.model import (
    Account,
    Activity,
    ActivityOutcome,
    ActivityType,
    Contact,
    Deal,
    EntityKind,
    ExternalRef,
    KeyMoment,
    Objection,
    StageTransition,
    Stakeholder,
    StakeholderRole,
    Tenant,
)
from pie.domain.stages import Stage

Row = Mapping[Any, Any]


def tenant_from_row(r: Row) -> Tenant:
    return Tenant(id=r["id"], name=r["name"], created_at=r["created_at"])


def account_to_row(a: Account) -> dict[str, Any]:
    return {
        "id": a.id,
        "tenant_id": a.tenant_id,
        "name": a.name,
        "domain": a.domain,
        "industry": a.industry,
        "employees": a.employees,
        "annual_revenue": a.annual_revenue,
        "country": a.country,
        "owner": a.owner,
        "external_ids": dict(a.external_ids),
        "custom_fields": dict(a.custom_fields),
        "created_at": a.created_at,
        "updated_at": a.updated_at,
    }


def account_from_row(r: Row) -> Account:
    return Account(
        id=r["id"],
        tenant_id=r["tenant_id"],
        name=r["name"],
        domain=r["domain"],
        industry=r["industry"],
        employees=r["employees"],
        annual_revenue=r["annual_revenue"],
        country=r["country"],
        owner=r["owner"],
        external_ids=r["external_ids"],
        custom_fields=r["custom_fields"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


def contact_to_row(c: Contact) -> dict[str, Any]:
    return {
        "id": c.id,
        "tenant_id": c.tenant_id,
        "account_id": c.account_id,
        "name": c.name,
        "title": c.title,
        "email": c.email,
        "phone": c.phone,
        "department": c.department,
        "external_ids": dict(c.external_ids),
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    }


def contact_from_row(r: Row) -> Contact:
    return Contact(
        id=r["id"],
        tenant_id=r["tenant_id"],
        account_id=r["account_id"],
        name=r["name"],
        title=r["title"],
        email=r["email"],
        phone=r["phone"],
        department=r["department"],
        external_ids=r["external_ids"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


def stakeholder_to_row(s: Stakeholder) -> dict[str, Any]:
    return {
        "id": s.id,
        "tenant_id": s.tenant_id,
        "account_id": s.account_id,
        "deal_id": s.deal_id,
        "contact_id": s.contact_id,
        "roles": [str(role) for role in s.roles],
        "is_primary": s.is_primary,
        "sentiment": s.sentiment,
        "engagement": s.engagement,
        "scores": dict(s.scores),
        "score_sources": dict(s.score_sources),
        "notes": s.notes,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
    }


def stakeholder_from_row(r: Row) -> Stakeholder:
    return Stakeholder(
        id=r["id"],
        tenant_id=r["tenant_id"],
        account_id=r["account_id"],
        deal_id=r["deal_id"],
        contact_id=r["contact_id"],
        roles=tuple(StakeholderRole(role) for role in r["roles"]),
        is_primary=r["is_primary"],
        sentiment=r["sentiment"],
        engagement=r["engagement"],
        scores=r["scores"],
        score_sources=r["score_sources"],
        notes=r["notes"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


def deal_to_row(d: Deal) -> dict[str, Any]:
    return {
        "id": d.id,
        "tenant_id": d.tenant_id,
        "name": d.name,
        "account_id": d.account_id,
        "stage": str(d.stage),
        "value": d.value,
        "currency": d.currency,
        "source_stage": d.source_stage,
        "probability": d.probability,
        "expected_close": d.expected_close,
        "owner": d.owner,
        "product_line": d.product_line,
        "source": d.source,
        "lead_source": d.lead_source,
        "detection_confidence": d.detection_confidence,
        "qualification": dict(d.qualification),
        "custom_fields": dict(d.custom_fields),
        "external_ids": dict(d.external_ids),
        "lost_reason": d.lost_reason,
        "created_at": d.created_at,
        "updated_at": d.updated_at,
        "closed_at": d.closed_at,
    }


def deal_from_row(r: Row) -> Deal:
    return Deal(
        id=r["id"],
        tenant_id=r["tenant_id"],
        name=r["name"],
        account_id=r["account_id"],
        stage=Stage(r["stage"]),
        value=r["value"],
        currency=r["currency"],
        source_stage=r["source_stage"],
        probability=r["probability"],
        expected_close=r["expected_close"],
        owner=r["owner"],
        product_line=r["product_line"],
        source=r["source"],
        lead_source=r["lead_source"],
        detection_confidence=r["detection_confidence"],
        qualification=r["qualification"],
        custom_fields=r["custom_fields"],
        external_ids=r["external_ids"],
        lost_reason=r["lost_reason"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        closed_at=r["closed_at"],
    )


def _key_moment(m: KeyMoment) -> dict[str, Any]:
    return {"text": m.text, "at_seconds": m.at_seconds, "sentiment": m.sentiment}


def _objection(o: Objection) -> dict[str, Any]:
    return {
        "objection": o.objection,
        "resolved": o.resolved,
        "resolution": o.resolution,
        "resolved_at": o.resolved_at.isoformat() if o.resolved_at else None,
    }


def _objection_from(d: Mapping[str, Any]) -> Objection:
    at = d.get("resolved_at")
    return Objection(
        objection=d["objection"],
        resolved=d["resolved"],
        resolution=d.get("resolution"),
        resolved_at=datetime.fromisoformat(at) if at else None,
    )


def activity_to_row(a: Activity) -> dict[str, Any]:
    return {
        "id": a.id,
        "tenant_id": a.tenant_id,
        "deal_id": a.deal_id,
        "account_id": a.account_id,
        "type": str(a.type),
        "occurred_at": a.occurred_at,
        "participants": [str(p) for p in a.participants],
        "outcome": str(a.outcome),
        "subject": a.subject,
        "summary": a.summary,
        "key_moments": [_key_moment(m) for m in a.key_moments],
        "next_steps": list(a.next_steps),
        "objections": [_objection(o) for o in a.objections],
        "raw_content": a.raw_content,
        "external_ids": dict(a.external_ids),
    }


def activity_from_row(r: Row) -> Activity:
    return Activity(
        id=r["id"],
        tenant_id=r["tenant_id"],
        deal_id=r["deal_id"],
        account_id=r["account_id"],
        type=ActivityType(r["type"]),
        occurred_at=r["occurred_at"],
        participants=tuple(UUID(p) for p in r["participants"]),
        outcome=ActivityOutcome(r["outcome"]),
        subject=r["subject"],
        summary=r["summary"],
        key_moments=tuple(KeyMoment(**m) for m in r["key_moments"]),
        next_steps=tuple(r["next_steps"]),
        objections=tuple(_objection_from(o) for o in r["objections"]),
        raw_content=r["raw_content"],
        external_ids=r["external_ids"],
    )


def transition_to_row(t: StageTransition) -> dict[str, Any]:
    return {
        "id": t.id,
        "tenant_id": t.tenant_id,
        "deal_id": t.deal_id,
        "from_stage": str(t.from_stage) if t.from_stage is not None else None,
        "to_stage": str(t.to_stage),
        "at": t.at,
        "days_in_from_stage": t.days_in_from_stage,
        "trigger_activity_id": t.trigger_activity_id,
        "value": t.value,
        "expected_close": t.expected_close,
        "probability": t.probability,
    }


def transition_from_row(r: Row) -> StageTransition:
    return StageTransition(
        id=r["id"],
        tenant_id=r["tenant_id"],
        deal_id=r["deal_id"],
        from_stage=Stage(r["from_stage"]) if r["from_stage"] is not None else None,
        to_stage=Stage(r["to_stage"]),
        at=r["at"],
        days_in_from_stage=r["days_in_from_stage"],
        trigger_activity_id=r["trigger_activity_id"],
        value=r["value"],
        expected_close=r["expected_close"],
        probability=r["probability"],
    )


def ref_to_row(ref: ExternalRef) -> dict[str, Any]:
    return {
        "tenant_id": ref.tenant_id,
        "kind": str(ref.kind),
        "source": ref.source,
        "external_id": ref.external_id,
        "entity_id": ref.entity_id,
    }


def ref_from_row(r: Row) -> ExternalRef:
    return ExternalRef(
        tenant_id=r["tenant_id"],
        kind=EntityKind(r["kind"]),
        source=r["source"],
        external_id=r["external_id"],
        entity_id=r["entity_id"],
    )


# --- PostgreSQL COPY records --------------------------------------------------------------------
#
# ``*_to_pg`` builds the tuple a binary COPY takes, straight from the domain object, in the
# table's column order (``PG_COLUMNS``; the bulk writer checks it against the table): the same
# values ``*_to_row`` gives, with JSON columns already encoded as canonical JSON text and money
# already rounded to cents, as the column types would do on the way in.


def _obj(value: Mapping[str, Any]) -> str:
    return json_dumps(dict(value)) if value else "{}"


def _arr(value: list[Any]) -> str:
    return json_dumps(value) if value else "[]"


def _money(value: Decimal | None) -> Decimal | None:
    return None if value is None else to_money(value)


def account_to_pg(a: Account) -> tuple[Any, ...]:
    return (
        a.id,
        a.tenant_id,
        a.name,
        a.domain,
        a.industry,
        a.employees,
        _money(a.annual_revenue),
        a.country,
        a.owner,
        _obj(a.external_ids),
        _obj(a.custom_fields),
        a.created_at,
        a.updated_at,
    )


def contact_to_pg(c: Contact) -> tuple[Any, ...]:
    return (
        c.id,
        c.tenant_id,
        c.account_id,
        c.name,
        c.title,
        c.email,
        c.phone,
        c.department,
        _obj(c.external_ids),
        c.created_at,
        c.updated_at,
    )


def stakeholder_to_pg(s: Stakeholder) -> tuple[Any, ...]:
    return (
        s.id,
        s.tenant_id,
        s.account_id,
        s.deal_id,
        s.contact_id,
        _arr([str(role) for role in s.roles]),
        s.is_primary,
        s.sentiment,
        s.engagement,
        _obj(s.scores),
        _obj(s.score_sources),
        s.notes,
        s.created_at,
        s.updated_at,
    )


def deal_to_pg(d: Deal) -> tuple[Any, ...]:
    return (
        d.id,
        d.tenant_id,
        d.name,
        d.account_id,
        str(d.stage),
        _money(d.value),
        d.currency,
        d.source_stage,
        d.probability,
        d.expected_close,
        d.owner,
        d.product_line,
        d.source,
        d.lead_source,
        d.detection_confidence,
        _obj(d.qualification),
        _obj(d.custom_fields),
        _obj(d.external_ids),
        d.lost_reason,
        d.created_at,
        d.updated_at,
        d.closed_at,
    )


def activity_to_pg(a: Activity) -> tuple[Any, ...]:
    return (
        a.id,
        a.tenant_id,
        a.deal_id,
        a.account_id,
        str(a.type),
        a.occurred_at,
        _arr([str(p) for p in a.participants]),
        str(a.outcome),
        a.subject,
        a.summary,
        _arr([_key_moment(m) for m in a.key_moments]),
        _arr(list(a.next_steps)),
        _arr([_objection(o) for o in a.objections]),
        a.raw_content,
        _obj(a.external_ids),
    )


def transition_to_pg(t: StageTransition) -> tuple[Any, ...]:
    return (
        t.id,
        t.tenant_id,
        t.deal_id,
        str(t.from_stage) if t.from_stage is not None else None,
        str(t.to_stage),
        t.at,
        t.days_in_from_stage,
        t.trigger_activity_id,
        _money(t.value),
        t.expected_close,
        t.probability,
    )


def ref_to_pg(ref: ExternalRef) -> tuple[Any, ...]:
    return (ref.tenant_id, str(ref.kind), ref.source, ref.external_id, ref.entity_id)


def ref_key(ref: ExternalRef) -> tuple[Any, ...]:
    return (ref.tenant_id, str(ref.kind), ref.source, ref.external_id)


#: The column order of each ``*_to_pg`` tuple, by table (the ``*_to_row`` keys, in order).
PG_COLUMNS: dict[str, tuple[str, ...]] = {
    "external_refs": ("tenant_id", "kind", "source", "external_id", "entity_id"),
    "accounts": (
        "id",
        "tenant_id",
        "name",
        "domain",
        "industry",
        "employees",
        "annual_revenue",
        "country",
        "owner",
        "external_ids",
        "custom_fields",
        "created_at",
        "updated_at",
    ),
    "contacts": (
        "id",
        "tenant_id",
        "account_id",
        "name",
        "title",
        "email",
        "phone",
        "department",
        "external_ids",
        "created_at",
        "updated_at",
    ),
    "stakeholders": (
        "id",
        "tenant_id",
        "account_id",
        "deal_id",
        "contact_id",
        "roles",
        "is_primary",
        "sentiment",
        "engagement",
        "scores",
        "score_sources",
        "notes",
        "created_at",
        "updated_at",
    ),
    "deals": (
        "id",
        "tenant_id",
        "name",
        "account_id",
        "stage",
        "value",
        "currency",
        "source_stage",
        "probability",
        "expected_close",
        "owner",
        "product_line",
        "source",
        "lead_source",
        "detection_confidence",
        "qualification",
        "custom_fields",
        "external_ids",
        "lost_reason",
        "created_at",
        "updated_at",
        "closed_at",
    ),
    "activities": (
        "id",
        "tenant_id",
        "deal_id",
        "account_id",
        "type",
        "occurred_at",
        "participants",
        "outcome",
        "subject",
        "summary",
        "key_moments",
        "next_steps",
        "objections",
        "raw_content",
        "external_ids",
    ),
    "stage_transitions": (
        "id",
        "tenant_id",
        "deal_id",
        "from_stage",
        "to_stage",
        "at",
        "days_in_from_stage",
        "trigger_activity_id",
        "value",
        "expected_close",
        "probability",
    ),
}

#: The ``*_to_pg`` function of each table.
PG_RECORDS: dict[str, Any] = {
    "accounts": account_to_pg,
    "contacts": contact_to_pg,
    "stakeholders": stakeholder_to_pg,
    "deals": deal_to_pg,
    "activities": activity_to_pg,
    "stage_transitions": transition_to_pg,
}
