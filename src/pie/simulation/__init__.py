"""Simulation: Monte Carlo over the mined process, exact answers, scenarios and forecasts."""

from pie.simulation.exact import ExactResult, exact
from pie.simulation.forecast import DealForecast, Recommendation, Trajectory, deal_forecast
from pie.simulation.forecaster import (
    DealPrediction,
    Forecaster,
    MarkovForecaster,
    PlainMarkovForecaster,
)
from pie.simulation.pipeline import Period, PeriodForecast, parse_period, pipeline_forecast
from pie.simulation.results import DealSimulation, simulate
from pie.simulation.scenarios import Scenario, ScenarioResult, parse_scenario, simulate_scenario
from pie.simulation.state import DealState, deal_state

__all__ = [
    "DealForecast",
    "DealPrediction",
    "DealSimulation",
    "DealState",
    "ExactResult",
    "Forecaster",
    "MarkovForecaster",
    "Period",
    "PeriodForecast",
    "PlainMarkovForecaster",
    "Recommendation",
    "Scenario",
    "ScenarioResult",
    "Trajectory",
    "deal_forecast",
    "deal_state",
    "exact",
    "parse_period",
    "parse_scenario",
    "pipeline_forecast",
    "simulate",
    "simulate_scenario",
]
