"""The stage process mined from a tenant's deals: which stage follows which and how often,
how long deals stay, how context changes the odds of advancing, and whether the data is
enough to say so."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from pie.domain.stages import ALL_STAGES
from pie.mining import ProcessModel
from pie.mining.columns import DealColumns
from pie.mining.dfg import DirectlyFollows, discover_dfg
from pie.mining.effects import stage_effects
from pie.mining.eventlog_arrays import EventLog
from pie.ports.uow import UnitOfWork
from pie.services.model_cache import ModelCache
from pie.services.schemas import ProcessRead, StageEffectRead, SufficiencyRead, TransitionRead
from pie.services.schemas.process import EvidenceRead
from pie.services.schemas.simulation import finite
from pie.services.world import World


def event_log(deals: DealColumns) -> EventLog:
    """``EventLog.from_histories`` of the same deals, from their columns: one event per stage
    transition (activity = the stage entered), in (deal, time) order."""
    return EventLog(
        case_ids=tuple(deals.id_texts()),
        activities=tuple(str(stage) for stage in ALL_STAGES),
        case=deals.t_deal.astype(np.int64),
        activity=deals.t_to.astype(np.int64),
        time_us=deals.t_us.astype(np.int64),
    )


@dataclass(frozen=True)
class Mined:
    world: World
    dfg: DirectlyFollows


async def mine_world(world: World) -> Mined:
    dfg = await asyncio.to_thread(lambda: discover_dfg(event_log(world.deals)))
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
        deals=len(mined.world.deals),
        sufficiency=SufficiencyRead(
            level=str(suff.level), won=suff.won, lost=suff.lost, message=suff.message
        ),
        icp_industries=sorted(model.icp_industries),
        transitions=transitions,
        stages=context_effects(model, exits),
        evidence=evidence(model),
    )


def context_effects(model: ProcessModel, exits: dict[str, int]) -> list[StageEffectRead]:
    """P(advance) per open stage that occurs in the data, for a neutral deal and, where the
    data supports the factor, with a champion or a blocker."""
    return [
        StageEffectRead.model_validate({**row, "mean_dwell_days": finite(row["mean_dwell_days"])})
        for row in stage_effects(model, exits)
    ]


def evidence(model: ProcessModel) -> list[EvidenceRead]:
    return [
        EvidenceRead(
            factor=e.factor,
            with_deals=e.with_deals,
            without_deals=e.without_deals,
            minimum=e.minimum,
            odds_ratio=e.odds_ratio,
            odds_ratio_ci=e.odds_ratio_ci,
            supported=e.supported,
            message=e.message(),
        )
        for e in model.evidence.values()
    ]
