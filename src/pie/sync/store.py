"""PIE's store as a ``CrmAdapter``: the always-on primary, over the repositories of one open
unit of work. It has no database logic of its own and never commits: the caller commits the
unit of work (so the sync engine's applies, base values, cursor and log commit together).

Every write goes through the repositories' ownership-aware writes as ``origin`` (the sync
engine uses the CRM's name, e.g. ``notion``), so it lands in the change feed and in the
fields' provenance, and the tenant's ownership policy decides what it may overwrite.

The external id of a record is its PIE id (``str(uuid)``). ``last_edited_time`` is the
record's ``updated_at``; ``last_edited_by`` the origin of its newest field write. The store
has no trash (``capabilities.trash`` is False): PIE deletes through its own services, and the
change feed tells the sync engine.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from pie.domain.crm_fields import field_names, normalise
from pie.domain.model import Activity, ActivityType, Contact, Deal
from pie.domain.ownership import PIE
from pie.domain.stages import Stage
from pie.ports.crm import (
    ActivityInput,
    ActivityResult,
    CrmAdapter,
    CrmCapabilities,
    CrmRecord,
    CrmRejected,
    Fields,
    FieldValue,
    Page,
    RecordKind,
    WriteResult,
)
from pie.ports.uow import UnitOfWork


def _now() -> datetime:
    return datetime.now(UTC)


class StoreCrmAdapter(CrmAdapter):
    """``uow``: an open unit of work (entered by the caller); ``origin``: the origin of the
    writes (``pie`` for an agent, ``human``, or a CRM's name for applied inbound changes)."""

    def __init__(
        self, uow: UnitOfWork, *, origin: str = PIE, clock: Callable[[], datetime] = _now
    ) -> None:
        self._uow = uow
        self._origin = origin
        self._now = clock
        self._caps = CrmCapabilities(
            name="store",
            self_actor=origin,
            fields={k: field_names(k) for k in RecordKind},
            time_precision=0.0,
            requests_per_second=None,
            trash=False,
        )

    @property
    def capabilities(self) -> CrmCapabilities:
        return self._caps

    # --- reads -----------------------------------------------------------------------------

    async def get_record(self, kind: RecordKind, external_id: str) -> CrmRecord | None:
        ident = _uuid(external_id)
        if ident is None:
            return None
        item = await self._get(kind, ident)
        return None if item is None else await self._record(kind, item)

    async def values(self, kind: RecordKind, pie_id: UUID) -> dict[str, FieldValue] | None:
        """Just the synced values of a record (None: not there); one read, no provenance."""
        item = await self._get(kind, pie_id)
        return None if item is None else from_model(kind, item)

    async def find_by_pie_id(self, kind: RecordKind, pie_id: UUID) -> CrmRecord | None:
        return await self.get_record(kind, str(pie_id))

    async def list_records(
        self, kind: RecordKind, *, cursor: str | None = None, page_size: int = 100
    ) -> Page:
        after = _decode(cursor)
        items = [i async for i in self._iter(kind) if after is None or str(i.id) > after[1]]
        items.sort(key=lambda i: str(i.id))
        return await self._page(kind, items, page_size, lambda i: ("", str(i.id)))

    async def changes_since(
        self,
        kind: RecordKind,
        since: datetime,
        *,
        cursor: str | None = None,
        page_size: int = 100,
    ) -> Page:
        after = _decode(cursor)

        def key(i: Deal | Contact) -> tuple[str, str]:
            return (i.updated_at.astimezone(UTC).isoformat(), str(i.id))

        items = [
            i
            async for i in self._iter(kind)
            if i.updated_at >= since and (after is None or key(i) > after)
        ]
        items.sort(key=key)
        return await self._page(kind, items, page_size, key)

    async def list_activities(self, deal_external_id: str) -> Sequence[ActivityResult]:
        deal_id = await self._require(RecordKind.DEAL, deal_external_id)
        return [
            ActivityResult(a.id, str(a.id)) for a in await self._uow.activities.for_deal(deal_id)
        ]

    # --- writes ----------------------------------------------------------------------------

    async def create_record(self, kind: RecordKind, pie_id: UUID, fields: Fields) -> WriteResult:
        existing = await self._get(kind, pie_id)
        if existing is not None:
            return WriteResult(await self._record(kind, existing), created=False)
        now = self._now()
        values = _to_model(kind, fields)
        tenant = self._uow.tenant_id
        item: Deal | Contact
        if kind is RecordKind.DEAL:
            values.setdefault("stage", Stage.LEAD)
            values["name"] = values.get("name") or "(untitled)"
            item = Deal(
                id=pie_id,
                tenant_id=tenant,
                account_id=None,
                created_at=now,
                updated_at=now,
                source=self._origin,
                **values,
            )
            await self._uow.deals.add(item, origin=self._origin)
        else:
            values["name"] = values.get("name") or "(unnamed)"
            item = Contact(
                id=pie_id,
                tenant_id=tenant,
                account_id=None,
                created_at=now,
                updated_at=now,
                **values,
            )
            await self._uow.contacts.add(item, origin=self._origin)
        stored = await self._get(kind, pie_id)
        assert stored is not None
        return WriteResult(await self._record(kind, stored), created=True)

    async def update_record(
        self, kind: RecordKind, external_id: str, fields: Fields
    ) -> WriteResult:
        ident = await self._require(kind, external_id)
        item = await self._get(kind, ident)
        assert item is not None
        values = _to_model(kind, fields)
        if kind is RecordKind.DEAL and "name" in values and not values["name"]:
            values.pop("name")  # a deal always has a name
        if values:
            carried = frozenset(values) | {"updated_at"}
            if isinstance(item, Deal):
                deal = dataclasses.replace(item, updated_at=self._now(), **values)
                await self._uow.deals.update(deal, origin=self._origin, fields=carried)
            else:
                contact = dataclasses.replace(item, updated_at=self._now(), **values)
                await self._uow.contacts.update(contact, origin=self._origin, fields=carried)
        stored = await self._get(kind, ident)
        assert stored is not None
        return WriteResult(await self._record(kind, stored))

    async def set_trash(self, kind: RecordKind, external_id: str, in_trash: bool) -> WriteResult:
        raise CrmRejected(
            400, "PIE's store has no trash: records are deleted through PIE", code="unsupported"
        )

    async def create_activity(
        self, deal_external_id: str, activity: ActivityInput
    ) -> ActivityResult:
        deal_id = await self._require(RecordKind.DEAL, deal_external_id)
        existing = await self._uow.activities.get(activity.pie_id)
        if existing is not None:
            return ActivityResult(existing.id, str(existing.id), created=False)
        try:
            kind = ActivityType(activity.type)
        except ValueError:
            kind = ActivityType.INTERNAL
        await self._uow.activities.add(
            Activity(
                id=activity.pie_id,
                tenant_id=self._uow.tenant_id,
                deal_id=deal_id,
                account_id=None,
                type=kind,
                occurred_at=activity.occurred_at,
                subject=activity.subject,
                summary=activity.summary,
            ),
            origin=self._origin,
        )
        return ActivityResult(activity.pie_id, str(activity.pie_id), created=True)

    # --- internals -------------------------------------------------------------------------

    async def _get(self, kind: RecordKind, ident: UUID) -> Deal | Contact | None:
        if kind is RecordKind.DEAL:
            return await self._uow.deals.get(ident)
        return await self._uow.contacts.get(ident)

    async def _require(self, kind: RecordKind, external_id: str) -> UUID:
        ident = _uuid(external_id)
        if ident is None or await self._get(kind, ident) is None:
            raise CrmRejected(404, f"no {kind.value} {external_id}", code="object_not_found")
        return ident

    async def _iter(self, kind: RecordKind) -> Any:
        repo: Any = self._uow.deals if kind is RecordKind.DEAL else self._uow.contacts
        async for batch in repo.iter_all():
            for item in batch:
                yield item

    async def _page(self, kind: RecordKind, items: list[Any], page_size: int, key: Any) -> Page:
        if not 1 <= page_size <= 100:
            raise CrmRejected(400, "page_size must be 1-100", code="validation_error")
        page = items[:page_size]
        token = _encode(*key(page[-1])) if len(items) > len(page) and page else None
        return Page([await self._record(kind, i) for i in page], token)

    async def _record(self, kind: RecordKind, item: Deal | Contact) -> CrmRecord:
        repo: Any = self._uow.deals if kind is RecordKind.DEAL else self._uow.contacts
        provenance: Mapping[str, list[str]] = await repo.provenance(item.id)
        newest = max(provenance.values(), key=lambda p: p[1], default=[self._origin, ""])
        return CrmRecord(
            kind=kind,
            external_id=str(item.id),
            pie_id=item.id,
            fields=from_model(kind, item),
            last_edited_time=item.updated_at,
            last_edited_by=newest[0],
        )


def from_model(kind: RecordKind, item: Deal | Contact) -> dict[str, FieldValue]:
    """The synced fields of a PIE record, normalised."""
    return {name: normalise(kind, name, getattr(item, name)) for name in sorted(field_names(kind))}


def _to_model(kind: RecordKind, fields: Fields) -> dict[str, Any]:
    """Contract values -> the model's attribute types (fields of other kinds are ignored)."""
    names = field_names(kind)
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if name not in names:
            continue
        if name == "stage":
            out[name] = Stage(str(value)) if value is not None else Stage.LEAD
        elif name == "value":
            out[name] = None if value is None else Decimal(str(value)).quantize(Decimal("0.01"))
        elif name in ("probability", "detection_confidence"):
            out[name] = None if value is None else float(value)
        elif name == "expected_close":
            out[name] = None if value is None else date.fromisoformat(str(value))
        else:
            out[name] = None if value is None or value == "" else str(value)
    return out


def _uuid(text: str) -> UUID | None:
    try:
        return UUID(text)
    except ValueError:
        return None


def _encode(key: str, ident: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([key, ident]).encode()).decode()


def _decode(cursor: str | None) -> tuple[str, str] | None:
    if cursor is None:
        return None
    try:
        key, ident = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError) as exc:
        raise CrmRejected(400, "the cursor is not valid", code="validation_error") from exc
    return str(key), str(ident)
