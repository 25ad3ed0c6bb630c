"""Settings of the process miner, as a frozen dataclass with named fields."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class MiningConfig:
    #: Industries that form the ideal customer profile; None infers them from the data
    #: (industries whose smoothed win rate is above the overall win rate).
    icp_industries: frozenset[str] | None = None
    #: Data-sufficiency gate: below these many won and lost deals, the miner falls back to
    #: stage-level estimates without context (or to canonical defaults when there is no data).
    min_won: int = 50
    min_lost: int = 150
    #: Left edges (days) of the dwell-time bins; the last bin is open-ended. A single bin
    #: ``(0.0,)`` gives constant hazards: no dependence on the time already spent in a stage.
    dwell_edges: tuple[float, ...] = (0.0, 7.0, 14.0, 21.0, 30.0, 45.0, 60.0, 90.0, 135.0, 200.0)
    #: Deal value / historical median value: bucket boundaries (small | typical | large).
    size_edges: tuple[float, ...] = (0.5, 2.0)
    #: Days since the last activity: bucket boundaries (recent | cooling | cold or none).
    recency_edges: tuple[float, ...] = (7.0, 21.0)
    #: Strength of the hierarchical prior, in visits' worth of exposure: a context bucket with
    #: fewer visits than this is pulled most of the way to its parent bucket.
    prior_strength: float = 20.0
    #: Smoothing (pseudo-deals at the overall win rate) for inferring ICP industries.
    icp_smoothing: float = 20.0
    #: Closed deals needed both with and without a context factor (champion, blocker, recent
    #: activity) before the miner estimates its effect; below it the factor is ignored and
    #: nothing is recommended on it (``pie.mining.evidence``).
    min_evidence_deals: int = 30
    #: False: estimate per stage only (the plain Markov baseline uses this).
    use_context: bool = True
    #: Simulate champions and blockers arriving along each path at the mined rates
    #: (``pie.mining.arrivals``). False holds the context at its ``as_of`` value for the whole
    #: future, the semi-Markov chain that ``pie.simulation.exact`` solves exactly.
    context_arrives: bool = True


DEFAULT_CONFIG = MiningConfig()
