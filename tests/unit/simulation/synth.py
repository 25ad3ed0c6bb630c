"""A known chain to mine: the open pipeline in order, exponential dwell times, and at the end
of each visit advance with probability ``p_adv`` (``p_adv_champion`` with a champion) or lose."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pie.domain.history import DealHistory
from pie.domain.model import StakeholderRole
from pie.domain.stages import OPEN_PIPELINE, Stage
from tests.helpers_world import day, deal_history

AS_OF_DAY = 600.0


@dataclass(frozen=True)
class Chain:
    p_adv: float = 0.7
    p_adv_champion: float = 0.85
    mean_dwell: float = 10.0
    p_champion: float = 0.4


def synthetic_world(
    deals: int, *, seed: int, chain: Chain = Chain(), value: float = 1000.0
) -> list[DealHistory]:
    """Deals created uniformly over [0, AS_OF_DAY); events after AS_OF_DAY are not recorded."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(deals):
        t = float(rng.uniform(0.0, AS_OF_DAY))
        champ = bool(rng.random() < chain.p_champion)
        p = chain.p_adv_champion if champ else chain.p_adv
        moves: list[tuple[Stage, float, float]] = [(Stage.LEAD, t, value)]
        for stage in OPEN_PIPELINE:
            t += float(rng.exponential(chain.mean_dwell))
            nxt = Stage.CLOSED_LOST if rng.random() >= p else _next(stage)
            if t > AS_OF_DAY:
                break
            moves.append((nxt, t, value))
            if nxt.is_closed:
                break
        stakeholders: Sequence[tuple[StakeholderRole, float]] = (
            [(StakeholderRole.CHAMPION, moves[0][1] - 1.0)] if champ else []
        )
        out.append(deal_history(f"s{seed}-{i}", moves, stakeholders=stakeholders))
    return out


def _next(stage: Stage) -> Stage:
    i = OPEN_PIPELINE.index(stage)
    return OPEN_PIPELINE[i + 1] if i + 1 < len(OPEN_PIPELINE) else Stage.CLOSED_WON


AS_OF = day(AS_OF_DAY)
