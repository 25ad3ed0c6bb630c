"""What ``pie mine`` shows per stage: the odds of advancing, with a champion or a blocker only
where the data has evidence about them (``evidence``), for stages that occur in the data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pie.domain.stages import OPEN_PIPELINE, STAGE_ORDER, Stage

from .context import Context
from .model import ProcessModel


def next_stage(stage: Stage) -> Stage:
    return STAGE_ORDER[stage.rank + 1] if stage is not Stage.NEGOTIATION else Stage.CLOSED_WON


def stage_effects(model: ProcessModel, exits: Mapping[str, int]) -> list[dict[str, Any]]:
    """P(advance) per open stage left at least once in the data (``exits``: stage name to
    exits), for a neutral deal and, when the data supports the factor, with a champion or
    with a blocker (else None)."""
    rows = []
    for stage in OPEN_PIPELINE:
        if not exits.get(str(stage), 0):
            continue
        nxt = next_stage(stage)

        def p(ctx: Context, stage: Stage = stage, nxt: Stage = nxt) -> float:
            return model.next_stage_probabilities(stage, ctx).probabilities.get(nxt, 0.0)

        champion, blocker = (
            model.evidence.get("has_champion"),
            model.evidence.get("unresolved_blocker"),
        )
        rows.append(
            {
                "stage": str(stage),
                "advance_to": str(nxt),
                "exits": exits[str(stage)],
                "mean_dwell_days": model.mean_dwell(stage, Context()),
                "p_advance": p(Context()),
                "p_advance_with_champion": (
                    p(Context(has_champion=True)) if champion and champion.supported else None
                ),
                "p_advance_with_blocker": (
                    p(Context(unresolved_blocker=True)) if blocker and blocker.supported else None
                ),
            }
        )
    return rows
