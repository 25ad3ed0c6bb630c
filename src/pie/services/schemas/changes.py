"""The change feed and field ownership as JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from pie.domain.ownership import OwnershipPolicy
from pie.ports.repositories import Change
from pie.services.changes import ChangePage


class ChangeRead(BaseModel):
    seq: int = Field(description="Position in the tenant's feed; ask with since=seq for later ones")
    entity: str = Field(description="account, contact, deal, stakeholder, activity, ...")
    id: UUID
    op: str = Field(description="create, update or delete")
    version: int = Field(description="The record's version after the change")
    origin: str = Field(description="Who wrote: a source name, 'human' or 'pie'")
    fields: dict[str, list[Any]] = Field(description="field -> [old, new] for each changed field")
    at: datetime

    @classmethod
    def of(cls, c: Change) -> ChangeRead:
        return cls(
            seq=c.seq,
            entity=c.entity.value,
            id=c.entity_id,
            op=c.op,
            version=c.version,
            origin=c.origin,
            fields=c.fields,
            at=c.at,
        )


class ChangePageRead(BaseModel):
    changes: list[ChangeRead]
    since: int
    next_since: int = Field(description="Pass as `since` to read on")
    latest: int = Field(description="The tenant's newest change")
    more: bool = Field(description="Whether more changes follow already")

    @classmethod
    def of(cls, page: ChangePage) -> ChangePageRead:
        return cls(
            changes=[ChangeRead.of(c) for c in page.changes],
            since=page.since,
            next_since=page.next_since,
            latest=page.latest,
            more=page.more,
        )


class FieldOrigin(BaseModel):
    origin: str
    at: datetime


def provenance_read(prov: dict[str, list[str]]) -> dict[str, FieldOrigin]:
    return {
        name: FieldOrigin(origin=origin, at=datetime.fromisoformat(at))
        for name, (origin, at) in sorted(prov.items())
    }


class PolicyRead(BaseModel):
    orders: dict[str, list[str]] = Field(
        description="'<entity>.<field>' or '<entity>.*' -> origins, strongest first; "
        "fields not listed: human > source > pie"
    )

    @classmethod
    def of(cls, policy: OwnershipPolicy) -> PolicyRead:
        return cls(orders=policy.to_document())
