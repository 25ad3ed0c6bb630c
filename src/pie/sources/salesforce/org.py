"""The emulator's data: one Salesforce org in memory, seeded from PIE's sample world.

Records are plain dicts of API field names, kept per object type; datetimes are kept in
Salesforce's text form (``2025-05-02T14:00:00.000+0000``), dates as ``YYYY-MM-DD``. A change
replaces a record's dict (copy on write), so a query's result stays as it was when the query
ran, page after page, like a server-side query cursor. A delete keeps the record with
``IsDeleted = true`` in the recycle bin (``queryAll`` and getDeleted see it) until
``purge_recycle_bin`` empties it; the deleted-record horizon then moves to that moment.

``update`` on an Opportunity behaves like Salesforce: a change of StageName, Amount,
Probability or CloseDate adds an OpportunityHistory row, and a new stage sets IsClosed, IsWon,
Probability and ForecastCategoryName from the stage's metadata. Deleting an Opportunity
deletes its contact roles and history rows with it.
"""

from __future__ import annotations

import itertools
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from pie.sample import generate
from pie.sources.salesforce.soql import parse_sf_datetime, sf_datetime

Record = dict[str, Any]

#: Key prefixes of the objects' ids (the first three characters of an 18-character id).
PREFIX = {
    "Account": "001",
    "Contact": "003",
    "User": "005",
    "Opportunity": "006",
    "OpportunityHistory": "008",
    "OpportunityContactRole": "00K",
    "Task": "00T",
    "Event": "00U",
    "OpportunityStage": "01J",
}
_TYPE_OF_PREFIX = {v: k for k, v in PREFIX.items()}

#: Salesforce archives activities dated more than a year ago
ARCHIVE_AFTER = timedelta(days=365)
_SYSTEM = ("Id", "IsDeleted", "CreatedDate", "CreatedById", "LastModifiedDate", "SystemModstamp")
#: Each object's fields (name -> SOAP type); custom fields end in ``__c``.
SCHEMA: dict[str, dict[str, str]] = {
    "User": {"Id": "id", "Name": "string", "Email": "email", "IsActive": "boolean"},
    "Account": {
        **dict.fromkeys(_SYSTEM, "datetime"),
        "Id": "id",
        "IsDeleted": "boolean",
        "CreatedById": "reference",
        "Name": "string",
        "Type": "picklist",
        "Industry": "picklist",
        "Website": "url",
        "AnnualRevenue": "currency",
        "NumberOfEmployees": "int",
        "BillingCountry": "string",
        "ParentId": "reference",
        "OwnerId": "reference",
        "Segment__c": "picklist",
    },
    "Contact": {
        **dict.fromkeys(_SYSTEM, "datetime"),
        "Id": "id",
        "IsDeleted": "boolean",
        "CreatedById": "reference",
        "AccountId": "reference",
        "FirstName": "string",
        "LastName": "string",
        "Email": "email",
        "Title": "string",
        "Phone": "phone",
        "Department": "string",
        "ReportsToId": "reference",
        "OwnerId": "reference",
    },
    "Opportunity": {
        **dict.fromkeys(_SYSTEM, "datetime"),
        "Id": "id",
        "IsDeleted": "boolean",
        "CreatedById": "reference",
        "Name": "string",
        "AccountId": "reference",
        "OwnerId": "reference",
        "StageName": "picklist",
        "Amount": "currency",
        "Probability": "percent",
        "CloseDate": "date",
        "IsClosed": "boolean",
        "IsWon": "boolean",
        "ForecastCategoryName": "picklist",
        "Type": "picklist",
        "LeadSource": "picklist",
        "NextStep": "string",
        "Loss_Reason__c": "picklist",
        "Product_Line__c": "picklist",
        "Region__c": "picklist",
    },
    "OpportunityContactRole": {
        **dict.fromkeys(_SYSTEM, "datetime"),
        "Id": "id",
        "IsDeleted": "boolean",
        "CreatedById": "reference",
        "OpportunityId": "reference",
        "ContactId": "reference",
        "Role": "picklist",
        "IsPrimary": "boolean",
    },
    "Task": {
        **dict.fromkeys(_SYSTEM, "datetime"),
        "Id": "id",
        "IsDeleted": "boolean",
        "CreatedById": "reference",
        "Subject": "combobox",
        "Status": "picklist",
        "Type": "picklist",
        "ActivityDate": "date",
        "WhoId": "reference",
        "WhatId": "reference",
        "AccountId": "reference",
        "OwnerId": "reference",
        "TaskSubtype": "picklist",
        "CallDurationInSeconds": "int",
        "Description": "textarea",
        "IsClosed": "boolean",
        "IsArchived": "boolean",
    },
    "Event": {
        **dict.fromkeys(_SYSTEM, "datetime"),
        "Id": "id",
        "IsDeleted": "boolean",
        "CreatedById": "reference",
        "Subject": "combobox",
        "Type": "picklist",
        "StartDateTime": "datetime",
        "EndDateTime": "datetime",
        "DurationInMinutes": "int",
        "WhoId": "reference",
        "WhatId": "reference",
        "AccountId": "reference",
        "OwnerId": "reference",
        "Description": "textarea",
        "IsArchived": "boolean",
    },
    "OpportunityStage": {
        "Id": "id",
        "ApiName": "string",
        "MasterLabel": "string",
        "SortOrder": "int",
        "IsActive": "boolean",
        "IsClosed": "boolean",
        "IsWon": "boolean",
        "DefaultProbability": "percent",
        "ForecastCategoryName": "picklist",
        "SystemModstamp": "datetime",
    },
    "OpportunityHistory": {
        **dict.fromkeys(_SYSTEM, "datetime"),
        "Id": "id",
        "IsDeleted": "boolean",
        "CreatedById": "reference",
        "OpportunityId": "reference",
        "StageName": "picklist",
        "Amount": "currency",
        "Probability": "percent",
        "CloseDate": "date",
        "ForecastCategory": "picklist",
        "ExpectedRevenue": "currency",
        "PrevAmount": "currency",
        "PrevCloseDate": "date",
    },
}
del SCHEMA["OpportunityHistory"]["LastModifiedDate"]

#: The org's opportunity stages: (label, sort order, closed, won, default probability,
#: forecast category, the sample world's stage it stands for). "Technical Validation" and
#: "Contract Redlines" are custom stages (PIE knows them only from this metadata); "Stalled"
#: is a custom stage whose name is PIE's own.
STAGES: tuple[tuple[str, int, bool, bool, int, str, str], ...] = (
    ("Prospecting", 1, False, False, 10, "Pipeline", "lead"),
    ("Qualification", 2, False, False, 10, "Pipeline", "qualification"),
    ("Needs Analysis", 3, False, False, 20, "Pipeline", "discovery"),
    ("Technical Validation", 4, False, False, 35, "Pipeline", "demo"),
    ("Proposal/Price Quote", 5, False, False, 55, "Best Case", "proposal"),
    ("Contract Redlines", 6, False, False, 75, "Commit", "negotiation"),
    ("Stalled", 7, False, False, 5, "Omitted", "stalled"),
    ("Closed Won", 8, True, True, 100, "Closed", "closed_won"),
    ("Closed Lost", 9, True, False, 0, "Omitted", "closed_lost"),
)
SAMPLE_STAGE = {row[6]: row[0] for row in STAGES}
_ROLE = {
    "champion": "Champion",
    "blocker": "Blocker",
    "economic_buyer": "Economic Buyer",
    "technical_buyer": "Technical Buyer",
    "influencer": "Influencer",
    "end_user": "Business User",
    "user": "Business User",
    "decision_maker": "Decision Maker",
    "legal": "Legal",
    "procurement": "Procurement",
    "gatekeeper": "Gatekeeper",
}
_TASK_TYPE = {
    "call": "Call",
    "email": "Email",
    "proposal": "Proposal",
    "contract": "Contract",
    "objection": "Objection",
    "follow_up": "Follow-up",
    "internal": "Internal",
}
_EVENT_TYPE = {"meeting": "Meeting", "demo": "Demo"}
_HISTORY_FIELDS = ("StageName", "Amount", "Probability", "CloseDate")


def sf_id(sobject: str, n: int) -> str:
    """An 18-character id of ``sobject`` numbered ``n``."""
    return f"{PREFIX[sobject]}{n:012d}AAA"


def type_of(record_id: str) -> str | None:
    return _TYPE_OF_PREFIX.get(record_id[:3])


def _ts(text: str) -> str:
    """A sample-world time (``...Z``) in Salesforce's form."""
    return sf_datetime(parse_sf_datetime(text))


@dataclass
class Org:
    """One org's records and its clock. Every method takes the org's lock."""

    records: dict[str, dict[str, Record]] = field(default_factory=dict)
    #: records deleted before this moment are gone from the recycle bin
    earliest_deleted: str = "2000-01-01T00:00:00.000+0000"
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _last: datetime = field(default_factory=lambda: datetime(2000, 1, 1, tzinfo=UTC))
    _numbers: dict[str, itertools.count[int]] = field(default_factory=dict, repr=False)
    by_id: dict[str, Record] = field(default_factory=dict, repr=False)

    def now(self) -> str:
        """The org's clock: real time, but always after every stamp it gave or was seeded
        with (at least 1 ms later)."""
        with self.lock:
            t = max(datetime.now(UTC), self._last + timedelta(milliseconds=1))
            t = t.replace(microsecond=t.microsecond // 1000 * 1000)
            self._last = t
            return sf_datetime(t)

    def _saw(self, stamp: str) -> None:
        t = parse_sf_datetime(stamp)
        if t > self._last:
            self._last = t

    def new_id(self, sobject: str) -> str:
        counter = self._numbers.setdefault(sobject, itertools.count(1))
        return sf_id(sobject, next(counter))

    def put(self, sobject: str, record: Record) -> Record:
        """Store ``record`` as it is (seeding): it must have an Id."""
        with self.lock:
            self.records.setdefault(sobject, {})[record["Id"]] = record
            self.by_id[record["Id"]] = record
            if stamp := record.get("SystemModstamp"):
                self._saw(stamp)
            return record

    def get(self, record_id: str) -> Record | None:
        return self.by_id.get(record_id)

    def archive_activities(self, older_than: timedelta = ARCHIVE_AFTER) -> int:
        """Archive the Tasks and Events dated (a Task's ``ActivityDate``, an Event's
        ``EndDateTime``) more than ``older_than`` before the org's clock, as Salesforce does
        with activities older than a year: ``IsArchived`` is true and ``query`` no longer
        returns them (``queryAll`` does); their ``SystemModstamp`` does not move. How many."""
        with self.lock:
            cutoff = parse_sf_datetime(self.now()) - older_than
            n = 0
            for sobject, field_name in (("Task", "ActivityDate"), ("Event", "EndDateTime")):
                for r in self.records.get(sobject, {}).values():
                    value = r.get(field_name)
                    if not value or r.get("IsArchived"):
                        continue
                    text = str(value)
                    at = parse_sf_datetime(text if "T" in text else f"{text}T00:00:00.000+0000")
                    if at < cutoff:
                        r["IsArchived"] = True
                        n += 1
            return n

    def live(self, sobject: str) -> list[Record]:
        with self.lock:
            return [r for r in self.records.get(sobject, {}).values() if not r.get("IsDeleted")]

    # --- changes, as a user of the org would make them ------------------------------------

    def create(self, sobject: str, fields: Mapping[str, Any]) -> Record:
        with self.lock:
            now = self.now()
            record: Record = {"Id": self.new_id(sobject), "IsDeleted": False}
            record.update(fields)
            record.setdefault("CreatedDate", now)
            record["LastModifiedDate"] = record["SystemModstamp"] = now
            if sobject == "Opportunity":
                self._stage_fields(record, None)
            self.put(sobject, record)
            if sobject == "Opportunity":
                self._history(record, None, now)
            return record

    def update(self, record_id: str, fields: Mapping[str, Any]) -> Record:
        with self.lock:
            old = self._existing(record_id)
            sobject = type_of(record_id) or ""
            now = self.now()
            record = {**old, **fields, "SystemModstamp": now}
            if "LastModifiedDate" in SCHEMA.get(sobject, {}):
                record["LastModifiedDate"] = now
            if sobject == "Opportunity":
                self._stage_fields(record, old)
                if any(record.get(f) != old.get(f) for f in _HISTORY_FIELDS):
                    self._history(record, old, now)
            self.put(sobject, record)
            return record

    def delete(self, record_id: str) -> None:
        """To the recycle bin, with what Salesforce deletes along (an opportunity's roles,
        history, tasks and events; a contact's roles; an account's contacts and
        opportunities)."""
        with self.lock:
            old = self._existing(record_id)
            sobject = type_of(record_id) or ""
            now = self.now()
            self.put(sobject, {**old, "IsDeleted": True, "SystemModstamp": now})
            children: list[tuple[str, str]] = []
            if sobject == "Opportunity":
                children = [("OpportunityContactRole", "OpportunityId")]
                children.append(("OpportunityHistory", "OpportunityId"))
                children += [("Task", "WhatId"), ("Event", "WhatId")]
            elif sobject == "Contact":
                children = [("OpportunityContactRole", "ContactId")]
            elif sobject == "Account":
                children = [("Contact", "AccountId"), ("Opportunity", "AccountId")]
            for child, key in children:
                for rec in self.live(child):
                    if rec.get(key) == record_id:
                        self.delete(rec["Id"])

    def purge_recycle_bin(self) -> None:
        """Empty the recycle bin: deleted records are gone for good, and getDeleted's
        ``earliestDateAvailable`` moves to now."""
        with self.lock:
            for table in self.records.values():
                for rid in [rid for rid, r in table.items() if r.get("IsDeleted")]:
                    del table[rid]
                    self.by_id.pop(rid, None)
            self.earliest_deleted = self.now()

    def add_stage(self, label: str, *, probability: int, closed: bool, won: bool) -> Record:
        with self.lock:
            order = 1 + max((r["SortOrder"] for r in self.live("OpportunityStage")), default=0)
            return self.put(
                "OpportunityStage",
                _stage(
                    self.new_id("OpportunityStage"),
                    label,
                    order,
                    closed,
                    won,
                    probability,
                    "Pipeline",
                    self.now(),
                ),
            )

    def _existing(self, record_id: str) -> Record:
        record = self.by_id.get(record_id)
        if record is None or record.get("IsDeleted"):
            raise KeyError(record_id)
        return record

    def stage(self, name: str) -> Record | None:
        for rec in self.live("OpportunityStage"):
            if rec["ApiName"] == name:
                return rec
        return None

    def _stage_fields(self, record: Record, old: Record | None) -> None:
        if old is not None and record.get("StageName") == old.get("StageName"):
            return
        stage = self.stage(str(record.get("StageName")))
        if stage is None:
            return
        record["IsClosed"], record["IsWon"] = stage["IsClosed"], stage["IsWon"]
        record["ForecastCategoryName"] = stage["ForecastCategoryName"]
        if (
            old is None
            or "Probability" not in record
            or record["Probability"] == old.get("Probability")
        ):
            record["Probability"] = stage["DefaultProbability"]

    def _history(self, record: Record, old: Record | None, now: str) -> None:
        self.put(
            "OpportunityHistory",
            _history_row(
                self.new_id("OpportunityHistory"),
                record["Id"],
                record.get("StageName"),
                record.get("Amount"),
                record.get("Probability"),
                record.get("CloseDate"),
                record.get("ForecastCategoryName"),
                now,
                record.get("OwnerId"),
                old,
            ),
        )


def _stage(
    ident: str,
    label: str,
    order: int,
    closed: bool,
    won: bool,
    probability: int,
    forecast: str,
    stamp: str,
) -> Record:
    return {
        "Id": ident,
        "ApiName": label,
        "MasterLabel": label,
        "SortOrder": order,
        "IsActive": True,
        "IsClosed": closed,
        "IsWon": won,
        "DefaultProbability": probability,
        "ForecastCategoryName": forecast,
        "SystemModstamp": stamp,
    }


def _history_row(
    ident: str,
    opportunity: str,
    stage: Any,
    amount: Any,
    probability: Any,
    close: Any,
    forecast: Any,
    at: str,
    by: Any,
    previous: Mapping[str, Any] | None,
) -> Record:
    return {
        "Id": ident,
        "OpportunityId": opportunity,
        "StageName": stage,
        "Amount": amount,
        "Probability": probability,
        "CloseDate": close,
        "ForecastCategory": forecast,
        "ExpectedRevenue": (
            round(amount * probability / 100.0, 2)
            if amount is not None and probability is not None
            else None
        ),
        "PrevAmount": previous.get("Amount") if previous else None,
        "PrevCloseDate": previous.get("CloseDate") if previous else None,
        "CreatedDate": at,
        "CreatedById": by,
        "SystemModstamp": at,
        "IsDeleted": False,
    }


# --- seeding from the sample world --------------------------------------------------------


def seeded_org(deals: int, *, seed: int = 7, archive: bool = True) -> Org:
    """An org holding the sample world of ``deals`` deals (``pie.sample``): its accounts,
    contacts, opportunities with their stage histories, contact roles, tasks and events
    (those older than a year archived, with ``archive``)."""
    with tempfile.TemporaryDirectory(prefix="pie-sf-emulator-") as folder:
        path = Path(folder) / "world.json"
        generate(path, deals=deals, seed=seed, conversations=False)
        world = orjson.loads(path.read_bytes())
    org = org_from_world(world)
    if archive:
        org.archive_activities()
    return org


def org_from_world(world: Mapping[str, Any]) -> Org:
    """An org from a ``pie/v1`` document (as the sample generator writes it)."""
    org = Org()
    as_of = org.now()
    for row in STAGES:
        org.put(
            "OpportunityStage",
            _stage(
                org.new_id("OpportunityStage"),
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                row[5],
                as_of,
            ),
        )
    users: dict[str, str] = {}

    def user(name: str | None) -> str | None:
        if not name:
            return None
        if name not in users:
            users[name] = org.new_id("User")
            org.put(
                "User",
                {
                    "Id": users[name],
                    "Name": name,
                    "IsActive": True,
                    "Email": name.lower().replace(" ", ".") + "@pie-demo.example",
                },
            )
        return users[name]

    accounts: dict[str, str] = {}
    countries: dict[str, str] = {}
    for a in world.get("accounts", ()):
        ident = accounts[a["id"]] = org.new_id("Account")
        countries[a["id"]] = a.get("country") or ""
        created, updated = _ts(a["created_at"]), _ts(a.get("updated_at") or a["created_at"])
        employees = a.get("employees")
        org.put("Account", {
            "Id": ident, "IsDeleted": False, "Name": a["name"], "Type": "Prospect",
            "Industry": a.get("industry"),
            "Website": f"https://www.{a['domain']}" if a.get("domain") else None,
            "AnnualRevenue": a.get("annual_revenue"), "NumberOfEmployees": employees,
            "BillingCountry": a.get("country"), "ParentId": None, "OwnerId": user(a.get("owner")),
            "Segment__c": _segment(employees), "CreatedDate": created, "CreatedById": None,
            "LastModifiedDate": updated, "SystemModstamp": updated,
        })  # fmt: skip
    contacts: dict[str, str] = {}
    for c in world.get("contacts", ()):
        ident = contacts[c["id"]] = org.new_id("Contact")
        first, _, last = c["name"].partition(" ")
        created, updated = _ts(c["created_at"]), _ts(c.get("updated_at") or c["created_at"])
        org.put("Contact", {
            "Id": ident, "IsDeleted": False, "AccountId": accounts.get(c.get("account") or ""),
            "FirstName": first if last else None, "LastName": last or first,
            "Email": c.get("email"), "Title": c.get("title"), "Phone": c.get("phone"),
            "Department": c.get("department"), "ReportsToId": None, "OwnerId": None,
            "CreatedDate": created, "CreatedById": None, "LastModifiedDate": updated,
            "SystemModstamp": updated,
        })  # fmt: skip
    for d in world.get("deals", ()):
        _seed_deal(org, d, accounts, contacts, countries, user)
    return org


def _segment(employees: int | None) -> str | None:
    if employees is None:
        return None
    return "Enterprise" if employees >= 2000 else "Mid-Market" if employees >= 200 else "SMB"


def _seed_deal(
    org: Org,
    d: Mapping[str, Any],
    accounts: Mapping[str, str],
    contacts: Mapping[str, str],
    countries: Mapping[str, str],
    user: Any,
) -> None:
    stages = {r["ApiName"]: r for r in org.live("OpportunityStage")}
    ident = org.new_id("Opportunity")
    owner = user(d.get("owner"))
    label = SAMPLE_STAGE[d["stage"]]
    stage = stages[label]
    created, updated = _ts(d["created_at"]), _ts(d["updated_at"])
    org.put("Opportunity", {
        "Id": ident, "IsDeleted": False, "Name": d["name"],
        "AccountId": accounts.get(d.get("account") or ""), "OwnerId": owner,
        "StageName": label, "Amount": d.get("value"), "Probability": stage["DefaultProbability"],
        "CloseDate": d.get("expected_close"), "IsClosed": stage["IsClosed"],
        "IsWon": stage["IsWon"], "ForecastCategoryName": stage["ForecastCategoryName"],
        "Type": "New Business", "LeadSource": d.get("lead_source"), "NextStep": None,
        "Loss_Reason__c": d.get("lost_reason"), "Product_Line__c": d.get("product_line"),
        "Region__c": countries.get(d.get("account") or "") or None,
        "CreatedDate": created, "CreatedById": owner, "LastModifiedDate": updated,
        "SystemModstamp": updated,
    })  # fmt: skip
    previous: Record | None = None
    for h in d.get("stage_history") or ():
        at = _ts(h["at"])
        s = stages[SAMPLE_STAGE[h["to"]]]
        row = _history_row(
            org.new_id("OpportunityHistory"), ident, s["ApiName"], h.get("value"),
            s["DefaultProbability"], h.get("expected_close"), s["ForecastCategoryName"], at,
            owner, previous,
        )  # fmt: skip
        org.put("OpportunityHistory", row)
        previous = row
    for s in d.get("stakeholders") or ():
        at = _ts(s.get("created_at") or d["created_at"])
        roles = s.get("roles") or ()
        org.put("OpportunityContactRole", {
            "Id": org.new_id("OpportunityContactRole"), "IsDeleted": False,
            "OpportunityId": ident, "ContactId": contacts[s["contact"]],
            "Role": _ROLE.get(roles[0]) if roles else None, "IsPrimary": bool(s.get("primary")),
            "CreatedDate": at, "CreatedById": owner, "LastModifiedDate": at,
            "SystemModstamp": at,
        })  # fmt: skip
    account = accounts.get(d.get("account") or "")
    for a in d.get("activities") or ():
        _seed_activity(org, a, ident, account, owner, contacts)


def _seed_activity(
    org: Org,
    a: Mapping[str, Any],
    opportunity: str,
    account: str | None,
    owner: str | None,
    contacts: Mapping[str, str],
) -> None:
    at = _ts(a["at"])
    who = [contacts[p] for p in a.get("participants") or () if p in contacts]
    common = {
        "IsDeleted": False, "Subject": a.get("subject"), "WhoId": who[0] if who else None,
        "WhatId": opportunity, "AccountId": account, "OwnerId": owner,
        "Description": a.get("summary"), "IsArchived": False, "CreatedDate": at,
        "CreatedById": owner, "LastModifiedDate": at, "SystemModstamp": at,
    }  # fmt: skip
    kind = a["type"]
    if kind in _EVENT_TYPE:
        start = parse_sf_datetime(at)
        org.put("Event", {
            "Id": org.new_id("Event"), **common, "Type": _EVENT_TYPE[kind],
            "StartDateTime": at, "EndDateTime": sf_datetime(start + timedelta(minutes=45)),
            "DurationInMinutes": 45,
        })  # fmt: skip
        return
    subtype = "Call" if kind == "call" else "Email" if kind == "email" else "Task"
    org.put("Task", {
        "Id": org.new_id("Task"), **common, "Type": _TASK_TYPE.get(kind, "Other"),
        "Status": "Completed", "ActivityDate": at[:10], "TaskSubtype": subtype,
        "CallDurationInSeconds": 1800 if kind == "call" else None, "IsClosed": True,
    })  # fmt: skip


def relationship(org: Org, record: Mapping[str, Any], name: str) -> Record | None:
    """The record a relationship name (``Owner``, ``Account``, ``Opportunity``) points to."""
    ref = record.get(name + "Id")
    return org.by_id.get(ref) if isinstance(ref, str) else None


def all_types() -> Iterable[str]:
    return SCHEMA.keys()
