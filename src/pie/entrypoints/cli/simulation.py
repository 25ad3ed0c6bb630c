"""`pie mine`, `pie simulate`, `pie forecast` and `pie backtest`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from pie.bootstrap import Container
from pie.domain.errors import InvalidInput
from pie.domain.model import EntityKind
from pie.domain.stages import ALL_STAGES
from pie.entrypoints.cli import render
from pie.entrypoints.cli.common import console, err_console, print_json, run, state, tenant_id
from pie.entrypoints.cli.deals import resolve_id
from pie.mining import ProcessModel
from pie.mining.effects import stage_effects
from pie.services import simulation as svc
from pie.simulation import DealForecast, DealSimulation, PeriodForecast, ScenarioResult
from pie.simulation.backtest import BacktestReport


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


def context_effects(model: ProcessModel, exits: dict[str, int]) -> list[dict[str, Any]]:
    """P(advance) per stage that occurs in the data; factor effects only with evidence."""
    return stage_effects(model, exits)


def mine_command(
    ctx: typer.Context,
    as_of: str | None = typer.Option(None, "--as-of", help="Mine what was known then"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Mine the stage process: transitions, time in stage and context effects."""
    st = state(ctx)

    async def work(c: Container) -> svc.Mined:
        return await svc.mine(c.uow(await tenant_id(st, c)), as_of=parse_moment(as_of, "--as-of"))

    mined = run(st, work)
    model, dfg = mined.world.model, mined.dfg
    counts, median = dfg.counts(), dfg.seconds("median")
    exits: dict[str, int] = {}
    for (frm, _), n in counts.items():
        exits[frm] = exits.get(frm, 0) + n
    transitions = [
        {
            "from": frm,
            "to": to,
            "count": n,
            "share": n / exits[frm],
            "median_days": median[(frm, to)] / 86400,
        }
        for (frm, to), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    effects = context_effects(model, exits)
    suff = model.sufficiency
    if as_json:
        print_json(
            {
                "as_of": mined.world.as_of.isoformat(),
                "deals": len(mined.world.histories),
                "sufficiency": {
                    "level": str(suff.level),
                    "won": suff.won,
                    "lost": suff.lost,
                    "message": suff.message,
                },
                "icp_industries": sorted(model.icp_industries),
                "transitions": transitions,
                "stages": effects,
                "evidence": [e.to_dict() for e in model.evidence.values()],
            }
        )
        return
    names = [str(s) for s in ALL_STAGES]
    table = Table(title=f"Stage transitions (share of exits), {len(mined.world.histories):,} deals")
    table.add_column("from \\ to")
    present = [n for n in names if any(t["to"] == n for t in transitions)]
    for name in present:
        table.add_column(name, justify="right")
    table.add_column("exits", justify="right")
    for frm in names:
        if frm not in exits:
            continue
        share = {t["to"]: t["share"] for t in transitions if t["from"] == frm}
        table.add_row(
            frm, *(f"{share[n]:.0%}" if n in share else "" for n in present), f"{exits[frm]:,}"
        )
    console.print(table)
    eff = Table(title="Odds of advancing (mined, per stage visit)")
    for col in ("stage", "→", "exits", "mean days", "P(advance)", "+ champion", "+ blocker"):
        eff.add_column(col, justify="left" if col in ("stage", "→") else "right")
    for r in effects:
        eff.add_row(
            r["stage"],
            r["advance_to"],
            f"{r['exits']:,}",
            f"{r['mean_dwell_days']:.0f}",
            f"{r['p_advance']:.0%}",
            _pct(r["p_advance_with_champion"]),
            _pct(r["p_advance_with_blocker"]),
        )
    console.print(eff)
    for found in model.evidence.values():
        console.print(found.message())
    console.print(f"as of {mined.world.as_of:%Y-%m-%d %H:%M} UTC. {suff.message}")
    if model.icp_industries:
        console.print(f"ideal-customer industries: {', '.join(sorted(model.icp_industries))}")


def _pct(p: float | None) -> str:
    return "–" if p is None else f"{p:.0%}"


def _interval(ci: tuple[float, float], pct: bool = False) -> str:
    return f"[{ci[0]:.0%}, {ci[1]:.0%}]" if pct else f"[{ci[0]:.0f}, {ci[1]:.0f}]"


def simulation_dict(s: DealSimulation) -> dict[str, Any]:
    return {
        "deal_id": str(s.deal_id),
        "runs": s.runs,
        "p_win": s.p_win,
        "p_win_ci": list(s.p_win_ci),
        "expected_days": s.expected_days,
        "expected_days_ci": list(s.expected_days_ci),
        "days_p10_p50_p90": list(s.days_quantiles),
        "expected_value": s.expected_value,
        "expected_value_ci": list(s.expected_value_ci),
        "won_value_p10_p50_p90": list(s.value_quantiles),
        "confidence": 0.95,
    }


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
    seed: int = typer.Option(0, "--seed"),
    as_of: str | None = typer.Option(None, "--as-of"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Simulate a deal's outcome, or a scenario against its baseline."""
    st = state(ctx)

    async def work(c: Container) -> DealSimulation | ScenarioResult:
        tid = await tenant_id(st, c)
        deal_id = await resolve_id(c.uow(tid), EntityKind.DEAL, deal)
        return await svc.simulate_deal(
            c.uow(tid),
            deal_id,
            scenario=scenario,
            runs=runs,
            seed=seed,
            as_of=parse_moment(as_of, "--as-of"),
        )

    result = run(st, work)
    if isinstance(result, ScenarioResult):
        if as_json:
            print_json(result.to_dict())
            return
        table = Table(title=f"Scenario {result.scenario} ({result.runs:,} runs, common numbers)")
        for col in ("", "P(win)", "95% CI", "days to close", "95% CI"):
            table.add_column(col, justify="right")
        for name, arm in (
            ("baseline", result.baseline),
            ("modified", result.modified),
            ("delta", result.delta),
        ):
            sign = "+" if name == "delta" else ""
            table.add_row(
                name,
                f"{arm.p_win:{sign}.1%}",
                _interval(arm.p_win_ci, pct=True),
                f"{arm.days:{sign}.1f}",
                _interval(arm.days_ci),
            )
        console.print(table)
        return
    if as_json:
        print_json(simulation_dict(result))
        return
    console.print(
        f"P(win) {result.p_win:.1%} {_interval(result.p_win_ci, pct=True)}, "
        f"expected {result.expected_days:.0f} days to close {_interval(result.expected_days_ci)} "
        f"(P10/P50/P90 {'/'.join(f'{d:.0f}' for d in result.days_quantiles)}), "
        f"expected value {result.expected_value:,.0f} ({result.runs:,} runs, 95% intervals)"
    )


def _deal_forecast_text(f: DealForecast) -> None:
    table = Table(title="Forecast")
    for col in ("scenario", "P(win)", "days to close"):
        table.add_column(col, justify="left" if col == "scenario" else "right")
    for t in f.scenarios:
        table.add_row(t.name, f"{t.p_win:.1%}", f"{t.days:.0f}")
    console.print(table)
    recs = Table(title="Recommendations (ranked by simulated impact)")
    recs.add_column("action")
    recs.add_column("impact")
    for r in f.recommendations:
        recs.add_row(r.action, r.impact)
    console.print(recs if f.recommendations else "No recommendation the data supports.")
    for note in f.notes:
        console.print(note)


def forecast_command(
    ctx: typer.Context,
    target: str = typer.Argument(
        ..., metavar="DEAL|pipeline", help="A deal (id or SOURCE:ID), or `pipeline`"
    ),
    period: list[str] = typer.Option(
        [], "--period", "-p", help="2026Q1, 2026-03 or 2026 (repeatable; pipeline only)"
    ),
    runs: int = typer.Option(10_000, "--runs", min=100, max=1_000_000),
    seed: int = typer.Option(0, "--seed"),
    as_of: str | None = typer.Option(None, "--as-of"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """A deal's trajectory, best and worst case and ranked recommendations; or, with
    `pipeline`, the distribution of won value per period over all open deals."""
    st = state(ctx)
    moment = parse_moment(as_of, "--as-of")
    if target == "pipeline":

        async def pipeline(c: Container) -> tuple[svc.World, list[PeriodForecast]]:
            uow = c.uow(await tenant_id(st, c))
            return await svc.forecast_pipeline(
                uow, period, runs=min(runs, 20_000), seed=seed, as_of=moment
            )

        world, forecasts = run(st, pipeline)
        if as_json:
            print_json(svc.pipeline_dict(world, forecasts))
        else:
            console.print(render.pipeline_forecast(forecasts, as_of=world.as_of))
        return
    if period:
        err_console.print("--period applies to `pie forecast pipeline` only; ignored")

    async def deal(c: Container) -> DealForecast:
        tid = await tenant_id(st, c)
        deal_id = await resolve_id(c.uow(tid), EntityKind.DEAL, target)
        return await svc.forecast_deal(c.uow(tid), deal_id, runs=runs, seed=seed, as_of=moment)

    forecast = run(st, deal)
    if as_json:
        print_json(forecast.to_dict())
    else:
        _deal_forecast_text(forecast)


def backtest_command(
    ctx: typer.Context,
    cutoff: list[str] = typer.Option(
        [], "--cutoff", help="Forecast as of this date (repeatable; default: three cutoffs)"
    ),
    horizon: int | None = typer.Option(None, "--horizon", min=1, help="Score wins within N days"),
    runs: int = typer.Option(2_000, "--runs", min=100, max=100_000),
    seed: int = typer.Option(0, "--seed"),
    log: Path | None = typer.Option(
        None, "--log", help="Back-test this XES or CSV event log instead of the store"
    ),
    mapping: Path | None = typer.Option(
        None, "--mapping", help="The log's mapping file (TOML; see docs/eventlog.md)"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Forecast every deal open at past cutoffs with only what was known then, and score the
    forecasts against what happened, next to three baselines. With --log and --mapping, the
    deals are the cases of an event log and no store is used."""
    st = state(ctx)
    cutoffs = [m for m in (parse_moment(c, "--cutoff") for c in cutoff) if m is not None]
    if (log is None) != (mapping is None):
        err_console.print("error: --log and --mapping go together")
        raise typer.Exit(1)

    async def work(c: Container) -> BacktestReport:
        if log is not None and mapping is not None:
            return await svc.backtest_log(
                log, mapping, cutoffs=cutoffs, horizon_days=horizon, runs=runs, seed=seed
            )
        uow = c.uow(await tenant_id(st, c))
        return await svc.backtest(uow, cutoffs=cutoffs, horizon_days=horizon, runs=runs, seed=seed)

    report = run(st, work, migrate=log is None)
    data = report.to_dict()
    if as_json:
        print_json(data)
        return
    console.print(render.backtest(data))
