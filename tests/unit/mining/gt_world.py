"""The sample world with its ground truth, loaded for the miner's checks.

pie/v1 stakeholders carry no dates, so ``helpers_world.load_histories`` dates them at the deal's
last update. The truth file knows when each champion was found and each blocker appeared; this
loader dates those stakeholders accordingly, as a CRM that records stakeholder dates would.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from pie.domain.history import DealHistory
from pie.domain.model import StakeholderRole
from pie.sample.generate import generate
from tests.helpers_world import load_histories


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def sample_world(
    tmp: Path, *, deals: int, seed: int
) -> tuple[list[DealHistory], list[dict[str, Any]], datetime]:
    out = tmp / "world.json"
    generate(out, deals=deals, seed=seed, conversations=False)
    meta = json.loads((tmp / "world.ground_truth.json").read_text())
    truth = [json.loads(line) for line in (tmp / "world.truth.jsonl").read_text().splitlines()]
    histories = load_histories(out)
    dated = []
    for h, t in zip(histories, truth, strict=True):
        stakeholders = tuple(
            dataclasses.replace(s, created_at=_ts(t["champion_at"]))
            if StakeholderRole.CHAMPION in s.roles and t["champion_at"]
            else dataclasses.replace(s, created_at=_ts(t["blocker_at"]))
            if StakeholderRole.BLOCKER in s.roles and t["blocker_at"]
            else s
            for s in h.stakeholders
        )
        dated.append(dataclasses.replace(h, stakeholders=stakeholders))
    return dated, truth, _ts(meta["as_of"])
