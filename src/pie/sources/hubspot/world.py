"""Seed a HubSpot portal from the sample generator's world (``pie.sample``): its accounts become
companies, its contacts contacts, its deals deals in a pipeline with HubSpot's stock stages and
two custom ones (so stage normalisation from metadata is exercised), each deal's stage history
its ``dealstage`` history, its activities calls, emails, meetings and notes, all associated as
in the world. Every value is a string, as HubSpot stores it."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pie.sample import generate
from pie.sources.hubspot.portal import Pipeline, Portal, Stage

#: PIE's stage -> (HubSpot stage id, label, probability). Two stages are custom ones: their ids
#: are numbers, as HubSpot gives custom stages.
STAGES: dict[str, tuple[str, str, str]] = {
    "lead": ("appointmentscheduled", "Appointment Scheduled", "0.05"),
    "qualification": ("qualifiedtobuy", "Qualified To Buy", "0.1"),
    "discovery": ("1029384756", "Discovery Call", "0.2"),
    "demo": ("presentationscheduled", "Presentation Scheduled", "0.35"),
    "proposal": ("decisionmakerboughtin", "Decision Maker Bought-In", "0.55"),
    "negotiation": ("contractsent", "Contract Sent", "0.75"),
    "stalled": ("1029384757", "Stalled", "0.05"),
    "closed_won": ("closedwon", "Closed Won", "1.0"),
    "closed_lost": ("closedlost", "Closed Lost", "0.0"),
}
ENGAGEMENT_OF = {
    "email": "emails",
    "call": "calls",
    "meeting": "meetings",
    "demo": "meetings",
}


def pipeline(created_at: datetime) -> Pipeline:
    stages = [
        Stage(sid, label, n, prob, pie in ("closed_won", "closed_lost"))
        for n, (pie, (sid, label, prob)) in enumerate(STAGES.items())
    ]
    return Pipeline("default", "Sales Pipeline", 0, stages, created_at)


def seed(portal: Portal, *, deals: int, seed: int = 7) -> Portal:
    """Fill ``portal`` with a sample world of ``deals`` deals."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "world.json"
        generate(out, deals=deals, seed=seed, conversations=True)
        world = json.loads(out.read_text(encoding="utf-8"))
    load(portal, world)
    return portal


def load(portal: Portal, world: dict[str, Any]) -> None:
    """Load a ``pie/v1`` document (the sample generator's) into ``portal``."""
    zero = _t(min((a["created_at"] for a in world["accounts"]), default="2024-01-01T00:00:00Z"))
    portal.pipelines = [pipeline(zero)]
    portal.custom_properties["deals"].add("product_line")
    owners: dict[str, str] = {}

    def owner(name: str | None) -> str | None:
        if not name:
            return None
        return owners.setdefault(name, str(70_000_001 + len(owners)))

    company: dict[str, str] = {}
    for a in world["accounts"]:
        company[a["id"]] = portal.create(
            "companies",
            {
                "name": a["name"],
                "domain": a.get("domain"),
                "industry": a.get("industry"),
                "numberofemployees": a.get("employees"),
                "annualrevenue": a.get("annual_revenue"),
                "country": a.get("country"),
                "hubspot_owner_id": owner(a.get("owner")),
            },
            created_at=_t(a["created_at"]),
            modified_at=_t(a["updated_at"]),
        )
    contact: dict[str, str] = {}
    for c in world["contacts"]:
        first, _, last = c["name"].partition(" ")
        ident = portal.create(
            "contacts",
            {
                "firstname": first,
                "lastname": last,
                "email": c.get("email"),
                "jobtitle": c.get("title"),
                "phone": c.get("phone"),
                "department": c.get("department"),
                "associatedcompanyid": company.get(c.get("account") or ""),
            },
            created_at=_t(c["created_at"]),
            modified_at=_t(c["updated_at"]),
            associations=[("companies", company[c["account"]])] if c.get("account") else [],
        )
        contact[c["id"]] = ident
    for d in world["deals"]:
        _deal(portal, d, company, contact, owner)


def _deal(
    portal: Portal,
    d: dict[str, Any],
    company: dict[str, str],
    contact: dict[str, str],
    owner: Any,
) -> None:
    stage_id, _, probability = STAGES[d["stage"]]
    closed = d["stage"] in ("closed_won", "closed_lost")
    history = [(STAGES[h["to"]][0], _t(h["at"])) for h in d.get("stage_history") or []]
    updated = max([_t(d["updated_at"]), *(at for _, at in history)])
    links = [("companies", company[d["account"]])] if d.get("account") else []
    links += [("contacts", contact[s["contact"]]) for s in d.get("stakeholders") or []]
    deal = portal.create(
        "deals",
        {
            "dealname": d["name"],
            "amount": _amount(d.get("value")),
            "deal_currency_code": d.get("currency") or "USD",
            "dealstage": stage_id,
            "pipeline": "default",
            "closedate": f"{d['expected_close']}T00:00:00.000Z"
            if d.get("expected_close")
            else None,
            "hubspot_owner_id": owner(d.get("owner")),
            "hs_is_closed": "true" if closed else "false",
            "hs_is_closed_won": "true" if d["stage"] == "closed_won" else "false",
            "hs_deal_stage_probability": probability,
            "closed_lost_reason": d.get("lost_reason"),
            "hs_analytics_source": (d.get("lead_source") or "").upper() or None,
            "product_line": d.get("product_line"),
        },
        created_at=_t(d["created_at"]),
        modified_at=updated,
        associations=links,
        history={"dealstage": history} if history else None,
    )
    for a in d.get("activities") or []:
        kind = ENGAGEMENT_OF.get(a["type"], "notes")
        at = _t(a["at"])
        title, body = _engagement_text(kind)
        props: dict[str, Any] = {"hs_timestamp": at, body: a.get("content") or a.get("summary")}
        if title:
            props[title] = a.get("subject")
        if kind == "calls":
            props["hs_call_direction"] = "OUTBOUND"
        if kind == "emails":
            props["hs_email_direction"] = "EMAIL"
        associations = [("deals", deal)]
        associations += [("contacts", contact[p]) for p in a.get("participants") or ()]
        if d.get("account"):
            associations.append(("companies", company[d["account"]]))
        portal.create(kind, props, created_at=at, modified_at=at, associations=associations)


def _engagement_text(kind: str) -> tuple[str | None, str]:
    return {
        "calls": ("hs_call_title", "hs_call_body"),
        "emails": ("hs_email_subject", "hs_email_text"),
        "meetings": ("hs_meeting_title", "hs_meeting_body"),
        "notes": (None, "hs_note_body"),
    }[kind]


def _amount(value: Any) -> str | None:
    if value is None:
        return None
    return f"{float(value):.2f}".rstrip("0").rstrip(".")


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
