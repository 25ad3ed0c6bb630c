"""Tables of the connections area: a tenant's encrypted credentials and its connections to
sources (a CRM's API). Same ``Base``/metadata as tables.py; migration 0005_connections."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ForeignKey, Index, LargeBinary, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pie.adapters.db.tables import Base
from pie.adapters.db.types import Json


class CredentialRow(Base):
    """One named credential of a tenant: its fields as JSON, sealed with AES-GCM
    (pie.adapters.secrets); nothing about it is readable without the key."""

    __tablename__ = "credentials"

    tenant_id: Mapped[UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(primary_key=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime]


class ConnectionRow(Base):
    """A tenant's connection to a source: vendor, base URL, the non-secret settings (client
    id, auth flow), the name of its credential, its schedule and what its last sync did."""

    __tablename__ = "connections"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        Index(None, "next_run_at"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True)
    tenant_id: Mapped[UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    vendor: Mapped[str]
    name: Mapped[str]
    base_url: Mapped[str | None]
    settings: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    credential: Mapped[str]
    schedule_minutes: Mapped[int | None]
    next_run_at: Mapped[datetime | None]
    state: Mapped[str]
    last_job_id: Mapped[str | None]
    last_sync_at: Mapped[datetime | None]
    last_result: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


CONNECTION_TABLES: tuple[str, ...] = ("credentials", "connections")
