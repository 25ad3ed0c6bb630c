"""The sample world with its ground truth, loaded for the miner's checks (through the real
importer: the generator dates each champion and blocker stakeholder when it was found)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from pie.domain.history import DealHistory
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
    assert [h.deal.external_ids["sample"] for h in histories] == [t["deal"] for t in truth]
    return histories, truth, _ts(meta["as_of"])
