"""The extract stage's port: a source yields raw records, stream by stream, with a position.

A *source* is where records come from: a file (PIE JSON, a CRM's CSV report, an event log) or,
later, a CRM's API (Salesforce, HubSpot, Pipedrive) paging with a cursor. It yields
``RawRecord``s in the vendor's or format's own shape; a mapper (``pie.importing.mapping``)
turns them into drafts of the unified model, and the sink stores them.

A *stream* is one kind of record of a source: ``accounts``, ``contacts``, ``deals``,
``stage_history``, ``events``. A resumable source gives each record the ``position`` its stream
reaches once the record is stored (an API's modification time and id); the sink commits each
batch together with those positions (``uow.cursors``), so a run that stops resumes from the last
committed batch. A file is not resumable: it is stored in one transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

ACCOUNTS, CONTACTS, DEALS = "accounts", "contacts", "deals"
STAGE_HISTORY, EVENTS = "stage_history", "events"


@dataclass(frozen=True, slots=True)
class RawRecord:
    stream: str
    data: Any  # the record as the source has it: a dict of the vendor's field names, a row
    where: str  # where it is, for messages: "line 12", "deals[3]", "page 2, record 7"
    position: str | None = None  # resumable sources: the stream's cursor once this is stored
    #: (field, problem) when the source could not read the record whole (a row with too many
    #: cells); ``data`` then has what could be read. It is rejected like a mapper's problem.
    problem: tuple[str, str] | None = None


class Source(Protocol):
    """``name`` is the source the records' external ids belong to (``salesforce``, a PIE JSON
    file's ``source``); ``label`` says where it reads from in messages (a path, a URL)."""

    name: str
    label: str
    streams: tuple[str, ...]  # the streams it yields, in order
    resumable: bool

    # An `async def ... yield` implementation satisfies this signature.
    def records(self, since: Mapping[str, str]) -> AsyncIterator[RawRecord]:
        """Every record of every stream, in the order they must be stored (a record comes
        after the records it refers to). ``since`` maps a stream to the position committed
        last; a resumable source starts after it. A record the source cannot read raises
        InvalidInput naming the source, the stream and record, the field and the problem."""
        ...
