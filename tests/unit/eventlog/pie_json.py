"""Deal histories straight from a PIE JSON file (``docs/pie-json-format.md``), for tests that
export a generated sample world. Only what the event-log export uses is read."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from pie.domain.history import DealHistory
from pie.domain.model import Account, Deal, EntityKind, StageTransition, derive_id
from pie.domain.stages import Stage, parse_stage

from .histories import TENANT


def _stage(name: str) -> Stage:
    stage = parse_stage(name)
    assert stage is not None, name
    return stage


def _time(raw: str) -> datetime:
    return datetime.fromisoformat(raw)


def histories_from_pie_json(path: Path) -> list[DealHistory]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    source = doc.get("source", "file")
    accounts = {
        raw["id"]: Account(
            id=derive_id(TENANT, EntityKind.ACCOUNT, source, raw["id"]),
            tenant_id=TENANT,
            name=raw["name"],
            industry=raw.get("industry"),
            created_at=_time(raw.get("created_at", "2020-01-01T00:00:00Z")),
            updated_at=_time(raw.get("updated_at", "2020-01-01T00:00:00Z")),
        )
        for raw in doc.get("accounts", [])
    }
    out = []
    for raw in doc.get("deals", []):
        deal_id = derive_id(TENANT, EntityKind.DEAL, source, raw["id"])
        account = accounts.get(raw.get("account"))
        transitions = tuple(
            StageTransition(
                id=derive_id(TENANT, EntityKind.STAGE_TRANSITION, source, raw["id"], i),
                tenant_id=TENANT,
                deal_id=deal_id,
                from_stage=None if entry.get("from") is None else _stage(entry["from"]),
                to_stage=_stage(entry["to"]),
                at=_time(entry["at"]),
            )
            for i, entry in enumerate(raw.get("stage_history", []))
        )
        deal = Deal(
            id=deal_id,
            tenant_id=TENANT,
            name=raw["name"],
            account_id=None if account is None else account.id,
            stage=_stage(raw["stage"]),
            value=None if raw.get("value") is None else Decimal(str(raw["value"])),
            owner=raw.get("owner"),
            created_at=_time(raw["created_at"]),
            updated_at=_time(raw.get("updated_at", raw["created_at"])),
        )
        out.append(DealHistory(deal=deal, account=account, transitions=transitions))
    return out
