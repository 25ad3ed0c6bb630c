"""The stage process mined from a tenant's deals: which stage follows which and how often,
how long deals stay, how context changes the odds of advancing, and whether the data is
enough to say so."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from pie.domain.stages import OPEN_PIPELINE, STAGE_ORDER, Stage
from pie.mining import Context, ProcessModel
from pie.mining.dfg import DirectlyFollows, discover_dfg
from pie.mining.eventlog_arrays import EventLog
from pie.ports.uow import UnitOfWork
from pie.services.model_cache import ModelCache
from pie.services.schemas import ProcessRead, StageEffectRead, SufficiencyRead, TransitionRead
from pie.services.schemas.simulation import finite
from pie.services.world import World


@dataclass(frozen=True)
class Mined:
    world: World
    dfg: DirectlyFollows


async def mine_world(world: World) -> Mined:
    dfg = await asyncio.to_thread(lambda: discover_dfg(EventLog.from_histories(world.histories)))
    return Mined(world, dfg)


async def process(
    uow: UnitOfWork, *, as_of: datetime | None = None, cache: ModelCache | None = None
) -> ProcessRead:
    """The mined transition table, time in stage, context effects and sufficiency."""
    world = await (cache or ModelCache()).world(uow, as_of=as_of)
    return analyse(await mine_world(world))


def analyse(mined: Mined) -> ProcessRead:
    model, dfg = mined.world.model, mined.dfg
    counts, median = dfg.counts(), dfg.seconds("median")
    exits: dict[str, int] = {}
    for (frm, _), n in counts.items():
        exits[frm] = exits.get(frm, 0) + n
    transitions = [
        TransitionRead(
            from_stage=frm,
            to_stage=to,
            count=n,
            share=n / exits[frm],
            median_days=median[(frm, to)] / 86400,
        )
        for (frm, to), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    suff = model.sufficiency
    return ProcessRead(
        as_of=mined.world.as_of,
        deals=len(mined.world.histories),
        sufficiency=SufficiencyRead(
            level=str(suff.level), won=suff.won, lost=suff.lost, message=suff.message
        ),
        icp_industries=sorted(model.icp_industries),
        transitions=transitions,
        stages=context_effects(model, exits),
    )


def _next_stage(stage: Stage) -> Stage:
    return STAGE_ORDER[stage.rank + 1] if stage is not Stage.NEGOTIATION else Stage.CLOSED_WON


def context_effects(model: ProcessModel, exits: dict[str, int]) -> list[StageEffectRead]:
    """P(advance) per open stage for a neutral deal, with a champion, with a blocker."""
    rows = []
    for stage in OPEN_PIPELINE:
        nxt = _next_stage(stage)

        def p(ctx: Context, stage: Stage = stage, nxt: Stage = nxt) -> float:
            return model.next_stage_probabilities(stage, ctx).probabilities.get(nxt, 0.0)

        rows.append(
            StageEffectRead(
                stage=str(stage),
                advance_to=str(nxt),
                exits=exits.get(str(stage), 0),
                mean_dwell_days=finite(model.mean_dwell(stage, Context())),
                p_advance=p(Context()),
                p_advance_with_champion=p(Context(has_champion=True)),
                p_advance_with_blocker=p(Context(unresolved_blocker=True)),
            )
        )
    return rows
