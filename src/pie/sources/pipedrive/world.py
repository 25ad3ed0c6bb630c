"""A Pipedrive account's data, in memory, seeded from PIE's sample world (``pie.sample``).

Records are kept exactly as API v2 returns them (ids are integers, times RFC 3339 UTC, custom
fields by 40-hex key under ``custom_fields``); each deal's changes are kept as v1 deal-flow
``dealChange`` items. Edits and deletes go through methods that behave as Pipedrive does:
``update_time`` moves, stage and status changes are logged in the flow, a delete is soft
(``is_deleted``; a deal's ``status`` becomes ``deleted``) and a deleted deal's activities go
with it.

The sample's canonical stages become two pipelines: "Sales" with Pipedrive's stock stage names
and "Enterprise" with custom names whose deal probabilities are PIE's stage defaults, so a
connector can only map them through the metadata. ``stalled`` has no Pipedrive counterpart
(the deal stays in its stage); won and lost are deal statuses.
"""

from __future__ import annotations

import copy
import hashlib
import json
import tempfile
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pie.domain.stages import DEFAULT_PROBABILITY, Stage
from pie.sample import generate

ENTITIES = ("deals", "persons", "organizations", "activities", "pipelines", "stages")

#: pipeline id -> (name, [(stage name, the canonical stage it stands for), ...] in order)
PIPELINES: dict[int, tuple[str, list[tuple[str, Stage]]]] = {
    1: (
        "Sales",
        [
            ("Lead In", Stage.LEAD),
            ("Qualified", Stage.QUALIFICATION),
            ("Contact Made", Stage.DISCOVERY),
            ("Demo Scheduled", Stage.DEMO),
            ("Proposal Made", Stage.PROPOSAL),
            ("Negotiations Started", Stage.NEGOTIATION),
        ],
    ),
    2: (
        "Enterprise",
        [
            ("Inbound", Stage.LEAD),
            ("Fit Check", Stage.QUALIFICATION),
            ("Pain Discovery", Stage.DISCOVERY),
            ("Technical Validation", Stage.DEMO),
            ("Business Case", Stage.PROPOSAL),
            ("Commercials", Stage.NEGOTIATION),
        ],
    ),
}
#: Sample activity types -> Pipedrive activity types (``key_string``).
ACTIVITY_TYPES = {
    "email": "email",
    "call": "call",
    "meeting": "meeting",
    "demo": "demo",
    "proposal": "proposal",
    "contract": "contract",
    "objection": "call",
    "follow_up": "task",
    "internal": "internal",
}


def field_key(name: str) -> str:
    """A custom field's 40-hex key, as Pipedrive makes them."""
    return hashlib.sha1(name.encode()).hexdigest()


PRODUCT_LINE, INDUSTRY, COMPETITOR = (
    field_key("Product line"),
    field_key("Industry"),
    field_key("Competitor"),
)


def rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def v1_time(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


class World:
    """One company's data. Thread-safe: every method holds ``lock``."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.records: dict[str, dict[int, dict[str, Any]]] = {e: {} for e in ENTITIES}
        self.flows: dict[int, list[dict[str, Any]]] = {}  # deal id -> dealChange items
        #: deal id -> the persons taking part in it (its person first), as v1 lists them
        self.participants: dict[int, list[int]] = {}
        self.fields: dict[str, list[dict[str, Any]]] = {}  # "deal" -> field definitions
        #: deal id -> [(when, canonical stage, value, expected close)]: the history a deal
        #: should import as (the test oracle), kept up to date by ``update``
        self.canonical: dict[int, list[tuple[datetime, Stage, Any, Any]]] = {}
        self.users: dict[str, int] = {}
        self._clock = datetime(2000, 1, 1, tzinfo=UTC)
        self._next_change = 1

    # --- time ----------------------------------------------------------------------------

    def now(self) -> datetime:
        """The wall clock to the second, never earlier than any time already in the data."""
        with self.lock:
            wall = datetime.now(UTC).replace(microsecond=0)
            self._clock = max(wall, self._clock)
            return self._clock

    def _seen_time(self, t: datetime) -> None:
        self._clock = max(self._clock, t.replace(microsecond=0))

    # --- reads ---------------------------------------------------------------------------

    def all(self, entity: str) -> list[dict[str, Any]]:
        with self.lock:
            return [copy.deepcopy(r) for r in self.records[entity].values()]

    def select(self, entity: str, keep: Any) -> list[dict[str, Any]]:
        """The records ``keep(record)`` is true for, as they are (callers copy what they
        hand out)."""
        with self.lock:
            return [r for r in self.records[entity].values() if keep(r)]

    def get(self, entity: str, ident: int) -> dict[str, Any] | None:
        with self.lock:
            found = self.records[entity].get(ident)
            return copy.deepcopy(found) if found is not None else None

    def flow(self, deal_id: int) -> list[dict[str, Any]]:
        """The deal's flow, newest first (as the API lists it)."""
        with self.lock:
            return copy.deepcopy(list(reversed(self.flows.get(deal_id, []))))

    def deal_participants(self, deal_id: int) -> list[dict[str, Any]]:
        """``GET /api/v1/deals/{id}/participants``'s items: the live persons taking part."""
        with self.lock:
            out = []
            for n, pid in enumerate(self.participants.get(deal_id, []), start=1):
                person = self.records["persons"].get(pid)
                if person is None or person.get("is_deleted"):
                    continue
                out.append(
                    {
                        "id": deal_id * 1000 + n,
                        "person_id": {"value": pid, "name": person.get("name")},
                        "add_time": person.get("add_time"),
                        "active_flag": True,
                        "related_item_data": {"deal_id": {"id": deal_id}},
                    }
                )
            return out

    def add_participant(self, deal_id: int, person_id: int) -> None:
        """A person joins a deal (the deal's ``update_time`` and ``participants_count``
        move)."""
        with self.lock:
            people = self.participants.setdefault(deal_id, [])
            if person_id not in people:
                people.append(person_id)
                deal = self.records["deals"][deal_id]
                deal["participants_count"] = len(people)
                deal["update_time"] = rfc3339(self.now())

    def stage_of(self, stage_id: int) -> Stage:
        """The canonical stage a stage of the seeded pipelines stands for."""
        stage = self.records["stages"][stage_id]
        return dict(PIPELINES[stage["pipeline_id"]][1])[stage["name"]]

    # --- writes (what a user does in Pipedrive) --------------------------------------------

    def update(self, entity: str, ident: int, **changes: Any) -> dict[str, Any]:
        """Change fields of a record (no validation: tests use it to plant bad values).
        A deal's ``stage_id`` and ``status`` changes go to its flow."""
        with self.lock:
            record = self.records[entity][ident]
            at = self.now()
            if entity == "deals":
                for key in ("value", "expected_close_date", "stage_id", "status"):
                    if key in changes and changes[key] != record.get(key):
                        self._log(ident, key, record.get(key), changes[key], at)
                if "stage_id" in changes and changes["stage_id"] != record.get("stage_id"):
                    record["stage_change_time"] = rfc3339(at)
                    stage = self.records["stages"].get(changes["stage_id"])
                    if stage is not None:
                        record["pipeline_id"] = stage["pipeline_id"]
                status = changes.get("status")
                if status in ("won", "lost"):
                    record[f"{status}_time"] = record["close_time"] = rfc3339(at)
                elif status == "open":
                    record["won_time"] = record["lost_time"] = record["close_time"] = None
            record.update(changes)
            record["update_time"] = rfc3339(at)
            if entity == "deals" and ident in self.canonical:
                self._follow(ident, record, at)
            return copy.deepcopy(record)

    def _follow(self, ident: int, record: Mapping[str, Any], at: datetime) -> None:
        """Keep the canonical history (the test oracle) in step with a deal's changes."""
        status = record.get("status")
        if status in ("won", "lost"):
            stage = Stage.CLOSED_WON if status == "won" else Stage.CLOSED_LOST
        elif record.get("stage_id") in self.records["stages"]:
            stage = self.stage_of(record["stage_id"])
        else:
            return
        path = self.canonical[ident]
        if path[-1][1] is not stage:
            path.append((at, stage, record.get("value"), record.get("expected_close_date")))

    def delete(self, entity: str, ident: int) -> None:
        """Soft delete, as Pipedrive does: the record stays listed as deleted. A deal takes
        its activities with it; an organization or person is unlinked from what referred
        to it."""
        with self.lock:
            record = self.records[entity][ident]
            at = rfc3339(self.now())
            record["is_deleted"] = True
            record["update_time"] = at
            if entity == "deals":
                self._log(ident, "status", record.get("status"), "deleted", self.now())
                record["status"] = "deleted"
                for activity in self.records["activities"].values():
                    if activity.get("deal_id") == ident and not activity.get("is_deleted"):
                        activity["is_deleted"] = True
                        activity["update_time"] = at
            link = {"organizations": "org_id", "persons": "person_id"}.get(entity)
            if link:
                for other in ("persons", "deals", "activities"):
                    for rec in self.records[other].values():
                        if rec.get(link) == ident and not rec.get("is_deleted"):
                            rec[link] = None
                            rec["update_time"] = at

    def purge(self, entity: str, ident: int) -> None:
        """Forget a deleted record, as Pipedrive does 30 days after the delete (a deal's
        activities and flow go with it)."""
        with self.lock:
            self.records[entity].pop(ident, None)
            if entity == "deals":
                self.flows.pop(ident, None)
                self.canonical.pop(ident, None)
                for aid in [
                    a
                    for a, rec in self.records["activities"].items()
                    if rec.get("deal_id") == ident
                ]:
                    del self.records["activities"][aid]

    def add(self, entity: str, record: Mapping[str, Any]) -> dict[str, Any]:
        """A new record (id, times and defaults filled in)."""
        with self.lock:
            ident = max(self.records[entity], default=0) + 1
            at = rfc3339(self.now())
            stored = {"id": ident, "add_time": at, "update_time": at, "is_deleted": False}
            if entity == "deals":
                stored |= {"status": "open", "custom_fields": {}, "currency": "USD"}
            stored |= dict(record)
            self.records[entity][ident] = stored
            return copy.deepcopy(stored)

    def _log(self, deal_id: int, key: str, old: Any, new: Any, at: datetime) -> None:
        change = self._next_change
        self._next_change += 1
        names = {int(k): s["name"] for k, s in self.records["stages"].items()}

        def shown(value: Any) -> Any:
            return names.get(value, value) if key == "stage_id" else value

        self.flows.setdefault(deal_id, []).append(
            {
                "object": "dealChange",
                "timestamp": v1_time(at),
                "data": {
                    "id": change,
                    "item_id": deal_id,
                    "user_id": 1,
                    "field_key": key,
                    "old_value": None if old is None else str(old),
                    "new_value": None if new is None else str(new),
                    "log_time": v1_time(at),
                    "change_source": "app",
                    "additional_data": {
                        "old_value_formatted": shown(old),
                        "new_value_formatted": shown(new),
                    },
                },
            }
        )


def seeded(deals: int = 40, seed: int = 7) -> World:
    """A world drawn by PIE's sample generator (``deals`` deals, ``seed``)."""
    with tempfile.TemporaryDirectory(prefix="pie-pipedrive-") as folder:
        path = Path(folder) / "world.json"
        generate(path, deals=deals, seed=seed, conversations=False)
        document = json.loads(path.read_text(encoding="utf-8"))
    return from_sample(document)


def from_sample(document: Mapping[str, Any]) -> World:
    """A Pipedrive account holding a ``pie/v1`` document's accounts, contacts and deals."""
    world = World()
    _metadata(world)
    owners: dict[str, int] = {}

    def user(name: Any) -> int:
        return owners.setdefault(str(name or "Owner"), len(owners) + 1)

    orgs: dict[str, int] = {}
    industries = _Enum(world, "organization", INDUSTRY)
    for n, a in enumerate(document.get("accounts", ()), start=1):
        orgs[a["id"]] = n
        created = parse_time(a["created_at"])
        world._seen_time(parse_time(a["updated_at"]))
        world.records["organizations"][n] = {
            "id": n,
            "name": a["name"],
            "owner_id": user(a.get("owner")),
            "add_time": rfc3339(created),
            "update_time": a["updated_at"],
            "visible_to": 3,
            "label_ids": [],
            "address": {"value": a.get("country"), "country": a.get("country")},
            "is_deleted": False,
            "custom_fields": {INDUSTRY: industries.id(a.get("industry"))},
        }
    people: dict[str, int] = {}
    for n, c in enumerate(document.get("contacts", ()), start=1):
        people[c["id"]] = n
        first, _, last = c["name"].partition(" ")
        world._seen_time(parse_time(c["updated_at"]))
        world.records["persons"][n] = {
            "id": n,
            "name": c["name"],
            "first_name": first,
            "last_name": last,
            "org_id": orgs.get(c.get("account")),
            "owner_id": 1,
            "emails": [{"value": c.get("email"), "label": "work", "primary": True}],
            "phones": [{"value": c.get("phone"), "label": "work", "primary": True}],
            "label_ids": [],
            "add_time": c["created_at"],
            "update_time": c["updated_at"],
            "is_deleted": False,
            "custom_fields": {},
        }
    products = _Enum(world, "deal", PRODUCT_LINE)
    activity_id = 0
    for n, d in enumerate(document.get("deals", ()), start=1):
        _deal(world, n, d, orgs, people, user, products)
        for a in d.get("activities") or ():
            activity_id += 1
            _activity(world, activity_id, n, a, people, world.records["deals"][n]["org_id"])
    world.users = owners
    return world


def _metadata(world: World) -> None:
    base = rfc3339(datetime(2023, 1, 2, 9, tzinfo=UTC))
    stage_id = 0
    for pid, (name, stages) in PIPELINES.items():
        world.records["pipelines"][pid] = {
            "id": pid,
            "name": name,
            "order_nr": pid,
            "is_deleted": False,
            "is_deal_probability_enabled": True,
            "add_time": base,
            "update_time": base,
        }
        for order, (stage_name, canonical) in enumerate(stages, start=1):
            stage_id += 1
            probability = DEFAULT_PROBABILITY[canonical] if pid == 2 else min(order * 10, 90) / 100
            world.records["stages"][stage_id] = {
                "id": stage_id,
                "order_nr": order,
                "name": stage_name,
                "is_deleted": False,
                "deal_probability": round(probability * 100),
                "pipeline_id": pid,
                "is_deal_rot_enabled": False,
                "days_to_rotten": None,
                "add_time": base,
                "update_time": base,
            }
    standard = [("title", "Title", "varchar"), ("value", "Value", "monetary")]
    world.fields["deal"] = [
        {"id": i, "key": key, "name": name, "field_type": kind, "edit_flag": False}
        for i, (key, name, kind) in enumerate(standard, start=1)
    ]
    world.fields["deal"] += [
        {"id": 20, "key": PRODUCT_LINE, "name": "Product line", "field_type": "enum",
         "edit_flag": True, "options": []},
        {"id": 21, "key": COMPETITOR, "name": "Competitor", "field_type": "varchar",
         "edit_flag": True},
    ]  # fmt: skip
    world.fields["organization"] = [
        {"id": 1, "key": "name", "name": "Name", "field_type": "varchar", "edit_flag": False},
        {"id": 30, "key": INDUSTRY, "name": "Industry", "field_type": "enum", "edit_flag": True,
         "options": []},
    ]  # fmt: skip
    world.fields["person"] = [
        {"id": 1, "key": "name", "name": "Name", "field_type": "varchar", "edit_flag": False}
    ]


class _Enum:
    """An enum field's options: a label gets an option (id) the first time it is met."""

    def __init__(self, world: World, entity: str, key: str) -> None:
        self.definition = next(f for f in world.fields[entity] if f["key"] == key)
        self.ids: dict[str, int] = {}

    def id(self, label: Any) -> int | None:
        if label is None:
            return None
        text = str(label)
        if text not in self.ids:
            self.ids[text] = len(self.ids) + 1
            self.definition["options"].append({"id": self.ids[text], "label": text})
        return self.ids[text]


def _stage_ids(pipeline: int) -> dict[Stage, int]:
    first = 1 + (pipeline - 1) * len(PIPELINES[1][1])
    return {canonical: first + i for i, (_, canonical) in enumerate(PIPELINES[pipeline][1])}


def _deal(
    world: World,
    n: int,
    d: Mapping[str, Any],
    orgs: Mapping[str, int],
    people: Mapping[str, int],
    user: Any,
    products: _Enum,
) -> None:
    pipeline = 1 if n % 2 else 2
    ids = _stage_ids(pipeline)
    created = parse_time(d["created_at"])
    history = d.get("stage_history") or [
        {"to": d["stage"], "at": d["created_at"], "value": d.get("value"),
         "expected_close": d.get("expected_close")}
    ]  # fmt: skip
    first = Stage(history[0]["to"])
    stage_id = ids[first] if first.is_open else ids[Stage.LEAD]
    status = "open" if first.is_open else ("won" if first is Stage.CLOSED_WON else "lost")
    stakeholders = d.get("stakeholders") or []
    primary = next((s for s in stakeholders if s.get("primary")), None) or next(
        iter(stakeholders), None
    )
    world.records["deals"][n] = record = {
        "id": n,
        "title": d["name"],
        "creator_user_id": user(d.get("owner")),
        "owner_id": user(d.get("owner")),
        "value": history[0].get("value", d.get("value")),
        "currency": d.get("currency") or "USD",
        "person_id": people.get(primary["contact"]) if primary else None,
        "participants_count": 0,
        "org_id": orgs.get(str(d.get("account"))),
        "pipeline_id": pipeline,
        "stage_id": stage_id,
        "status": status,
        "probability": None,
        "lost_reason": None,
        "visible_to": 3,
        "add_time": rfc3339(created),
        "update_time": rfc3339(created),
        "stage_change_time": None,
        "close_time": None,
        "won_time": None,
        "lost_time": None,
        "expected_close_date": history[0].get("expected_close", d.get("expected_close")),
        "label_ids": [],
        "is_deleted": False,
        "custom_fields": {
            PRODUCT_LINE: products.id(d.get("product_line")),
            COMPETITOR: None,
        },
    }
    taking_part = [people.get(s["contact"]) for s in ([primary] if primary else [])]
    taking_part += [people.get(s["contact"]) for s in stakeholders if s is not primary]
    world.participants[n] = list(dict.fromkeys(p for p in taking_part if p is not None))
    record["participants_count"] = len(world.participants[n])
    path = [(created, first, record["value"], record["expected_close_date"])]
    for h in history[1:]:
        at, stage = parse_time(h["at"]), Stage(h["to"])
        facts = {"value": h.get("value"), "expected_close_date": h.get("expected_close")}
        for key, value in facts.items():
            if value is not None and value != record[key]:
                world._log(n, key, record[key], value, at)
                record[key] = value
        record["update_time"] = rfc3339(at)
        if stage is Stage.STALLED or stage is path[-1][1]:
            continue  # Pipedrive has no "stalled": the deal stays where it is
        if stage.is_open:
            if status != "open":
                world._log(n, "status", status, "open", at)
                status = record["status"] = "open"
                record["won_time"] = record["lost_time"] = record["close_time"] = None
            if ids[stage] != record["stage_id"]:
                world._log(n, "stage_id", record["stage_id"], ids[stage], at)
                record["stage_id"] = ids[stage]
                record["stage_change_time"] = rfc3339(at)
        else:
            new = "won" if stage is Stage.CLOSED_WON else "lost"
            world._log(n, "status", status, new, at)
            status = record["status"] = new
            record[f"{new}_time"] = record["close_time"] = rfc3339(at)
        path.append((at, stage, record["value"], record["expected_close_date"]))
    updated = max(parse_time(d["updated_at"]), parse_time(record["update_time"]))
    for key, value in (("value", d.get("value")), ("expected_close_date", d.get("expected_close"))):
        if value != record[key]:
            world._log(n, key, record[key], value, updated)
            record[key] = value
    if status == "lost":
        record["lost_reason"] = d.get("lost_reason")
    record["update_time"] = rfc3339(updated)
    world._seen_time(updated)
    world.canonical[n] = path


def _activity(
    world: World,
    n: int,
    deal: int,
    a: Mapping[str, Any],
    people: Mapping[str, int],
    org: int | None,
) -> None:
    at = parse_time(a["at"])
    participants = a.get("participants") or []
    stamp = rfc3339(at)
    world.records["activities"][n] = {
        "id": n,
        "subject": a.get("subject") or a["type"],
        "type": ACTIVITY_TYPES.get(a["type"], "task"),
        "owner_id": 1,
        "deal_id": deal,
        "person_id": people.get(participants[0]) if participants else None,
        "org_id": org,
        "done": True,
        "due_date": at.date().isoformat(),
        "due_time": at.strftime("%H:%M"),
        "duration": "00:30",
        "add_time": stamp,
        "update_time": stamp,
        "marked_as_done_time": stamp,
        "note": a.get("summary"),
        "is_deleted": False,
    }
    world._seen_time(parse_time(stamp))
