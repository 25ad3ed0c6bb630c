"""An event log (XES, or CSV with a mapping) as a source: one record per case, a
``DealHistory``. The whole log is checked first (``pie.mining.eventlog_import``): every
unmapped activity is reported at once, before anything is stored."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from uuid import UUID

from pie.importing.source import RawRecord
from pie.importing.stage_maps import unmapped_activities_error
from pie.mining.eventlog_import import UnmappedActivities, read_event_log
from pie.mining.eventlog_mapping import EventLogMapping


class EventLogSource:
    resumable = False
    streams: tuple[str, ...] = ("deals",)

    def __init__(
        self,
        path: Path,
        mapping: EventLogMapping,
        *,
        tenant_id: UUID,
        sort_events: bool,
        suggestions_dir: Path | None,
    ) -> None:
        self.path, self.label, self.name = path, str(path), mapping.source
        self.mapping, self.tenant_id, self.sort_events = mapping, tenant_id, sort_events
        self.suggestions_dir = suggestions_dir
        self.done = 0  # bytes read (for progress): the log is read whole, then stored

    async def records(self, since: Mapping[str, str]) -> AsyncIterator[RawRecord]:
        try:
            histories = read_event_log(
                self.path, self.mapping, tenant_id=self.tenant_id, sort_events=self.sort_events
            )
        except UnmappedActivities as err:
            raise unmapped_activities_error(err, self.path, self.suggestions_dir) from None
        for h in histories:
            case = h.deal.external_ids.get(self.name, h.deal.name)
            yield RawRecord("deals", h, f"case {case}")
        self.done = self.path.stat().st_size
