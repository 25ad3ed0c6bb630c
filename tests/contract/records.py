"""Builders of fully populated domain records for the store tests."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from uuid import UUID

from pie.domain.model import (
    Account,
    Activity,
    ActivityOutcome,
    ActivityType,
    Contact,
    Deal,
    KeyMoment,
    Objection,
    StageTransition,
    Stakeholder,
    StakeholderRole,
)
from pie.domain.stages import Stage

T0 = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)


def account(tenant: UUID, **kw: object) -> Account:
    fields: dict[str, object] = {
        "id": uuid.uuid4(),
        "tenant_id": tenant,
        "name": "Acme",
        "domain": "acme.test",
        "industry": "software",
        "employees": 250,
        "annual_revenue": Decimal("12500000.50"),
        "country": "DE",
        "owner": "ana",
        "custom_fields": {"tier": "gold", "tags": ["x", "y"], "score": 0.5},
        "created_at": T0,
        "updated_at": T0,
    }
    fields.update(kw)
    return Account(**fields)  # type: ignore[arg-type]


def contact(tenant: UUID, account_id: UUID | None, **kw: object) -> Contact:
    fields: dict[str, object] = {
        "id": uuid.uuid4(),
        "tenant_id": tenant,
        "account_id": account_id,
        "name": "Bo",
        "title": "CTO",
        "email": "bo@acme.test",
        "phone": "+49 1",
        "department": "IT",
        "created_at": T0,
        "updated_at": T0,
    }
    fields.update(kw)
    return Contact(**fields)  # type: ignore[arg-type]


def deal(tenant: UUID, account_id: UUID | None, **kw: object) -> Deal:
    fields: dict[str, object] = {
        "id": uuid.uuid4(),
        "tenant_id": tenant,
        "name": "Acme platform",
        "account_id": account_id,
        "stage": Stage.PROPOSAL,
        "value": Decimal("48000.00"),
        "currency": "EUR",
        "source_stage": "Proposal/Price Quote",
        "probability": 0.55,
        "expected_close": date(2026, 6, 30),
        "owner": "ana",
        "product_line": "platform",
        "source": "crm",
        "lead_source": "web",
        "detection_confidence": 0.9,
        "qualification": {"budget": {"status": "confirmed"}},
        "custom_fields": {"region": "emea"},
        "lost_reason": None,
        "created_at": T0,
        "updated_at": T0,
        "closed_at": None,
    }
    fields.update(kw)
    return Deal(**fields)  # type: ignore[arg-type]


def stakeholder(tenant: UUID, contact_id: UUID, **kw: object) -> Stakeholder:
    fields: dict[str, object] = {
        "id": uuid.uuid4(),
        "tenant_id": tenant,
        "account_id": None,
        "deal_id": None,
        "contact_id": contact_id,
        "roles": (StakeholderRole.CHAMPION, StakeholderRole.ECONOMIC_BUYER),
        "is_primary": True,
        "sentiment": -0.25,
        "engagement": 0.75,
        "scores": {"influence": 7.5},
        "score_sources": {"influence": "heuristic"},
        "notes": "likes demos",
        "created_at": T0,
        "updated_at": T0,
    }
    fields.update(kw)
    return Stakeholder(**fields)  # type: ignore[arg-type]


def activity(tenant: UUID, deal_id: UUID | None, **kw: object) -> Activity:
    fields: dict[str, object] = {
        "id": uuid.uuid4(),
        "tenant_id": tenant,
        "deal_id": deal_id,
        "account_id": None,
        "type": ActivityType.MEETING,
        "occurred_at": T0 + timedelta(days=1),
        "participants": (uuid.uuid4(),),
        "outcome": ActivityOutcome.POSITIVE,
        "subject": "Kick-off",
        "summary": "went well",
        "key_moments": (KeyMoment(text="budget ok", at_seconds=61.5, sentiment=0.5),),
        "next_steps": ("send proposal",),
        "objections": (
            Objection(
                objection="price",
                resolved=True,
                resolution="discount",
                resolved_at=T0 + timedelta(days=3, hours=2),
            ),
            Objection(objection="security review"),
        ),
        "raw_content": "transcript ...",
    }
    fields.update(kw)
    return Activity(**fields)  # type: ignore[arg-type]


def transition(tenant: UUID, deal_id: UUID, **kw: object) -> StageTransition:
    fields: dict[str, object] = {
        "id": uuid.uuid4(),
        "tenant_id": tenant,
        "deal_id": deal_id,
        "from_stage": Stage.DEMO,
        "to_stage": Stage.PROPOSAL,
        "at": T0 + timedelta(days=2),
        "days_in_from_stage": 12.5,
        "trigger_activity_id": None,
        "value": Decimal("47000.00"),
        "expected_close": date(2026, 7, 1),
        "probability": 0.5,
    }
    fields.update(kw)
    return StageTransition(**fields)  # type: ignore[arg-type]
