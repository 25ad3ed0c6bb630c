"""The HubSpot emulator's state: one portal (account) in memory, and what the CRM API does with
it, independent of HTTP (``pie.sources.hubspot.emulator`` serves it).

Faithful to the fact sheet (docs/connectors-hubspot.md): property values are strings, lists
page with ``after``, search filters and sorts and stops at ``search_cap`` results (10,000), the
search index lags writes by ``index_lag`` (an edited record shows its old values in search, a
new one is missing, until then), archived records leave search and lists and are listed with
``archived=true``, pipelines carry stage metadata as strings, ``propertiesWithHistory`` keeps
every value a property had, a merge leaves the survivor listing the merged ids in
``hs_merged_object_ids``. Tests change the portal with ``create``, ``edit``, ``archive`` and
``merge``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

OBJECT_TYPES = ("companies", "contacts", "deals", "calls", "emails", "meetings", "notes")
ENGAGEMENT_TYPES = ("calls", "emails", "meetings", "notes")
#: The property that holds each object type's modification time.
MODIFIED = dict.fromkeys(OBJECT_TYPES, "hs_lastmodifieddate") | {"contacts": "lastmodifieddate"}
#: HubSpot-defined association type ids (from -> to): (typeId, label).
ASSOCIATION_TYPES: Mapping[tuple[str, str], int] = {
    ("deals", "contacts"): 3,
    ("contacts", "deals"): 4,
    ("deals", "companies"): 341,
    ("companies", "deals"): 342,
    ("contacts", "companies"): 279,
    ("companies", "contacts"): 280,
    **{(e, "deals"): 200 + n for n, e in enumerate(ENGAGEMENT_TYPES)},
    **{(e, "contacts"): 210 + n for n, e in enumerate(ENGAGEMENT_TYPES)},
    **{(e, "companies"): 220 + n for n, e in enumerate(ENGAGEMENT_TYPES)},
    **{("deals", e): 230 + n for n, e in enumerate(ENGAGEMENT_TYPES)},
    **{("contacts", e): 240 + n for n, e in enumerate(ENGAGEMENT_TYPES)},
    **{("companies", e): 250 + n for n, e in enumerate(ENGAGEMENT_TYPES)},
}
_FIRST_ID = {t: 1_000_001 + n * 10_000_000 for n, t in enumerate(OBJECT_TYPES)}


def _merged_ids(properties: Mapping[str, str | None]) -> list[str]:
    return [i for i in (properties.get("hs_merged_object_ids") or "").split(";") if i]


def hs_time(at: datetime) -> str:
    """HubSpot's time format: ISO 8601 UTC with milliseconds."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def parse_hs_time(text: str) -> datetime:
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def epoch_ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


class ApiError(Exception):
    """An error response: status and HubSpot's error body."""

    def __init__(self, status: int, category: str, message: str, **extra: Any) -> None:
        self.status = status
        self.body: dict[str, Any] = {
            "status": "error",
            "message": message,
            "correlationId": "00000000-0000-4000-8000-000000000000",
            "category": category,
            **extra,
        }
        super().__init__(message)


@dataclass(slots=True)
class Record:
    type: str
    id: str
    properties: dict[str, str | None]
    created_at: datetime
    #: property -> [(value, time)], oldest first
    history: dict[str, list[tuple[str | None, datetime]]] = field(default_factory=dict)
    archived_at: datetime | None = None
    #: what search shows until ``visible_at``: the previous version (None: nothing)
    search_props: dict[str, str | None] | None = None
    visible_at: datetime | None = None

    @property
    def updated_at(self) -> datetime:
        return parse_hs_time(self.properties[MODIFIED[self.type]] or "")


@dataclass(slots=True)
class Stage:
    id: str
    label: str
    display_order: int
    probability: str
    is_closed: bool


@dataclass(slots=True)
class Pipeline:
    id: str
    label: str
    display_order: int
    stages: list[Stage]
    created_at: datetime

    def to_api(self) -> dict[str, Any]:
        when = hs_time(self.created_at)
        return {
            "id": self.id,
            "label": self.label,
            "displayOrder": self.display_order,
            "archived": False,
            "createdAt": when,
            "updatedAt": when,
            "stages": [
                {
                    "id": s.id,
                    "label": s.label,
                    "displayOrder": s.display_order,
                    "archived": False,
                    "metadata": {
                        "isClosed": "true" if s.is_closed else "false",
                        "probability": s.probability,
                    },
                    "createdAt": when,
                    "updatedAt": when,
                    "writePermissions": "CRUD",
                }
                for s in self.stages
            ],
        }


class Portal:
    """One HubSpot account's CRM data. Thread-safe: every public method takes the lock."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        index_lag: timedelta = timedelta(seconds=0),
        search_cap: int = 10_000,
    ) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.index_lag = index_lag
        self.search_cap = search_cap
        self.lock = threading.RLock()
        self.records: dict[str, dict[str, Record]] = {t: {} for t in OBJECT_TYPES}
        self.associations: set[tuple[str, str, str, str]] = set()  # (from, id, to, id)
        self._links: dict[tuple[str, str, str], set[str]] = {}  # (from, id, to) -> ids
        #: (from, id, to, id) -> an association label (a user-defined type: "Decision maker")
        self.labels: dict[tuple[str, str, str, str], str] = {}
        self.pipelines: list[Pipeline] = []
        #: object type -> custom property names (defined by the portal, not by HubSpot)
        self.custom_properties: dict[str, set[str]] = {t: set() for t in OBJECT_TYPES}
        self._next_id = dict(_FIRST_ID)

    # --- changing the portal (seeding and tests) ----------------------------------------------

    def create(
        self,
        object_type: str,
        properties: Mapping[str, Any],
        *,
        created_at: datetime | None = None,
        modified_at: datetime | None = None,
        associations: Iterable[tuple[str, str]] = (),
        history: Mapping[str, Sequence[tuple[Any, datetime]]] | None = None,
        record_id: str | None = None,
        index_lag: timedelta | None = None,
    ) -> str:
        """A new record; values are stored as strings. ``history`` gives a property's earlier
        values (oldest first); the current value is its last entry."""
        with self.lock:
            now = self.clock()
            ident = record_id or str(self._take_id(object_type))
            created = created_at or now
            modified = modified_at or created
            props = {k: _string(x) for k, x in properties.items()}
            props["hs_object_id"] = ident
            props["createdate"] = hs_time(created)
            props[MODIFIED[object_type]] = hs_time(modified)
            record = Record(object_type, ident, props, created)
            for name, value in props.items():
                record.history[name] = [(value, modified)]
            for name, values in (history or {}).items():
                record.history[name] = [(_string(x), at) for x, at in values]
            self.records[object_type][ident] = record
            self._index(record, None, now, index_lag)
            for to_type, to_id in associations:
                self.associate(object_type, ident, to_type, to_id)
            return ident

    def edit(
        self, object_type: str, ident: str, *, index_lag: timedelta | None = None, **props: Any
    ) -> datetime:
        """Set properties as a user would; the modification time is now. Returns it."""
        with self.lock:
            record = self._get(object_type, ident)
            now = self.clock()
            before = dict(record.properties)
            for name, value in props.items():
                record.properties[name] = _string(value)
                record.history.setdefault(name, []).append((_string(value), now))
            record.properties[MODIFIED[object_type]] = hs_time(now)
            self._index(record, before, now, index_lag)
            return now

    def archive(self, object_type: str, ident: str) -> None:
        with self.lock:
            self._get(object_type, ident).archived_at = self.clock()

    def purge(self, object_type: str, ident: str) -> None:
        """Forget a record for good, as HubSpot does 90 days after it was archived (or at
        once for a GDPR delete): no list, search or archive has it any more."""
        with self.lock:
            del self.records[object_type][ident]

    def restore(self, object_type: str, ident: str) -> None:
        with self.lock:
            record = self.records[object_type][ident]
            record.archived_at = None
            now = self.clock()
            before = dict(record.properties)
            record.properties[MODIFIED[object_type]] = hs_time(now)
            self._index(record, before, now)

    def merge(self, object_type: str, primary_id: str, merged_id: str) -> datetime:
        """Merge ``merged_id`` into ``primary_id``, as HubSpot's merge does: the primary keeps
        its values, takes over the other's associations and lists both the other and what was
        merged into it before in ``hs_merged_object_ids`` (``;``-separated); the merged id is
        gone (404, in no list, search or archive). Returns the modification time."""
        with self.lock:
            primary = self._get(object_type, primary_id)
            merged = self._get(object_type, merged_id)
            if primary is merged:
                raise ApiError(400, "VALIDATION_ERROR", "An object cannot be merged into itself")
            for to_type in OBJECT_TYPES:
                for to_id in sorted(self._links.get((object_type, merged_id, to_type), ())):
                    label = self.labels.get((object_type, merged_id, to_type, to_id))
                    self.associate(object_type, primary_id, to_type, to_id, label)
            del self.records[object_type][merged_id]
            ids = [
                *_merged_ids(primary.properties),
                merged_id,
                *_merged_ids(merged.properties),
            ]
            return self.edit(object_type, primary_id, hs_merged_object_ids=";".join(ids))

    def associate(
        self, from_type: str, from_id: str, to_type: str, to_id: str, label: str | None = None
    ) -> None:
        """Associate two records (both ways), with a ``label`` (a user-defined association
        type) if given."""
        with self.lock:
            self.associations.add((from_type, from_id, to_type, to_id))
            self.associations.add((to_type, to_id, from_type, from_id))
            if label:
                self.labels[(from_type, from_id, to_type, to_id)] = label
                self.labels[(to_type, to_id, from_type, from_id)] = label
            self._links.setdefault((from_type, from_id, to_type), set()).add(to_id)
            self._links.setdefault((to_type, to_id, from_type), set()).add(from_id)

    def live(self, object_type: str) -> list[Record]:
        """The records not archived, by id."""
        with self.lock:
            found = [r for r in self.records[object_type].values() if r.archived_at is None]
            return sorted(found, key=lambda r: int(r.id))

    def _take_id(self, object_type: str) -> int:
        ident = self._next_id[object_type]
        self._next_id[object_type] = ident + 1
        return ident

    def _get(self, object_type: str, ident: str) -> Record:
        record = self.records.get(object_type, {}).get(ident)
        if record is None or record.archived_at is not None:
            raise KeyError(f"{object_type} {ident}")
        return record

    def _index(
        self,
        record: Record,
        before: dict[str, str | None] | None,
        now: datetime,
        lag: timedelta | None = None,
    ) -> None:
        lag = self.index_lag if lag is None else lag
        if record.visible_at is not None and record.visible_at > now:
            before = record.search_props  # the previous edit is not indexed yet either
        record.search_props = before
        record.visible_at = now + lag if lag > timedelta(0) else None

    # --- reading, as the API does --------------------------------------------------------------

    def _searchable(self, record: Record, now: datetime) -> dict[str, str | None] | None:
        if record.archived_at is not None:
            return None
        if record.visible_at is not None and now < record.visible_at:
            return record.search_props
        return record.properties

    def view(
        self,
        record: Record,
        properties: Sequence[str],
        *,
        with_history: Sequence[str] = (),
        associations: Sequence[str] = (),
        shown: Mapping[str, str | None] | None = None,
    ) -> dict[str, Any]:
        """A record as the API returns it (``shown``: the properties to show, e.g. search's)."""
        props = record.properties if shown is None else shown
        wanted = {*properties, "hs_object_id", "createdate", MODIFIED[record.type]}
        out: dict[str, Any] = {
            "id": record.id,
            "properties": {name: props.get(name) for name in sorted(wanted)},
            "createdAt": hs_time(record.created_at),
            "updatedAt": props.get(MODIFIED[record.type]),
            "archived": record.archived_at is not None,
        }
        if record.archived_at is not None:
            out["archivedAt"] = hs_time(record.archived_at)
        if with_history:
            out["propertiesWithHistory"] = {
                name: [
                    {
                        "value": value,
                        "timestamp": hs_time(at),
                        "sourceType": "CRM_UI",
                        "sourceId": "userId:1000001",
                        "updatedByUserId": 1000001,
                    }
                    for value, at in reversed(record.history.get(name, []))
                ]
                for name in with_history
            }
        found = {to: self.associated(record.type, record.id, to) for to in associations}
        if any(found.values()):
            out["associations"] = {
                to: {
                    "results": [
                        {"id": other, "type": f"{_singular(record.type)}_to_{_singular(to)}"}
                        for other in ids
                    ]
                }
                for to, ids in found.items()
                if ids
            }
        return out

    def associated(self, from_type: str, from_id: str, to_type: str) -> list[str]:
        ids = self._links.get((from_type, from_id, to_type), set())
        alive = self.records.get(to_type, {})
        return sorted((i for i in ids if i in alive and alive[i].archived_at is None), key=int)

    def list_page(
        self,
        object_type: str,
        *,
        limit: int,
        after: str | None,
        properties: Sequence[str],
        associations: Sequence[str],
        with_history: Sequence[str],
        archived: bool,
    ) -> dict[str, Any]:
        with self.lock:
            records = sorted(
                (
                    r
                    for r in self.records[object_type].values()
                    if (r.archived_at is not None) == archived
                ),
                key=lambda r: int(r.id),
            )
            if after:
                if not after.isdigit():
                    raise ApiError(400, "VALIDATION_ERROR", f"Invalid after: {after!r}")
                records = [r for r in records if int(r.id) >= int(after)]
            page = records[:limit]
            out: dict[str, Any] = {
                "results": [
                    self.view(r, properties, with_history=with_history, associations=associations)
                    for r in page
                ]
            }
            if len(records) > limit:
                nxt = records[limit].id
                out["paging"] = {
                    "next": {"after": nxt, "link": f"?after={nxt}"},
                }
            return out

    def batch_read(
        self,
        object_type: str,
        ids: Sequence[str],
        properties: Sequence[str],
        with_history: Sequence[str],
    ) -> tuple[int, dict[str, Any]]:
        with self.lock:
            now = hs_time(self.clock())
            results, missing = [], []
            for ident in ids:
                record = self.records[object_type].get(ident)
                if record is None or record.archived_at is not None:
                    missing.append(ident)
                else:
                    results.append(self.view(record, properties, with_history=with_history))
            body: dict[str, Any] = {
                "status": "COMPLETE",
                "results": results,
                "startedAt": now,
                "completedAt": now,
            }
            if not missing:
                return 200, body
            body["numErrors"] = 1
            body["errors"] = [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": f"Could not get some {_singular(object_type).upper()} objects, "
                    "they may be deleted or not exist. Check that ids are valid.",
                    "context": {"ids": missing},
                }
            ]
            return 207, body

    def search(self, object_type: str, body: Mapping[str, Any], *, limit: int) -> dict[str, Any]:
        with self.lock:
            now = self.clock()
            groups = body.get("filterGroups") or []
            _check_filters(groups)
            rows: list[tuple[Record, dict[str, str | None]]] = []
            for record in self.records[object_type].values():
                shown = self._searchable(record, now)
                if shown is not None and (not groups or any(_matches(shown, g) for g in groups)):
                    rows.append((record, shown))
            for sort in reversed(_sorts(body.get("sorts"))):
                name, descending = sort
                rows.sort(
                    key=lambda row: (_sort_key(row[1].get(name)), int(row[0].id)),
                    reverse=descending,
                )
            if not body.get("sorts"):
                rows.sort(key=lambda row: int(row[0].id))
            after = str(body.get("after") or "0")
            if not after.isdigit():
                raise ApiError(400, "VALIDATION_ERROR", f"Invalid after: {after!r}")
            start = int(after)
            if start >= self.search_cap:
                raise ApiError(
                    400,
                    "VALIDATION_ERROR",
                    f"Paging through more than {self.search_cap} search results is not supported.",
                )
            end = min(start + limit, self.search_cap)
            properties = body.get("properties") or []
            out: dict[str, Any] = {
                "total": len(rows),
                "results": [self.view(r, properties, shown=shown) for r, shown in rows[start:end]],
            }
            if end < len(rows):
                out["paging"] = {"next": {"after": str(end)}}
            return out


def _singular(object_type: str) -> str:
    return {"companies": "company"}.get(object_type, object_type.removesuffix("s"))


def _string(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return hs_time(value)
    return str(value)


_OPERATORS = {
    "EQ",
    "NEQ",
    "LT",
    "LTE",
    "GT",
    "GTE",
    "BETWEEN",
    "IN",
    "NOT_IN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
    "CONTAINS_TOKEN",
    "NOT_CONTAINS_TOKEN",
}


def _check_filters(groups: Sequence[Any]) -> None:
    if len(groups) > 5:
        raise ApiError(400, "VALIDATION_ERROR", "There can be at most 5 filterGroups.")
    total = 0
    for group in groups:
        filters = group.get("filters") or []
        total += len(filters)
        if len(filters) > 10:
            raise ApiError(400, "VALIDATION_ERROR", "A filterGroup holds at most 10 filters.")
        for f in filters:
            if f.get("operator") not in _OPERATORS:
                raise ApiError(400, "VALIDATION_ERROR", f"Unknown operator {f.get('operator')!r}")
    if total > 25:
        raise ApiError(400, "VALIDATION_ERROR", "There can be at most 25 filters in all.")


def _comparable(value: str | None) -> float | str | None:
    """A property value as search compares it: dates and numbers as numbers."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return float(epoch_ms(parse_hs_time(value)))
    except ValueError:
        return value.lower()


def _sort_key(value: str | None) -> tuple[int, float | str]:
    c = _comparable(value)
    if c is None:
        return (0, 0.0)
    return (1, c) if isinstance(c, float) else (2, c)


def _matches(props: Mapping[str, str | None], group: Mapping[str, Any]) -> bool:
    return all(_match(props, f) for f in group.get("filters") or [])


def _match(props: Mapping[str, str | None], f: Mapping[str, Any]) -> bool:
    op = f["operator"]
    raw = props.get(str(f.get("propertyName")))
    if op == "HAS_PROPERTY":
        return raw not in (None, "")
    if op == "NOT_HAS_PROPERTY":
        return raw in (None, "")
    value = _comparable(raw)
    if value is None:
        return op in ("NEQ", "NOT_IN", "NOT_CONTAINS_TOKEN")
    if op in ("IN", "NOT_IN"):
        inside = any(_same(value, _comparable(str(x))) for x in f.get("values") or [])
        return inside if op == "IN" else not inside
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        token = str(f.get("value", "")).lower().strip("*")
        found = token in str(raw).lower()
        return found if op == "CONTAINS_TOKEN" else not found
    target = _comparable(str(f.get("value")))
    if op == "EQ":
        return _same(value, target)
    if op == "NEQ":
        return not _same(value, target)
    if op == "BETWEEN":
        high = _comparable(str(f.get("highValue")))
        return _cmp(value, target) >= 0 and _cmp(value, high) <= 0
    c = _cmp(value, target)
    return {"LT": c < 0, "LTE": c <= 0, "GT": c > 0, "GTE": c >= 0}[op]


def _same(a: float | str | None, b: float | str | None) -> bool:
    return a == b


def _cmp(a: float | str, b: float | str | None) -> int:
    if b is None:
        return 1
    if isinstance(a, float) != isinstance(b, float):
        a, b = str(a), str(b)
    return (a > b) - (a < b)  # type: ignore[operator]


def _sorts(sorts: Any) -> list[tuple[str, bool]]:
    out = []
    for s in sorts or []:
        if isinstance(s, str):
            out.append((s, False))
        else:
            out.append((str(s.get("propertyName")), s.get("direction") == "DESCENDING"))
    if len(out) > 1:
        raise ApiError(400, "VALIDATION_ERROR", "Only one sort is supported.")
    return out
