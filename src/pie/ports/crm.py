"""The CRM adapter contract: what the sync engine needs from a CRM (Notion first) and from
PIE's own store, which implements the same contract as the always-on primary.

One abstract class, ``CrmAdapter``. Records are deals and contacts (``RecordKind``), written
and read as flat ``fields`` maps keyed by PIE's field names (``pie.domain.crm_fields``, which
also holds ``RecordKind``), with JSON scalar values in a normalised form:

* text, select, email: ``str`` (``None`` when empty: an empty string is never stored);
* number: ``float`` (``None`` when empty);
* date: ISO ``"YYYY-MM-DD"`` ``str``;
* a deal's ``stage``: the ``pie.domain.stages.Stage`` value (``"proposal"``).

The rules every implementation keeps (tests/contract/test_crm_contract.py checks them):

* **Writes carry a PIE id.** ``create_record(kind, pie_id, fields)`` first looks for a record
  carrying that PIE id and, if there is one, returns it (``created=False``) instead of making a
  second: a create retried after a lost response never duplicates. ``find_by_pie_id`` is the
  same lookup on its own.
* **Writes change only the fields they carry.** ``update_record`` leaves other fields as they
  are; its result is the whole record as the CRM now has it (other people's edits included):
  the caller must take from it only the fields it wrote.
* **Results carry** the external id, the CRM's ``last_edited_time`` (as precise as the CRM
  is: Notion floors to the minute, see ``CrmCapabilities.time_precision``),
  ``last_edited_by`` (an actor id; the adapter's own writes show ``capabilities.self_actor``)
  and, where the CRM says, ``created_by`` (likewise).
* **Incremental reads are inclusive** (``on_or_after``): ``changes_since(kind, since)`` returns
  every live record with ``last_edited_time >= since``, ascending by ``last_edited_time`` (then
  external id), in pages of at most ``page_size``; ``Page.next_cursor`` continues the same
  read, and ``Page.complete`` is False when the CRM reported that it stopped early (Notion's
  ``query_result_limit_reached``): the caller must not advance its own cursor past it.
* **Trash is soft.** ``set_trash(kind, id, True)`` trashes, ``False`` restores. Trashed records
  drop out of ``list_records`` and ``changes_since``; ``get_record`` still returns them with
  ``in_trash=True``. ``get_record`` returns None only for a record the adapter cannot see
  (never created, or no longer shared): that is *not* a delete.
* **Activities** are appended to a deal, keyed by the activity's PIE id: appending the same
  activity id twice leaves one (``create_activity`` returns ``created=False`` the second time).
* **Errors** are ``CrmError`` subclasses (in ``pie.domain.errors``' tree): ``CrmRateLimited``
  (429, ``retry_after`` seconds, decimals allowed), ``CrmUnavailable`` (529, 5xx, connection
  problems; ``outcome_unknown`` when a write may have been applied), ``CrmTimeout`` (no answer:
  a write's outcome is unknown), ``CrmConflict`` (409: re-read, re-merge, retry), and
  ``CrmRejected`` (400/401/403/404: never retried; ``status`` and the CRM's ``message``).
  Adapters do not retry on their own: the caller's scheduler owns waits and retries.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from pie.domain.crm_fields import RecordKind
from pie.domain.errors import ConnectorError, PermanentError, TransientError

#: A normalised field value (see the module docstring).
FieldValue = str | float | None
Fields = Mapping[str, FieldValue]


__all__ = [
    "ActivityInput",
    "ActivityResult",
    "CrmAdapter",
    "CrmCapabilities",
    "CrmConflict",
    "CrmError",
    "CrmRateLimited",
    "CrmRecord",
    "CrmRejected",
    "CrmTimeout",
    "CrmUnavailable",
    "FieldValue",
    "Fields",
    "Page",
    "RecordKind",
    "WriteResult",
]

# --- errors ----------------------------------------------------------------------------------


class CrmError(ConnectorError):
    """Base of the errors a CRM adapter raises. ``retryable``: the caller may try again later;
    ``outcome_unknown``: a write may have been applied (verify by PIE id before re-creating)."""

    retryable: bool = False
    outcome_unknown: bool = False
    status: int | None = None


class CrmRateLimited(CrmError, TransientError):
    """429 (or a per-workspace limit): wait ``retry_after`` seconds (None: not given)."""

    retryable = True
    status = 429

    def __init__(self, message: str = "rate limited", *, retry_after: float | None = None) -> None:
        TransientError.__init__(self, message, retry_after=retry_after)


class CrmUnavailable(CrmError, TransientError):
    """529 service_overload, 500, 502, 503, 504, a refused or reset connection. For a write,
    ``outcome_unknown`` says whether the request may have reached the CRM (False only when it
    certainly did not, e.g. connection refused)."""

    retryable = True

    def __init__(
        self,
        message: str = "service unavailable",
        *,
        status: int | None = None,
        retry_after: float | None = None,
        outcome_unknown: bool = True,
    ) -> None:
        TransientError.__init__(self, message, retry_after=retry_after)
        self.status = status
        self.outcome_unknown = outcome_unknown


class CrmTimeout(CrmError, TransientError):
    """No answer in time: a write may or may not have been applied."""

    retryable = True
    outcome_unknown = True

    def __init__(self, message: str = "request timed out") -> None:
        TransientError.__init__(self, message)


class CrmConflict(CrmError, TransientError):
    """409 conflict_error: the CRM could not complete the write (a data collision). Nothing was
    applied; re-read, re-merge and retry."""

    retryable = True
    status = 409

    def __init__(self, message: str = "conflict") -> None:
        TransientError.__init__(self, message)


class CrmRejected(CrmError, PermanentError):
    """400 validation_error, 401 unauthorized, 403 restricted_resource, 404 object_not_found:
    never retried. ``message`` is the CRM's; ``code`` its error code."""

    def __init__(self, status: int, message: str, *, code: str = "") -> None:
        self.status = status
        self.code = code
        self.message = message
        super().__init__(f"{status} {code}: {message}" if code else f"{status}: {message}")

    @property
    def pauses_connection(self) -> bool:
        """401/403: the token is revoked or lacks access; stop the connection."""
        return self.status in (401, 403)


# --- values ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CrmCapabilities:
    """What an adapter can do and how precise it is.

    ``time_precision``: seconds ``last_edited_time`` is floored to (Notion: 60).
    ``self_actor``: the ``last_edited_by`` the adapter's own writes show.
    ``requests_per_second``: the default budget for one connection (None: unlimited).
    ``fields``: per kind, the field names the adapter stores (writes of other fields are
    ignored; reads never contain them).
    """

    name: str
    self_actor: str
    fields: Mapping[RecordKind, frozenset[str]]
    time_precision: float = 0.0
    requests_per_second: float | None = None
    max_page_size: int = 100
    trash: bool = True
    activities: bool = True


@dataclass(frozen=True, slots=True)
class CrmRecord:
    """One record as the adapter sees it now."""

    kind: RecordKind
    external_id: str
    pie_id: UUID | None  # None: made outside PIE and not linked yet
    fields: Mapping[str, FieldValue]
    last_edited_time: datetime
    last_edited_by: str
    in_trash: bool = False
    #: the actor that created the record (``capabilities.self_actor`` for the adapter's own
    #: creates); None when the CRM does not say
    created_by: str | None = None


@dataclass(frozen=True, slots=True)
class WriteResult:
    """The record after a write. ``created``: a create made a new record (False: one with the
    PIE id existed and was returned)."""

    record: CrmRecord
    created: bool = False

    @property
    def external_id(self) -> str:
        return self.record.external_id

    @property
    def last_edited_time(self) -> datetime:
        return self.record.last_edited_time

    @property
    def last_edited_by(self) -> str:
        return self.record.last_edited_by


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list or an incremental read."""

    records: Sequence[CrmRecord]
    next_cursor: str | None = None  # None: this was the last page
    complete: bool = True  # False: the CRM stopped early (do not advance past this read)

    @property
    def has_more(self) -> bool:
        return self.next_cursor is not None


@dataclass(frozen=True, slots=True)
class ActivityInput:
    """An activity to append to a deal (a call, a meeting, an email)."""

    pie_id: UUID
    type: str
    occurred_at: datetime
    subject: str | None = None
    summary: str | None = None


@dataclass(frozen=True, slots=True)
class ActivityResult:
    pie_id: UUID
    external_id: str  # the CRM's id of the activity (Notion: the block id)
    created: bool = False


# --- the contract ----------------------------------------------------------------------------


class CrmAdapter(abc.ABC):
    """A CRM backend (see the module docstring for the rules). One instance serves one
    connection of one tenant. The seed's named operations (``create_deal``, ``get_deal``,
    ...) are the kind-generic abstract methods applied to deals or contacts.

    **Every request an adapter sends awaits its gate first** (``use_gate``): an operation
    may cost several requests (Notion: a create is the PIE-id lookup and the create; the
    first activity appended to a page lists the page's blocks first; a retry is another
    request), and the caller's rate limiter must count the requests, not the operations."""

    _gate: Callable[[], Awaitable[None]] | None = None

    def use_gate(self, gate: Callable[[], Awaitable[None]] | None) -> None:
        """Await ``gate`` before every request this adapter sends (None: no gate)."""
        self._gate = gate

    async def before_request(self) -> None:
        """Implementations call this just before each request they send."""
        if self._gate is not None:
            await self._gate()

    @property
    @abc.abstractmethod
    def capabilities(self) -> CrmCapabilities: ...

    @abc.abstractmethod
    async def create_record(self, kind: RecordKind, pie_id: UUID, fields: Fields) -> WriteResult:
        """Create a record carrying ``pie_id``; if one with that PIE id exists already, return
        it unchanged with ``created=False``."""

    @abc.abstractmethod
    async def update_record(
        self, kind: RecordKind, external_id: str, fields: Fields
    ) -> WriteResult:
        """Write the carried ``fields`` only; returns the whole record as the CRM now has it.
        ``CrmRejected(404)`` if there is no such record."""

    @abc.abstractmethod
    async def get_record(self, kind: RecordKind, external_id: str) -> CrmRecord | None:
        """The record (trashed ones too, with ``in_trash=True``); None if not visible."""

    @abc.abstractmethod
    async def find_by_pie_id(self, kind: RecordKind, pie_id: UUID) -> CrmRecord | None:
        """The record carrying ``pie_id`` (trashed ones too), or None."""

    @abc.abstractmethod
    async def list_records(
        self, kind: RecordKind, *, cursor: str | None = None, page_size: int = 100
    ) -> Page:
        """Every live (not trashed) record, in a stable order, paged."""

    @abc.abstractmethod
    async def changes_since(
        self,
        kind: RecordKind,
        since: datetime,
        *,
        cursor: str | None = None,
        page_size: int = 100,
    ) -> Page:
        """Live records with ``last_edited_time >= since`` (inclusive), ascending by
        ``last_edited_time`` then external id, paged."""

    @abc.abstractmethod
    async def set_trash(self, kind: RecordKind, external_id: str, in_trash: bool) -> WriteResult:
        """Trash (True) or restore (False) a record; a soft delete only."""

    @abc.abstractmethod
    async def create_activity(
        self, deal_external_id: str, activity: ActivityInput
    ) -> ActivityResult:
        """Append an activity to a deal, once per activity PIE id."""

    @abc.abstractmethod
    async def list_activities(self, deal_external_id: str) -> Sequence[ActivityResult]:
        """The activities appended to a deal, oldest first."""

    # --- the seed's named operations ---------------------------------------------------------

    async def create_deal(self, pie_id: UUID, fields: Fields) -> WriteResult:
        return await self.create_record(RecordKind.DEAL, pie_id, fields)

    async def update_deal(self, external_id: str, fields: Fields) -> WriteResult:
        return await self.update_record(RecordKind.DEAL, external_id, fields)

    async def get_deal(self, external_id: str) -> CrmRecord | None:
        return await self.get_record(RecordKind.DEAL, external_id)

    async def list_deals(self, *, cursor: str | None = None, page_size: int = 100) -> Page:
        return await self.list_records(RecordKind.DEAL, cursor=cursor, page_size=page_size)

    async def create_contact(self, pie_id: UUID, fields: Fields) -> WriteResult:
        return await self.create_record(RecordKind.CONTACT, pie_id, fields)

    async def update_contact(self, external_id: str, fields: Fields) -> WriteResult:
        return await self.update_record(RecordKind.CONTACT, external_id, fields)

    async def get_contact(self, external_id: str) -> CrmRecord | None:
        return await self.get_record(RecordKind.CONTACT, external_id)
