"""Tables of deal intelligence (migration 0003_intelligence): what was extracted from each
activity version, stakeholders' scored profiles and relationships, stage-transition evidence,
cached plan narratives and each tenant's progression settings. Same ``Base`` and naming as
``tables.py``; row-level security on PostgreSQL like every tenant table.

A deal's typed qualification lives in ``deals.qualification`` (JSON) and a stakeholder's flat
scores in ``stakeholders.scores``: those are written through the ownership-aware repositories.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pie.adapters.db.tables import Base, _json


def _tenant_pk() -> Mapped[UUID]:
    return mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)


class ActivityIntelRow(Base):
    """The extraction and enrichment of one activity version: ``digest`` fingerprints the
    content that was processed, so the same version is never extracted twice."""

    __tablename__ = "activity_intel"

    tenant_id: Mapped[UUID] = _tenant_pk()
    activity_id: Mapped[UUID] = mapped_column(
        ForeignKey("activities.id", ondelete="CASCADE"), primary_key=True
    )
    digest: Mapped[str] = mapped_column(String(64))
    extractor: Mapped[str] = mapped_column(String(64))
    extraction: Mapped[dict[str, Any]] = _json()
    enrichment: Mapped[dict[str, Any]] = _json()
    warnings: Mapped[list[str]] = _json()
    processed_at: Mapped[datetime]


class StakeholderProfileRow(Base):
    __tablename__ = "stakeholder_profiles"

    tenant_id: Mapped[UUID] = _tenant_pk()
    stakeholder_id: Mapped[UUID] = mapped_column(
        ForeignKey("stakeholders.id", ondelete="CASCADE"), primary_key=True
    )
    scores: Mapped[dict[str, Any]] = _json()  # name -> ScoreRecord JSON
    history: Mapped[list[Any]] = _json()  # [name, replaced ScoreRecord JSON], newest last
    communication_style: Mapped[str | None]
    style_evidence: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]


class StakeholderRelationshipRow(Base):
    __tablename__ = "stakeholder_relationships"
    __table_args__ = (
        UniqueConstraint("tenant_id", "from_id", "to_id", "kind"),
        Index(None, "tenant_id", "to_id"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True)
    tenant_id: Mapped[UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    from_id: Mapped[UUID] = mapped_column(ForeignKey("stakeholders.id", ondelete="CASCADE"))
    to_id: Mapped[UUID] = mapped_column(ForeignKey("stakeholders.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(32))
    evidence: Mapped[str] = mapped_column(Text)
    activity_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("activities.id", ondelete="SET NULL")
    )
    at: Mapped[datetime]


class TransitionEvidenceRow(Base):
    """Why PIE moved a deal: the reason and the evidence (quotes with activity and span)."""

    __tablename__ = "transition_evidence"

    tenant_id: Mapped[UUID] = _tenant_pk()
    transition_id: Mapped[UUID] = mapped_column(
        ForeignKey("stage_transitions.id", ondelete="CASCADE"), primary_key=True
    )
    reason: Mapped[str] = mapped_column(Text)
    evidence: Mapped[list[Any]] = _json()


class PlanNarrativeRow(Base):
    """A plan's narrative, cached: regenerated only when ``inputs_digest`` changes."""

    __tablename__ = "plan_narratives"

    tenant_id: Mapped[UUID] = _tenant_pk()
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # account | deal
    owner_id: Mapped[UUID] = mapped_column(primary_key=True)
    inputs_digest: Mapped[str] = mapped_column(String(64))
    writer: Mapped[str] = mapped_column(String(128))  # "offline" or the LLM model
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class PlanVersionRow(Base):
    """Every saved version of a plan document (the current one is in account_plans /
    opportunity_plans)."""

    __tablename__ = "plan_versions"

    tenant_id: Mapped[UUID] = _tenant_pk()
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    owner_id: Mapped[UUID] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    data: Mapped[dict[str, Any]] = _json()
    saved_at: Mapped[datetime]


class IntelligenceSettingsRow(Base):
    """A tenant's stage requirements and stalled-after setting (see
    pie.domain.progression.ProgressionSettings)."""

    __tablename__ = "intelligence_settings"

    tenant_id: Mapped[UUID] = _tenant_pk()
    document: Mapped[dict[str, Any]] = _json()
    updated_at: Mapped[datetime]


INTELLIGENCE_TABLES: tuple[str, ...] = (
    "activity_intel",
    "stakeholder_profiles",
    "stakeholder_relationships",
    "transition_evidence",
    "plan_narratives",
    "plan_versions",
    "intelligence_settings",
)
