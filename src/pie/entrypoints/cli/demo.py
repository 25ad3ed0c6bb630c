"""`pie demo`: the whole journey on the embedded default, with no arguments and no network."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import typer

from pie.domain.summary import PipelineSummary
from pie.entrypoints.cli import render
from pie.entrypoints.cli.common import State, console, err_console, print_json, run, state
from pie.entrypoints.cli.progress import progress_bar

if TYPE_CHECKING:
    from pie.bootstrap import Container
    from pie.importing.report import ImportReport
    from pie.services.report import Report
    from pie.services.schemas.connections import SyncResult

DEMO_TENANT = "demo"


@dataclass(frozen=True)
class DemoResult:
    tenant_id: UUID
    api_key: str | None
    imported: ImportReport | SyncResult
    summary: PipelineSummary
    report: Report


def demo(
    ctx: typer.Context,
    deals: int = typer.Option(3000, "--deals", "-n", min=100, help="Deals in the sample"),
    seed: int = typer.Option(7, "--seed", help="Sample seed"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (progress stays on stderr)"),
    emulator: str | None = typer.Option(
        None,
        "--emulator",
        help="Sync the deals from this vendor's local API emulator (salesforce, hubspot, "
        "pipedrive) instead of importing a sample file",
    ),
) -> None:
    """Create a demo tenant, generate a sample world, import it and summarise the pipeline."""
    st = state(ctx)
    if emulator:
        result = run(st, lambda c: _sync_and_report(st, c, emulator, deals, seed, as_json))
        _finish(st, result, as_json)
        return
    sample = st.settings.data_dir / "demo" / f"sample-{deals}-seed{seed}.json"
    if not sample.exists():
        from pie.sample import generate

        sample.parent.mkdir(parents=True, exist_ok=True)
        with progress_bar(f"generating {deals:,} sample deals", deals) as advance_to:
            generate(sample, deals=deals, seed=seed, progress=advance_to)
    size = sample.stat().st_size
    result = run(st, lambda c: _import_and_report(st, c, sample, size))
    _finish(st, result, as_json)


def _finish(st: State, result: DemoResult, as_json: bool) -> None:
    report_path = st.settings.data_dir / "demo" / "report.html"
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(result.report.html, encoding="utf-8")
    if as_json:
        print_json(_demo_dict(st, result, report_path))
    else:
        _print_demo(st, result, report_path)


async def _import_and_report(st: State, c: Container, sample: Path, size: int) -> DemoResult:
    from pie.importing.service import import_file
    from pie.services.deals import pipeline_summary
    from pie.services.report import build_report
    from pie.services.tenants import ensure_tenant

    tid, key = await ensure_tenant(c.tenants, DEMO_TENANT)
    with progress_bar(f"importing {sample.name}", size, in_bytes=True) as advance_to:
        imported = await import_file(
            c.uow(tid, writes=True),
            sample,
            suggestions_dir=st.settings.data_dir,
            progress=lambda done, _total: advance_to(done),
        )
    summary = await pipeline_summary(c.uow(tid))
    with err_console.status("mining, forecasting the open pipeline and back-testing"):
        report = await build_report(c.uow(tid), title="PIE demo: the sample pipeline")
    return DemoResult(tid, key, imported, summary, report)


async def _sync_and_report(
    st: State, c: Container, vendor: str, deals: int, seed: int, quiet: bool
) -> DemoResult:
    """Start the vendor's emulator here, connect the demo tenant to it, sync, report."""
    from pie.entrypoints.cli.sources import connect_args, stream_progress
    from pie.services import connections as svc
    from pie.services.deals import pipeline_summary
    from pie.services.report import build_report
    from pie.services.tenants import ensure_tenant
    from pie.sources import registry

    registry.connector(vendor)  # a vendor PIE can connect to
    emu = registry.emulator(vendor)
    with err_console.status(f"starting the {vendor} emulator with {deals:,} deals"):
        running = emu.serve("127.0.0.1", 0, registry.EmulatorOptions(seed=seed, deals=deals))
    try:
        options = connect_args(emu.connect_hint(running.base_url))
        base_url = options.pop("base_url", running.base_url)
        auth = options.pop("auth", None)
        options.pop("name", None)
        tid, key = await ensure_tenant(c.tenants, DEMO_TENANT)
        deps = c.sync_deps()
        conn, _ = await svc.connect(deps, tid, vendor, options, base_url=base_url, auth=auth)
        with stream_progress(quiet) as progress:
            synced = await svc.run_sync(deps, tid, conn.id, full=True, progress=progress)
    finally:
        running.stop()
    summary = await pipeline_summary(c.uow(tid))
    with err_console.status("mining, forecasting the open pipeline and back-testing"):
        report = await build_report(c.uow(tid), title=f"PIE demo: the {vendor} emulator")
    return DemoResult(tid, key, synced, summary, report)


def _demo_dict(st: State, result: DemoResult, report_path: Path) -> dict[str, Any]:
    from pydantic import BaseModel

    from pie.services.schemas import BacktestRead, PeriodForecastRead

    s = result.summary
    return {
        "tenant": {"id": str(result.tenant_id), "name": DEMO_TENANT},
        "api_key": result.api_key,
        "store": st.settings.effective_database_url,
        "report": str(report_path),
        "imported": (
            result.imported.model_dump(mode="json")
            if isinstance(result.imported, BaseModel)
            else result.imported.to_dict()
        ),
        "summary": {
            "deals": s.total,
            "open": s.open,
            "won": s.won,
            "lost": s.lost,
            "win_rate": s.win_rate,
            "median_cycle_days": s.median_cycle_days,
            "open_value": str(s.open_value),
        },
        "pipeline": {
            "as_of": result.report.mined.world.as_of.isoformat(),
            "periods": [
                PeriodForecastRead.of(f).model_dump(mode="json") for f in result.report.forecasts
            ],
        },
        "backtest": BacktestRead.of(result.report.backtest).model_dump(mode="json"),
    }


def _print_demo(st: State, result: DemoResult, report_path: Path) -> None:
    from pie.entrypoints.cli import render_forecasts
    from pie.entrypoints.cli.importing import report_table
    from pie.importing.report import ImportReport as FileReport
    from pie.services.schemas import BacktestRead, PeriodForecastRead

    if isinstance(result.imported, FileReport):
        console.print(report_table(result.imported))
    else:
        from pie.entrypoints.cli.sources import print_result

        print_result(result.imported)
    console.print(render.summary(result.summary, width=console.width))
    periods = [PeriodForecastRead.of(f) for f in result.report.forecasts]
    console.print(render_forecasts.pipeline_forecast(periods))
    console.print(render_forecasts.backtest(BacktestRead.of(result.report.backtest)))
    console.rule()
    console.print(f"report: [bold]{report_path}[/] (open it in a browser)")
    console.print(f"store: {st.settings.effective_database_url}")
    console.print(f"demo tenant: {DEMO_TENANT} ({result.tenant_id})")
    if result.api_key:
        console.print(f"demo API key (shown once): [bold]{result.api_key}[/]")
    console.print(
        "next: [bold]pie -t demo deals list --open[/], [bold]pie -t demo forecast "
        "pipeline[/], [bold]pie -t demo mine[/], [bold]pie -t demo backtest[/], [bold]pie serve[/]"
    )
