"""Rows <-> domain objects. The only place that knows both shapes.

``*_to_row`` returns a dict keyed by column name holding Python values the column types accept
(enums as strings, tuples as lists, nested value objects as dicts); ``*_from_row`` takes a row
mapping read through those same column types. Column names are the domain's field names. The
store's own columns (``version``, ``provenance``) are written by the writer (see writes.py), and
``external_ids`` comes from the external refs, not from the record's row.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

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
        custom_fields=r["custom_fields"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        version=r["version"],
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
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        version=r["version"],
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
        version=r["version"],
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
        lost_reason=r["lost_reason"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        closed_at=r["closed_at"],
        version=r["version"],
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


def ref_key(ref: ExternalRef) -> tuple[Any, ...]:
    return (ref.tenant_id, str(ref.kind), ref.source, ref.external_id)
