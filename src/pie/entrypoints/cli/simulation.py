"""`pie mine`, `pie simulate`, `pie forecast` and `pie backtest`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from pie.domain.errors import InvalidInput
from pie.domain.model import EntityKind
from pie.entrypoints.cli.common import (
    console,
    err_console,
    fail,
    print_json,
    run,
    state,
    tenant_id,
)
from pie.entrypoints.cli.progress import working

if TYPE_CHECKING:  # numpy, pydantic models and the database load only when a command runs
    from pie.bootstrap import Container
    from pie.services.schemas import (
        BacktestRead,
        DealForecastRead,
        DealSimulationRead,
        PipelineForecastRead,
        ProcessRead,
        ScenarioResultRead,
    )


def parse_moment(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"{text!r} is not a date or time; use YYYY-MM-DD or an ISO timestamp", field=option
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def mine_command(
    ctx: typer.Context,
    as_of: str | None = typer.Option(None, "--as-of", help="Mine what was known then"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Mine the stage process: transitions, time in stage and context effects."""
    from pie.entrypoints.cli import render_forecasts as render
    from pie.services import process as process_svc

    st = state(ctx)
    moment = parse_moment(as_of, "--as-of")

    async def work(c: Container) -> ProcessRead:
        uow = c.uow(await tenant_id(st, c))
        return await process_svc.process(uow, as_of=moment, cache=c.models)

    with working("mining the stage process"):
        mined = run(st, work)
    if as_json:
        print_json(mined)
    else:
        console.print(render.process(mined, width=console.width))


def simulate_command(
    ctx: typer.Context,
    deal: str = typer.Argument(..., help="PIE id or SOURCE:EXTERNAL_ID"),
    scenario: str | None = typer.Option(
        None,
        "--scenario",
        help="add_champion, remove_blocker, accelerate_demo:days=7, "
        "increase_touchpoints:factor=2, custom:has_champion=true,size_ratio=2",
    ),
    runs: int = typer.Option(10_000, "--runs", min=100, max=1_000_000),
    seed: int = typer.Option(0, "--seed", min=0),
    as_of: str | None = typer.Option(None, "--as-of"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Simulate a deal's outcome, or a scenario against its baseline."""
    from pie.entrypoints.cli import render_forecasts as render
    from pie.services import simulation as svc
    from pie.services.refs import resolve_id
    from pie.services.schemas import ScenarioResultRead

    st = state(ctx)
    moment = parse_moment(as_of, "--as-of")

    async def work(c: Container) -> DealSimulationRead | ScenarioResultRead:
        tid = await tenant_id(st, c)
        deal_id = await resolve_id(c.uow(tid), EntityKind.DEAL, deal)
        return await svc.simulate_deal(
            c.uow(tid),
            deal_id,
            scenario=scenario,
            runs=runs,
            seed=seed,
            as_of=moment,
            cache=c.models,
        )

    with working(f"simulating {deal} ({runs:,} runs)"):
        result = run(st, work)
    if as_json:
        print_json(result)
    elif isinstance(result, ScenarioResultRead):
        console.print(render.scenario(result))
    else:
        console.print(render.simulation(result), highlight=False)


def forecast_command(
    ctx: typer.Context,
    target: str = typer.Argument(
        ..., metavar="DEAL|pipeline", help="A deal (id or SOURCE:ID), or `pipeline`"
    ),
    period: list[str] = typer.Option(
        [], "--period", "-p", help="2026Q1, 2026-03 or 2026 (repeatable; pipeline only)"
    ),
    deals: bool = typer.Option(
        False, "--deals", help="Pipeline: every open deal's P(win), expected close and value"
    ),
    runs: int = typer.Option(10_000, "--runs", min=100, max=1_000_000),
    seed: int = typer.Option(0, "--seed", min=0),
    as_of: str | None = typer.Option(None, "--as-of"),
    engine: str = typer.Option(
        "local", "--engine", help="Where simulations run: local (this process) or dask"
    ),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="With --engine dask: tcp://HOST:8786 (default: a local cluster)"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """A deal's trajectory and recommendations, or (`pipeline`) won value per period.

    For one deal: its trajectory, best and worst case and recommendations ranked by impact.
    With `pipeline`: the distribution of won value per period over all open deals."""
    from pie.entrypoints.cli import render_forecasts as render
    from pie.services import simulation as svc
    from pie.services.refs import resolve_id

    st = state(ctx)
    moment = parse_moment(as_of, "--as-of")
    _check_engine(engine, scheduler)
    if target == "pipeline":
        from pie.bootstrap import simulation_engine

        async def pipeline(c: Container) -> PipelineForecastRead:
            uow = c.uow(await tenant_id(st, c))
            return await svc.forecast_pipeline(
                uow,
                period,
                runs=min(runs, 20_000),
                seed=seed,
                as_of=moment,
                deals=deals,
                cache=c.models,
                engine=where,
            )

        with (
            simulation_engine(engine, scheduler) as where,
            working(f"forecasting the open pipeline ({min(runs, 20_000):,} runs)"),
        ):
            result = run(st, pipeline)
        if as_json:
            print_json(result)
            return
        console.print(render.pipeline_forecast(result.periods, as_of=result.as_of))
        if deals:
            console.print(render.pipeline_deals(result))
        return
    for given, option in ((period, "--period"), (deals, "--deals")):
        if given:
            err_console.print(f"{option} applies to `pie forecast pipeline` only; ignored")

    async def deal(c: Container) -> DealForecastRead:
        tid = await tenant_id(st, c)
        deal_id = await resolve_id(c.uow(tid), EntityKind.DEAL, target)
        return await svc.forecast_deal(
            c.uow(tid), deal_id, runs=runs, seed=seed, as_of=moment, cache=c.models
        )

    with working(f"forecasting {target}: trajectory, best and worst case, recommendations"):
        forecast = run(st, deal)
    if as_json:
        print_json(forecast)
    else:
        console.print(render.deal_forecast(forecast))


def backtest_command(
    ctx: typer.Context,
    cutoff: list[str] = typer.Option(
        [], "--cutoff", help="Forecast as of this date (repeatable; default: three cutoffs)"
    ),
    horizon: int | None = typer.Option(None, "--horizon", min=1, help="Score wins within N days"),
    runs: int = typer.Option(2_000, "--runs", min=100, max=100_000),
    seed: int = typer.Option(0, "--seed", min=0),
    log: Path | None = typer.Option(
        None, "--log", help="Back-test this XES or CSV event log instead of the store"
    ),
    mapping: Path | None = typer.Option(
        None, "--mapping", help="The log's mapping file (TOML; see docs/eventlog.md)"
    ),
    engine: str = typer.Option(
        "local", "--engine", help="Where simulations run: local (this process) or dask"
    ),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="With --engine dask: tcp://HOST:8786 (default: a local cluster)"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Score forecasts made at past cutoffs against what happened, beside three baselines.

    Every deal open at a cutoff is forecast with only what was known then. With --log and
    --mapping, the deals are the cases of an event log and no store is used."""
    from pie.bootstrap import simulation_engine
    from pie.entrypoints.cli import render_forecasts as render
    from pie.services import simulation as svc

    st = state(ctx)
    cutoffs = [m for m in (parse_moment(c, "--cutoff") for c in cutoff) if m is not None]
    _check_engine(engine, scheduler)

    if (log is None) != (mapping is None):
        fail("--log and --mapping go together")

    async def work(c: Container) -> BacktestRead:
        if log is not None and mapping is not None:
            from pie.services.schemas import BacktestRead

            report = await svc.backtest_log(
                log,
                mapping,
                cutoffs=cutoffs,
                horizon_days=horizon,
                runs=runs,
                seed=seed,
                engine=where,
            )
            return BacktestRead.of(report)
        uow = c.uow(await tenant_id(st, c))
        return await svc.backtest(
            uow, cutoffs=cutoffs, horizon_days=horizon, runs=runs, seed=seed, engine=where
        )

    with (
        simulation_engine(engine, scheduler) as where,
        working("back-testing: forecasting at past cutoffs and scoring"),
    ):
        report = run(st, work, migrate=log is None)
    if as_json:
        print_json(report)
    else:
        console.print(render.backtest(report))


def _check_engine(engine: str, scheduler: str | None) -> None:
    if engine not in ("local", "dask"):
        fail(f"unknown --engine {engine!r}: use local or dask")
    if scheduler and engine != "dask":
        fail("--scheduler needs --engine dask")
