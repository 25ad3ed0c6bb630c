"""The small interface back-tests run forecasters through.

A forecaster is fitted on the deals as known at ``as_of`` (``DealColumns``, e.g. a
``columns.snapshot``) and then predicts, for each open deal,
the chance it is won (within ``horizon_days`` of ``as_of`` when given, else eventually) and how
long it takes to close. ``MarkovForecaster`` is PIE's full model (context and time in stage);
``PlainMarkovForecaster`` is the same machinery without either: a plain Markov chain baseline.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

import numpy as np
from numpy.typing import NDArray

from pie.domain.errors import InvalidInput, NotConfigured
from pie.mining.columns import DealColumns
from pie.mining.config import DEFAULT_CONFIG, MiningConfig
from pie.mining.fit import fit_columns
from pie.mining.model import ProcessModel

from .engine import IN_PROCESS, PART_DEALS, Engine, parts
from .results import DealSimulation, simulate, win_shares
from .state import DealState, deal_states
from .streams import check_seed, generator

Float = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class DealPrediction:
    deal_id: UUID
    p_win: float  # won within the horizon if one was given, else eventually
    expected_days: float  # expected days from as_of until the deal closes (won or lost)
    days_p10: float
    days_p90: float


class Forecaster(Protocol):
    """Fit on what was known at ``as_of``; predict open deals as of ``as_of``.

    ``predict`` returns one prediction per deal, in the order given; deals that are already
    closed at ``as_of`` raise ``pie.domain.errors.InvalidInput``.
    """

    name: str

    def fit(self, world: DealColumns, *, as_of: datetime) -> None: ...

    def predict(
        self, open_deals: DealColumns, *, as_of: datetime, horizon_days: int | None
    ) -> list[DealPrediction]: ...


def require_open(open_deals: DealColumns, name: str) -> None:
    """InvalidInput naming the first deal of ``open_deals`` that is closed."""
    closed = np.flatnonzero(~open_deals.is_open())
    if closed.size:
        i = int(closed[0])
        raise InvalidInput(
            f"{name} forecasts open deals only; this deal is {open_deals.stage_of(i)}",
            record=str(open_deals.deal_id(i)),
            field="stage",
        )


class MarkovForecaster:
    """PIE's model: the mined semi-Markov process (context, time in stage), simulated."""

    name = "pie"

    def __init__(
        self,
        config: MiningConfig = DEFAULT_CONFIG,
        runs: int = 2_000,
        seed: int = 0,
        engine: Engine = IN_PROCESS,
        part_deals: int = PART_DEALS,
    ) -> None:
        self.config, self.runs, self.seed = config, runs, check_seed(seed)
        self.engine, self.part_deals = engine, part_deals
        self.model: ProcessModel | None = None

    def fit(self, world: DealColumns, *, as_of: datetime) -> None:
        self.model = fit_columns(world, as_of=as_of, config=self.config)

    def predict(
        self, open_deals: DealColumns, *, as_of: datetime, horizon_days: int | None
    ) -> list[DealPrediction]:
        done = self.engine.map(_simulate_part, self._parts(open_deals, as_of, horizon_days))
        outcomes = [o for part in done for o in part]
        return [
            DealPrediction(
                deal_id=o.deal_id,
                p_win=o.p_win if o.p_win_within_horizon is None else o.p_win_within_horizon,
                expected_days=o.expected_days,
                days_p10=o.days_quantiles[0],
                days_p90=o.days_quantiles[2],
            )
            for o in outcomes
        ]

    def win_shares(
        self, open_deals: DealColumns, *, as_of: datetime, horizon_days: int | None
    ) -> Float:
        """Each open deal's ``p_win`` as ``predict`` gives it (in order), and nothing else."""
        done = self.engine.map(_shares_part, self._parts(open_deals, as_of, horizon_days))
        return np.concatenate(done) if done else np.zeros(0)

    def _parts(
        self, open_deals: DealColumns, as_of: datetime, horizon_days: int | None
    ) -> list[Part]:
        """The open deals' states in parts for the engine; every part draws the same run key
        from the seed, each deal its own stream."""
        if self.model is None:
            raise NotConfigured(f"{self.name}: call fit before predict")
        require_open(open_deals, self.name)
        states = deal_states(open_deals, self.model, as_of=as_of)
        job = (self.model, self.runs, self.seed, horizon_days)
        return [(job, states[sl]) for sl in parts(len(states), self.part_deals)]


Part = tuple[tuple[ProcessModel, int, int, int | None], list[DealState]]


def win_probabilities(
    forecaster: Forecaster, open_deals: DealColumns, *, as_of: datetime, horizon_days: int | None
) -> Float:
    """Each open deal's P(win) from ``forecaster`` (in order): PIE's own gives its win shares
    alone (the same numbers), any other its predictions'."""
    if (
        isinstance(forecaster, MarkovForecaster)
        and type(forecaster).predict is MarkovForecaster.predict  # not overridden
    ):
        return forecaster.win_shares(open_deals, as_of=as_of, horizon_days=horizon_days)
    preds = forecaster.predict(open_deals, as_of=as_of, horizon_days=horizon_days)
    return np.array([p.p_win for p in preds], dtype=np.float64)


def _simulate_part(args: Part) -> list[DealSimulation]:
    (model, runs, seed, horizon_days), states = args
    return simulate(model, states, runs=runs, rng=generator(seed), horizon_days=horizon_days)


def _shares_part(args: Part) -> Float:
    (model, runs, seed, horizon_days), states = args
    return win_shares(model, states, runs=runs, rng=generator(seed), horizon_days=horizon_days)


#: No context and a single dwell bin (constant hazards): a plain continuous-time Markov chain.
PLAIN_CONFIG = MiningConfig(use_context=False, dwell_edges=(0.0,))


class PlainMarkovForecaster(MarkovForecaster):
    """The same machinery with no context and no dwell dependence: a plain Markov baseline."""

    name = "plain_markov"

    def __init__(
        self,
        config: MiningConfig = PLAIN_CONFIG,
        runs: int = 2_000,
        seed: int = 0,
        engine: Engine = IN_PROCESS,
    ) -> None:
        plain = dataclasses.replace(config, use_context=False, dwell_edges=(0.0,))
        super().__init__(plain, runs, seed, engine)
