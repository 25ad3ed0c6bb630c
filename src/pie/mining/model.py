"""The mined process: hazards per (stage, context, dwell bin, destination) with their counts."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from pie.domain.history import DealHistory
from pie.domain.stages import ALL_STAGES, Stage

from .arrivals import ArrivalRates
from .calibration_map import CalibrationMap
from .config import MiningConfig
from .context import Context, contexts_at, encode_one, to_days
from .events import STAGE_INDEX
from .evidence import Evidence
from .hazards import Counts
from .survival import exit_profile, survival_at

Float = NDArray[np.float64]


class SufficiencyLevel(StrEnum):
    FULL = "full"  # context, dwell and stage: enough won and lost deals
    STAGE = "stage"  # below the gate: per stage and dwell bin, without context
    DEFAULTS = "defaults"  # no usable history: canonical stage probabilities, 30-day dwell


@dataclass(frozen=True, slots=True)
class Sufficiency:
    level: SufficiencyLevel
    won: int
    lost: int
    message: str


@dataclass(frozen=True, slots=True)
class Estimate:
    """P(next stage | stage, context[, dwell bucket]) with the observations behind it."""

    probabilities: dict[Stage, float]
    visits: int  # visits of this stage in this exact context bucket
    exits: int  # of which ended (not censored)
    exposure_days: float


@dataclass(frozen=True, slots=True, eq=False)
class ProcessModel:
    """Rates are per day, shape (stage, context, bin, dest) over ``ALL_STAGES`` indices.

    Closed stages have zero rates (absorbing). ``counts`` are the raw observations on the same
    grid (context axes unflattened)."""

    config: MiningConfig
    as_of: datetime
    rates: Float
    counts: Counts
    sufficiency: Sufficiency
    icp_industries: frozenset[str]
    median_value: float
    #: what the data says about each actionable context factor (``pie.mining.evidence``)
    evidence: Mapping[str, Evidence] = field(default_factory=dict)
    #: factors without enough deals on both sides: the model treats every deal as without them
    ignored: frozenset[str] = frozenset()
    #: how fast champions and blockers arrive, per stage and time in stage (``arrivals``)
    arrivals: ArrivalRates | None = None
    #: the map applied to every simulated P(win), fitted on the tenant's past cutoffs
    #: (``pie.simulation.calibration.fit_calibration``); None: the model's own probabilities
    calibration: CalibrationMap | None = None

    @property
    def edges(self) -> Float:
        return np.asarray(self.config.dwell_edges, dtype=np.float64)

    @property
    def n_contexts(self) -> int:
        return int(self.rates.shape[1])

    def context_index(self, ctx: Context) -> int:
        return encode_one(self.effective(ctx), self.config)

    def effective(self, ctx: Context) -> Context:
        """``ctx`` as the model sees it: ignored factors at their reference value."""
        if not self.ignored:
            return ctx
        changes: dict[str, object] = {}
        if "has_champion" in self.ignored:
            changes["has_champion"] = False
        if "unresolved_blocker" in self.ignored:
            changes["unresolved_blocker"] = False
        if "engaged_recently" in self.ignored:
            changes["days_since_activity"] = None
        return dataclasses.replace(ctx, **changes)  # type: ignore[arg-type]

    def context_of(self, history: DealHistory, at: datetime) -> Context:
        """The deal's context from what was known strictly before ``at``."""
        t = np.array([to_days(at)])
        champion, blocker, recency = contexts_at(history, t)
        industry = history.account.industry if history.account is not None else None
        value = _value_at(history, at)
        ratio = value / self.median_value if value is not None and self.median_value > 0 else None
        return Context(
            has_champion=bool(champion[0]),
            unresolved_blocker=bool(blocker[0]),
            icp_match=industry in self.icp_industries,
            size_ratio=ratio,
            days_since_activity=None if np.isinf(recency[0]) else float(recency[0]),
        )

    def next_stage_probabilities(
        self, stage: Stage, ctx: Context, days_in_stage: float = 0.0
    ) -> Estimate:
        """P(next stage | stage, context, already ``days_in_stage`` days in it)."""
        s, c = STAGE_INDEX[stage], self.context_index(ctx)
        probs = self.jump_probabilities(
            np.array([s]), np.array([c]), np.array([float(days_in_stage)])
        )[0]
        return self._estimate(s, c, probs)

    def mean_dwell(self, stage: Stage, ctx: Context, days_in_stage: float = 0.0) -> float:
        """Expected days still to spend in ``stage`` after ``days_in_stage`` days."""
        s, c = STAGE_INDEX[stage], self.context_index(ctx)
        total = self.rates[s, c].sum(axis=-1)[None, :]
        _, mean = exit_profile(total, self.edges, np.array([float(days_in_stage)]))
        return float(mean[0])

    def survival(
        self, stage: Stage, ctx: Context, days: Float, days_in_stage: float = 0.0
    ) -> Float:
        s, c = STAGE_INDEX[stage], self.context_index(ctx)
        total = self.rates[s, c].sum(axis=-1)[None, :]
        out: Float = survival_at(total, self.edges, np.array([float(days_in_stage)]), days)[0]
        return out

    def jump_probabilities(
        self, stage: NDArray[np.intp], context: NDArray[np.intp], spent: Float
    ) -> Float:
        """Rows of P(next stage) integrated over the remaining dwell: (rows, stages)."""
        rate = self.rates[stage, context]  # (rows, bins, dest)
        total = rate.sum(axis=-1)
        p_exit, _ = exit_profile(total, self.edges, spent)
        share = rate / np.maximum(total, 1e-300)[..., None]
        out: Float = np.einsum("rb,rbd->rd", p_exit, share)
        return out

    def _estimate(self, s: int, c: int, probs: Float) -> Estimate:
        ctx_idx = np.unravel_index(c, self.counts.exposure.shape[1:-1])
        at_risk = self.counts.at_risk[(s, *ctx_idx)]
        events = self.counts.events[(s, *ctx_idx)]
        exposure = self.counts.exposure[(s, *ctx_idx)]
        return Estimate(
            probabilities={st: float(p) for st, p in zip(ALL_STAGES, probs, strict=True) if p > 0},
            visits=int(at_risk[0]),
            exits=int(events.sum()),
            exposure_days=float(exposure.sum()),
        )


def _value_at(history: DealHistory, at: datetime) -> float | None:
    known = [t for t in history.transitions if t.value is not None and t.at <= at]
    if known:
        return float(max(known, key=lambda t: t.at).value or 0)
    return float(history.deal.value) if history.deal.value is not None else None
