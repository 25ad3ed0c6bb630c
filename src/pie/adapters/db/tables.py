"""The schema: one declarative model per table. Repositories use the tables through SQLAlchemy
Core (``Model.__table__``); the models exist to declare the schema, not to be loaded as objects.

Every table that belongs to a tenant has a ``tenant_id`` and leads its indexes with it; on
PostgreSQL row-level security keys on it too (see migrations/versions/0001_initial.py).
Enums are stored as their string values; dicts and lists as JSON (JSONB on PostgreSQL).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from pie.adapters.db.types import Json, Money, UtcDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JsonValue = dict[str, Any] | list[Any]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 (SQLAlchemy reads it as a class attribute)
        datetime: UtcDateTime(),
        Decimal: Money(),
        UUID: Uuid(),
        date: Date(),
        str: String(),
        float: Double(),
        int: Integer(),
        bool: Boolean(),
    }


def _tenant_fk() -> Mapped[UUID]:
    return mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)


def _tenant() -> Mapped[UUID]:
    """The tenant of a table an import fills: no foreign key to ``tenants`` (checked per row,
    it cost a quarter of an import's database work); row-level security keeps the rows to
    their tenant, and deleting a tenant deletes them through a trigger (migration 0010)."""
    return mapped_column(nullable=False)


def _json() -> Mapped[Any]:
    return mapped_column(Json, nullable=False)


class TenantRow(Base):
    __tablename__ = "tenants"
    __table_args__ = (UniqueConstraint("name"),)

    id: Mapped[UUID] = mapped_column(primary_key=True)
    name: Mapped[str]
    created_at: Mapped[datetime]


class ApiKeyRow(Base):
    """An API key of a tenant: only the sha256 hex of the key is kept, plus its first characters
    so a person can tell keys apart."""

    __tablename__ = "api_keys"
    __table_args__ = (Index(None, "tenant_id"),)

    id: Mapped[UUID] = mapped_column(primary_key=True)
    tenant_id: Mapped[UUID] = _tenant_fk()
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class AccountRow(Base):
    __tablename__ = "accounts"
    __table_args__ = (Index(None, "tenant_id", "name"),)

    id: Mapped[UUID] = mapped_column(primary_key=True)
    tenant_id: Mapped[UUID] = _tenant()
    name: Mapped[str]
    domain: Mapped[str | None]
    industry: Mapped[str | None]
    employees: Mapped[int | None]
    annual_revenue: Mapped[Decimal | None]
    country: Mapped[str | None]
    owner: Mapped[str | None]
    custom_fields: Mapped[dict[str, Any]] = _json()
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int]
    provenance: Mapped[dict[str, list[str]]] = _json()


class ContactRow(Base):
    __tablename__ = "contacts"
    __table_args__ = (Index(None, "tenant_id", "account_id"),)

    id: Mapped[UUID] = mapped_column(primary_key=True)
    tenant_id: Mapped[UUID] = _tenant()
    account_id: Mapped[UUID | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    name: Mapped[str]
    title: Mapped[str | None]
    email: Mapped[str | None]
    phone: Mapped[str | None]
    department: Mapped[str | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int]
    provenance: Mapped[dict[str, list[str]]] = _json()


class DealRow(Base):
    __tablename__ = "deals"
    __table_args__ = (
        Index(None, "tenant_id", "stage"),
        Index(None, "tenant_id", "account_id"),
        Index(None, "tenant_id", "created_at"),
        Index(None, "tenant_id", "id"),  # a tenant's deals in id order, unsorted (0013)
    )

    id: Mapped[UUID] = mapped_column(primary_key=True)
    tenant_id: Mapped[UUID] = _tenant()
    name: Mapped[str]
    account_id: Mapped[UUID | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    stage: Mapped[str] = mapped_column(String(32))
    value: Mapped[Decimal | None]
    currency: Mapped[str] = mapped_column(String(3))
    source_stage: Mapped[str | None]
    probability: Mapped[float | None]
    expected_close: Mapped[date | None]
    owner: Mapped[str | None]
    product_line: Mapped[str | None]
    source: Mapped[str]
    lead_source: Mapped[str | None]
    detection_confidence: Mapped[float | None]
    qualification: Mapped[dict[str, Any]] = _json()
    custom_fields: Mapped[dict[str, Any]] = _json()
    lost_reason: Mapped[str | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    version: Mapped[int]
    provenance: Mapped[dict[str, list[str]]] = _json()


class StakeholderRow(Base):
    __tablename__ = "stakeholders"
    __table_args__ = (
        Index(None, "tenant_id", "deal_id"),
        Index(None, "tenant_id", "account_id"),
        Index(None, "tenant_id", "contact_id"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True)
    tenant_id: Mapped[UUID] = _tenant()
    # An account's own stakeholders (deal_id NULL) are deleted with the account by the
    # repository; a deal's stakeholders only lose the reference.
    account_id: Mapped[UUID | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    deal_id: Mapped[UUID | None] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"))
    contact_id: Mapped[UUID] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    roles: Mapped[list[str]] = _json()
    is_primary: Mapped[bool]
    sentiment: Mapped[float | None]
    engagement: Mapped[float | None]
    scores: Mapped[dict[str, float]] = _json()
    score_sources: Mapped[dict[str, str]] = _json()
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int]
    provenance: Mapped[dict[str, list[str]]] = _json()


#: an activity has objections, per dialect: the predicate of the partial index below, which
#: a query must repeat word for word for SQLite's planner to use that index (0016)
HAS_OBJECTIONS = {
    "sqlite": "json_array_length(objections) > 0",
    "postgresql": "jsonb_array_length(objections) > 0",
}


class ActivityRow(Base):
    __tablename__ = "activities"
    __table_args__ = (
        Index(None, "tenant_id", "deal_id", "occurred_at"),
        Index(None, "tenant_id", "account_id"),
        # the deals with objections, without reading every activity (columns.py); only the
        # activities with objections have an entry
        Index(
            "ix_activities_objections",
            "tenant_id",
            "deal_id",
            sqlite_where=text(HAS_OBJECTIONS["sqlite"]),
            postgresql_where=text(HAS_OBJECTIONS["postgresql"]),
        ),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True)
    tenant_id: Mapped[UUID] = _tenant()
    deal_id: Mapped[UUID | None] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"))
    account_id: Mapped[UUID | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    type: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime]
    participants: Mapped[list[str]] = _json()
    outcome: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str | None]
    summary: Mapped[str | None] = mapped_column(Text)
    key_moments: Mapped[list[dict[str, Any]]] = _json()
    next_steps: Mapped[list[str]] = _json()
    objections: Mapped[list[dict[str, Any]]] = _json()
    raw_content: Mapped[str | None] = mapped_column(Text)


class StageTransitionRow(Base):
    __tablename__ = "stage_transitions"
    __table_args__ = (
        Index(None, "tenant_id", "deal_id", "at"),
        Index(None, "trigger_activity_id"),  # the activity's delete sets it to NULL (0009)
    )

    id: Mapped[UUID] = mapped_column(primary_key=True)
    tenant_id: Mapped[UUID] = _tenant()
    deal_id: Mapped[UUID] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"))
    from_stage: Mapped[str | None] = mapped_column(String(32))
    to_stage: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]
    days_in_from_stage: Mapped[float | None]
    # The activity must be stored before the transition that names it.
    trigger_activity_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("activities.id", ondelete="SET NULL")
    )
    value: Mapped[Decimal | None]
    expected_close: Mapped[date | None]
    probability: Mapped[float | None]


class ExternalRefRow(Base):
    """(tenant, kind, source, external id) -> entity id. No foreign key on entity_id: it points
    into the table ``kind`` names."""

    __tablename__ = "external_refs"
    # covering: a deal's own ref (its stream identity) is read from the index alone (0013)
    __table_args__ = (Index(None, "tenant_id", "kind", "entity_id", "source", "external_id"),)

    tenant_id: Mapped[UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    source: Mapped[str] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(primary_key=True)
    entity_id: Mapped[UUID]
    digest: Mapped[str | None] = mapped_column(String(32))


class AccountPlanRow(Base):
    __tablename__ = "account_plans"
    __table_args__ = (UniqueConstraint("tenant_id", "account_id"),)

    id: Mapped[UUID] = mapped_column(primary_key=True)
    tenant_id: Mapped[UUID] = _tenant_fk()
    account_id: Mapped[UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    version: Mapped[int]
    data: Mapped[dict[str, Any]] = _json()
    updated_at: Mapped[datetime]


class OpportunityPlanRow(Base):
    __tablename__ = "opportunity_plans"
    __table_args__ = (UniqueConstraint("tenant_id", "deal_id"),)

    id: Mapped[UUID] = mapped_column(primary_key=True)
    tenant_id: Mapped[UUID] = _tenant_fk()
    deal_id: Mapped[UUID] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"))
    version: Mapped[int]
    data: Mapped[dict[str, Any]] = _json()
    updated_at: Mapped[datetime]


class ChangeRow(Base):
    """The change feed: one row per committed change of a record, numbered per tenant in commit
    order (``seq`` comes from the tenant's ``change_counters`` row, whose lock is held until the
    writing transaction commits)."""

    __tablename__ = "changes"
    __table_args__ = (Index(None, "tenant_id", "entity", "seq"),)

    tenant_id: Mapped[UUID] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[UUID]
    op: Mapped[str] = mapped_column(String(8))
    version: Mapped[int]
    origin: Mapped[str]
    fields: Mapped[dict[str, Any]] = _json()
    at: Mapped[datetime]


class ChangeCounterRow(Base):
    __tablename__ = "change_counters"

    tenant_id: Mapped[UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    last_seq: Mapped[int] = mapped_column(BigInteger)


class SourceCursorRow(Base):
    __tablename__ = "source_cursors"

    tenant_id: Mapped[UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[str] = mapped_column(primary_key=True)
    stream: Mapped[str] = mapped_column(primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    committed_at: Mapped[datetime]


class ModelCacheRow(Base):
    __tablename__ = "model_cache"

    tenant_id: Mapped[UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(primary_key=True)
    change_seq: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


class FieldPolicyRow(Base):
    """A tenant's field ownership policy (see pie.domain.ownership.OwnershipPolicy)."""

    __tablename__ = "field_policies"

    tenant_id: Mapped[UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    document: Mapped[dict[str, Any]] = _json()
    updated_at: Mapped[datetime]


metadata = Base.metadata

#: Tables whose rows belong to one tenant (row-level security on ``tenant_id``).
TENANT_TABLES: tuple[str, ...] = (
    "api_keys",
    "accounts",
    "contacts",
    "deals",
    "stakeholders",
    "activities",
    "stage_transitions",
    "external_refs",
    "account_plans",
    "opportunity_plans",
    "changes",
    "change_counters",
    "source_cursors",
    "model_cache",
    "field_policies",
)

# Area tables register on the same metadata (imported here so Alembic and tests see them).
from pie.adapters.db.tables_sync import SYNC_TABLES  # noqa: E402

TENANT_TABLES = (*TENANT_TABLES, *SYNC_TABLES)
