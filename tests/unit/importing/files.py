"""Small import files built from literals, shared by the unit and integration tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SF_HEADER = (
    "Opportunity ID,Opportunity Name,Account ID,Account Name,Stage,Amount,Probability (%),"
    "Close Date,Created Date,Last Modified Date,Opportunity Owner,Type,Lead Source,Closed,Won,"
    "Currency"
)
SF_ROWS = [
    '006A,Acme renewal,001A,Acme Corp,Negotiation/Review,"48,000.00",90,2025-06-30,'
    "2025-01-10T09:12:03Z,2025-05-02T14:00:00Z,Ann Lee,Renewal,Web,false,false,USD",
    "006B,Acme expansion,001A,Acme Corp,Prospecting,12000,10,2025-09-30,"
    "2025-03-01T10:00:00Z,2025-03-01T10:00:00Z,Ann Lee,New Business,Referral,false,false,USD",
    "006C,Globex pilot,001G,Globex,Closed Won,5000,100,2025-04-15,"
    "2025-02-01T08:00:00Z,2025-04-15T16:00:00Z,Bo Chan,New Business,Web,true,true,EUR",
]
SF_HISTORY = """Opportunity ID,Stage,Amount,Probability (%),Close Date,Created Date
006A,Prospecting,40000,10,2025-07-31,2025-01-10T09:12:03Z
006A,Qualification,40000,10,2025-07-31,2025-01-20T09:12:03Z
006A,Qualification,45000,10,2025-07-31,2025-01-25T09:12:03Z
006A,Negotiation/Review,48000,90,2025-06-30,2025-04-20T09:12:03Z
006C,Closed Won,5000,100,2025-04-15,2025-04-15T16:00:00Z
006C,Prospecting,5000,10,2025-04-30,2025-02-01T08:00:00Z
"""

HS_HEADER = (
    "Record ID,Deal Name,Deal Stage,Amount,Close Date,Create Date,Last Modified Date,Deal owner,"
    "Pipeline,Associated Company,Associated Company IDs,Deal probability,Currency"
)
HS_ROWS = [
    "101,Initech CRM,Contract Sent,25000,2025-06-01,2025-02-03 10:00,2025-05-01 09:00,"
    "Cy Diaz,Sales Pipeline,Initech,9001,0.9,USD",
    "102,Hooli pilot,appointmentscheduled,8000,2025-08-01,2025-04-01 11:00,2025-04-01 11:00,"
    "Cy Diaz,Sales Pipeline,Hooli;Hooli EU,9002;9003,0.2,USD",
    "103,Initech add-on,Closed Lost (Sales Pipeline),3000,2025-03-01,2025-01-05 09:00,"
    "2025-03-01 09:00,Dee Ng,Sales Pipeline,Initech,9001,0,USD",
]
GENERIC_HISTORY = """deal id,from stage,to stage,changed at
101,,Appointment Scheduled,2025-02-03T10:00:00Z
101,Appointment Scheduled,Qualified To Buy,2025-02-13T10:00:00Z
101,Qualified To Buy,Contract Sent,2025-03-15T22:00:00Z
"""


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def csv_text(header: str, rows: list[str]) -> str:
    return "\n".join([header, *rows]) + "\n"


def pie_doc(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "format": "pie/v1",
        "source": "crm-x",
        "accounts": [
            {
                "id": "A1",
                "name": "Acme",
                "industry": "Manufacturing",
                "employees": 500,
                "annual_revenue": 1200000.5,
                "created_at": "2024-01-01T00:00:00Z",
            },
            {"id": "A2", "name": "Globex"},
        ],
        "contacts": [
            {
                "id": "C1",
                "account": "A1",
                "name": "Dana Buyer",
                "title": "CFO",
                "created_at": "2024-02-01T00:00:00Z",
            },
            {"id": "C2", "account": "A1", "name": "Eli Tech", "created_at": "2024-02-01T00:00:00Z"},
        ],
        "deals": [
            {
                "id": "D1",
                "name": "Acme platform",
                "account": "A1",
                "stage": "proposal",
                "value": 50000,
                "currency": "USD",
                "probability": 0.5,
                "expected_close": "2025-09-30",
                "created_at": "2025-01-01T09:00:00Z",
                "custom_fields": {"score": 1.5},
                "stage_history": [
                    {"from": None, "to": "lead", "at": "2025-01-01T09:00:00Z"},
                    {
                        "from": "lead",
                        "to": "discovery",
                        "at": "2025-01-11T09:00:00Z",
                        "value": "40000.00",
                        "trigger_activity": "ACT1",
                    },
                    {
                        "from": "discovery",
                        "to": "proposal",
                        "at": "2025-02-10T21:00:00Z",
                        "value": 50000,
                        "expected_close": "2025-09-30",
                        "probability": 0.5,
                    },
                ],
                "stakeholders": [
                    {
                        "contact": "C1",
                        "roles": ["economic_buyer"],
                        "primary": True,
                        "sentiment": 0.4,
                    },
                    {"contact": "C2", "roles": ["technical_buyer", "champion"]},
                ],
                "activities": [
                    {
                        "id": "ACT1",
                        "type": "meeting",
                        "at": "2025-01-10T15:00:00Z",
                        "participants": ["C1", "C2"],
                        "outcome": "positive",
                        "subject": "Discovery",
                        "key_moments": [{"text": "budget ok", "at_seconds": 120}],
                        "next_steps": ["send proposal"],
                        "objections": [{"objection": "price", "resolved": False}],
                    },
                ],
            },
            {
                "id": "D2",
                "name": "Globex pilot",
                "account": "A2",
                "stage": "Closed Won",
                "created_at": "2025-03-01T00:00:00+02:00",
                "closed_at": "2025-04-01T00:00:00Z",
            },
        ],
    }
    doc.update(overrides)
    return doc


def write_json(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path
