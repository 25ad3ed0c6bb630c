"""The sync engine's tables (migration 0004_sync), per tenant and CRM connection:

* ``sync_state``: the inbound cursor per record kind, the outbox position on the change feed,
  the connection's status (running, paused and why) and its last run;
* ``sync_links``: the external id map (PIE id <-> CRM id) with the link's status (linked,
  trashed, detached, deleted), the CRM's last edit seen and a record's queued error;
* ``sync_base``: the last agreed value of each synced field of each linked record;
* ``sync_log``: one row per conflict (both values, base, winner, rule, times, skew), unique
  per divergence so a replay never logs a conflict twice.

Row-level security on ``tenant_id`` like every tenant table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pie.adapters.db.tables import Base
from pie.adapters.db.types import Json


def _tenant() -> Mapped[UUID]:
    return mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)


class SyncStateRow(Base):
    __tablename__ = "sync_state"

    tenant_id: Mapped[UUID] = _tenant()
    connection: Mapped[str] = mapped_column(String(64), primary_key=True)
    cursors: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    outbox_seq: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    last_run_at: Mapped[datetime | None]
    counters: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)


class SyncLinkRow(Base):
    __tablename__ = "sync_links"
    __table_args__ = (UniqueConstraint("tenant_id", "connection", "kind", "external_id"),)

    tenant_id: Mapped[UUID] = _tenant()
    connection: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    pie_id: Mapped[UUID] = mapped_column(primary_key=True)
    external_id: Mapped[str]
    status: Mapped[str] = mapped_column(String(16))
    remote_edited_time: Mapped[datetime | None]
    remote_edited_by: Mapped[str | None]
    error: Mapped[str | None] = mapped_column(Text)


class SyncBaseRow(Base):
    __tablename__ = "sync_base"

    tenant_id: Mapped[UUID] = _tenant()
    connection: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    pie_id: Mapped[UUID] = mapped_column(primary_key=True)
    field: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(Json, nullable=True)


class SyncLogRow(Base):
    __tablename__ = "sync_log"
    __table_args__ = (
        UniqueConstraint("tenant_id", "connection", "kind", "pie_id", "field", "divergence"),
        Index(None, "tenant_id", "connection", "id"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    tenant_id: Mapped[UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    connection: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    pie_id: Mapped[UUID]
    external_id: Mapped[str | None]
    field: Mapped[str] = mapped_column(String(64))
    divergence: Mapped[str] = mapped_column(String(64))
    base: Mapped[Any] = mapped_column(Json, nullable=True)
    local: Mapped[Any] = mapped_column(Json, nullable=True)
    remote: Mapped[Any] = mapped_column(Json, nullable=True)
    winner: Mapped[str] = mapped_column(String(16))
    rule: Mapped[str] = mapped_column(String(64))
    local_time: Mapped[datetime | None]
    remote_time: Mapped[datetime | None]
    skew_seconds: Mapped[float | None]
    at: Mapped[datetime]


SYNC_TABLES: tuple[str, ...] = ("sync_state", "sync_links", "sync_base", "sync_log")
