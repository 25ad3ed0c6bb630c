"""``fit``: from deal histories known at ``as_of`` to a ProcessModel."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from pie.domain.history import DealHistory
from pie.domain.stages import DEFAULT_PROBABILITY, OPEN_PIPELINE, Stage

from . import columns
from .arrivals import fit_arrivals
from .columns import DealColumns
from .config import DEFAULT_CONFIG, MiningConfig
from .context import encode, factor_shape, industries
from .events import LOST, N_STAGES, STAGE_INDEX, WON, VisitTable, visit_table
from .evidence import Evidence, evidence
from .hazards import count, shrunk_rates
from .model import ProcessModel, Sufficiency, SufficiencyLevel

#: Mean dwell (days) the canonical defaults assume in every open stage.
DEFAULT_DWELL_DAYS = 30.0


def default_rates() -> NDArray[np.float64]:
    """(stage, dest) rates of the canonical chain: each open stage is left after 30 days on
    average, advancing with probability p(stage) / p(next) (DEFAULT_PROBABILITY) or lost."""
    rate = np.zeros((N_STAGES, N_STAGES))
    chain = (*OPEN_PIPELINE, Stage.CLOSED_WON)
    for here, nxt in itertools.pairwise(chain):
        q = DEFAULT_PROBABILITY[here] / DEFAULT_PROBABILITY[nxt]
        rate[STAGE_INDEX[here], STAGE_INDEX[nxt]] = q / DEFAULT_DWELL_DAYS
        rate[STAGE_INDEX[here], LOST] = (1.0 - q) / DEFAULT_DWELL_DAYS
    q = DEFAULT_PROBABILITY[Stage.STALLED] / DEFAULT_PROBABILITY[Stage.LEAD]
    rate[STAGE_INDEX[Stage.STALLED], STAGE_INDEX[Stage.LEAD]] = q / DEFAULT_DWELL_DAYS
    rate[STAGE_INDEX[Stage.STALLED], LOST] = (1.0 - q) / DEFAULT_DWELL_DAYS
    return rate


def fit(
    histories: Sequence[DealHistory], *, as_of: datetime, config: MiningConfig = DEFAULT_CONFIG
) -> ProcessModel:
    """Estimate P(next stage | stage, context, dwell bucket) and dwell-time distributions from
    every transition known at ``as_of``; open deals' current visits are censored observations.
    (The reference path over objects; stores are mined from columns, ``fit_columns``.)"""
    table = visit_table(histories, as_of=as_of)
    return fit_table(table, industries(histories), as_of=as_of, config=config)


def fit_columns(
    cols: DealColumns, *, as_of: datetime, config: MiningConfig = DEFAULT_CONFIG
) -> ProcessModel:
    """``fit`` of the same deals from their columns (no object per deal or transition)."""
    table = columns.visit_table(cols, as_of=as_of)
    return fit_table(table, cols.industry_names(), as_of=as_of, config=config)


def fit_table(
    table: VisitTable,
    deal_industries: Sequence[str | None],
    *,
    as_of: datetime,
    config: MiningConfig = DEFAULT_CONFIG,
) -> ProcessModel:
    """The model from the visit table and each deal's industry (one per deal, in order)."""
    outcome = _final_outcome(table, len(deal_industries))
    won, lost = int((outcome == WON).sum()), int((outcome == LOST).sum())
    icp = config.icp_industries
    if icp is None:
        icp = infer_icp(deal_industries, outcome, config.icp_smoothing)
    sufficiency = _sufficiency(won, lost, len(table), config)
    used = config
    if sufficiency.level is not SufficiencyLevel.FULL:
        used = dataclasses.replace(config, use_context=False)
    median_value = _median_value(table)
    found = _evidence(table, outcome, used)
    ignored = frozenset(f for f, e in found.items() if not e.enough)
    arrivals = fit_arrivals(table, used, ignored)
    table = _without(table, ignored)
    industry = np.array([i in icp for i in deal_industries] + [False], dtype=np.bool_)
    context = encode(
        table.champion,
        table.blocker,
        industry[table.deal] if len(table) else np.zeros(0, np.bool_),
        table.value / median_value if median_value > 0 else np.full(len(table), np.nan),
        table.recency,
        used,
    )
    counts = count(table.stage, context, table.dwell, table.dest, n_stages=N_STAGES, config=used)
    if sufficiency.level is SufficiencyLevel.DEFAULTS:
        n_bins = len(used.dwell_edges)
        rates = np.broadcast_to(
            default_rates()[:, None, None, :],
            (N_STAGES, int(np.prod(factor_shape(used))), n_bins, N_STAGES),
        ).copy()
    else:
        rates = shrunk_rates(counts, default_rates(), used).reshape(
            N_STAGES, -1, len(used.dwell_edges), N_STAGES
        )
    return ProcessModel(
        config=used,
        as_of=as_of,
        rates=rates,
        counts=counts,
        sufficiency=sufficiency,
        icp_industries=frozenset(icp),
        median_value=median_value,
        evidence=found,
        ignored=ignored,
        arrivals=arrivals,
    )


def _evidence(
    table: VisitTable, outcome: NDArray[np.intp], config: MiningConfig
) -> dict[str, Evidence]:
    recent = table.recency < config.recency_edges[0]
    present = {
        "has_champion": table.champion,
        "unresolved_blocker": table.blocker,
        "engaged_recently": recent,
    }
    return {
        name: evidence(name, x, table.deal, table.stage, outcome, minimum=config.min_evidence_deals)
        for name, x in present.items()
    }


def _without(table: VisitTable, ignored: frozenset[str]) -> VisitTable:
    """The visits with every ignored factor set to its reference (absent, or no activity)."""
    if not ignored:
        return table
    changes: dict[str, NDArray[np.generic]] = {}
    if "has_champion" in ignored:
        changes["champion"] = np.zeros_like(table.champion)
    if "unresolved_blocker" in ignored:
        changes["blocker"] = np.zeros_like(table.blocker)
    if "engaged_recently" in ignored:
        changes["recency"] = np.full_like(table.recency, np.inf)
    return dataclasses.replace(table, **changes)  # type: ignore[arg-type]


def _final_outcome(table: VisitTable, n_deals: int) -> NDArray[np.intp]:
    """Per deal: the destination of its last visit (WON, LOST, another stage or -1)."""
    out = np.full(n_deals, -1, dtype=np.intp)
    out[table.deal] = table.dest  # later rows overwrite earlier ones: the last visit wins
    return out


def _median_value(table: VisitTable) -> float:
    first = np.unique(table.deal, return_index=True)[1]
    values = table.value[first]
    values = values[np.isfinite(values) & (values > 0)]
    return float(np.median(values)) if values.size else 0.0


def infer_icp(
    industry: Sequence[str | None], outcome: NDArray[np.intp], smoothing: float
) -> frozenset[str]:
    """Industries whose smoothed win rate beats the overall win rate of closed deals."""
    closed = (outcome == WON) | (outcome == LOST)
    names = np.array([i or "" for i in industry], dtype=object)
    if not closed.any():
        return frozenset()
    overall = float((outcome[closed] == WON).mean())
    keys, inverse = np.unique(names[closed], return_inverse=True)
    wins = np.bincount(inverse, weights=(outcome[closed] == WON).astype(float))
    total = np.bincount(inverse)
    smoothed = (wins + smoothing * overall) / (total + smoothing)
    return frozenset(str(k) for k, r in zip(keys, smoothed, strict=True) if k and r > overall)


def _sufficiency(won: int, lost: int, visits: int, config: MiningConfig) -> Sufficiency:
    if won >= config.min_won and lost >= config.min_lost:
        msg = f"{won} won and {lost} lost deals: stage, context and dwell estimates"
        return Sufficiency(SufficiencyLevel.FULL, won, lost, msg)
    need = f"needs {config.min_won} won and {config.min_lost} lost, has {won} and {lost}"
    if visits and won + lost > 0:
        msg = f"not enough history for context ({need}): stage-level estimates without context"
        return Sufficiency(SufficiencyLevel.STAGE, won, lost, msg)
    msg = f"no usable history ({need}): canonical stage probabilities and 30-day dwell times"
    return Sufficiency(SufficiencyLevel.DEFAULTS, won, lost, msg)
