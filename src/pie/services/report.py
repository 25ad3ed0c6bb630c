"""The HTML report: the stage flow, the pipeline forecast and the back-test's calibration."""

from __future__ import annotations

from dataclasses import dataclass

from pie.ports.uow import UnitOfWork
from pie.reporting.html import (
    CalibrationBin,
    FlowEdge,
    ForecastView,
    ReportInput,
    ScoreRow,
    render_report,
)
from pie.services import simulation as svc
from pie.services.process import Mined, mine_world
from pie.services.world import world_of
from pie.simulation import PeriodForecast
from pie.simulation.backtest import BacktestReport, Scores


@dataclass(frozen=True)
class Report:
    html: str
    mined: Mined
    forecasts: list[PeriodForecast]
    backtest: BacktestReport


def _bins(s: Scores) -> list[CalibrationBin]:
    return [
        CalibrationBin(b.mean_predicted, b.observed_rate, b.count)
        for b in s.reliability
        if b.count and b.mean_predicted is not None and b.observed_rate is not None
    ]


def _score_row(name: str, s: Scores) -> ScoreRow | None:
    if s.brier is None or s.log_loss is None or s.ece is None:
        return None
    return ScoreRow(name, s.brier, s.log_loss, s.ece)


async def build_report(
    uow: UnitOfWork, *, title: str = "PIE pipeline report", runs: int = 2_000, seed: int = 0
) -> Report:
    async with uow:
        deals = await uow.columns.read()  # one read of the store, one fit of the model
    world = await world_of(deals)
    mined = await mine_world(world)
    forecasts = await svc.forecast_world(world, [], runs=runs, seed=seed)
    backtest = await svc.backtest_histories(deals, runs=runs, seed=seed)
    dfg = mined.dfg
    median = dfg.seconds("median")
    flow = [
        FlowEdge(frm, to, n, median[(frm, to)] / 86400) for (frm, to), n in dfg.counts().items()
    ]
    # the period with the most at stake (usually the next full quarter)
    main = max(forecasts, key=lambda f: f.expected_value)
    view = ForecastView(
        period=main.period.label,
        histogram_edges=main.histogram_edges,
        histogram_counts=main.histogram_counts,
        p10=main.p10,
        p50=main.p50,
        p90=main.p90,
        expected_value=main.expected_value,
        expected_wins=main.expected_wins,
        open_deals=main.open_deals,
    )
    model = backtest.model.pooled
    raw = backtest.uncalibrated.pooled if backtest.uncalibrated else None
    rows = [_score_row("PIE model", model)]
    if raw is not None:
        rows.append(_score_row("PIE model before calibration map", raw))
    rows += [_score_row(key, result.pooled) for key, result in backtest.baselines.items()]
    suff = mined.world.model.sufficiency
    data = ReportInput(
        title=title,
        flow=flow,
        forecast=view,
        calibration=_bins(model),
        calibration_before=_bins(raw) if raw is not None else [],
        scores=[r for r in rows if r is not None],
        facts={
            "as of": f"{world.as_of:%Y-%m-%d %H:%M} UTC",
            "deals": f"{len(world.deals):,} ({main.open_deals:,} open)",
            "model": suff.message,
            "back-test cutoffs": ", ".join(
                f"{cutoff:%Y-%m-%d}" for cutoff, _ in backtest.model.per_cutoff
            ),
        },
        notes=[
            "Forecasts come from a semi-Markov model of stage transitions mined from this "
            "tenant's history (context: champion, blocker, ideal-customer fit, deal size, "
            "engagement, days in stage), simulated with Monte Carlo.",
            f"Calibration: {backtest.model.verdict()}.",
            "Baselines: the stage's default probability, the historical win rate of deals "
            "that reached the stage, and a plain Markov chain without context.",
        ],
    )
    return Report(render_report(data), mined, forecasts, backtest)
