"""`pie demo`: the whole journey on the embedded default, with no arguments and no network."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import typer

from pie.domain.summary import PipelineSummary
from pie.entrypoints.cli import render
from pie.entrypoints.cli.common import State, console, err_console, print_json, run, state
from pie.entrypoints.cli.progress import import_progress, progress_bar

if TYPE_CHECKING:
    from pie.bootstrap import Container
    from pie.domain.model import Deal
    from pie.importing.report import ImportReport
    from pie.services.intel_reads import DealIntelligence, PlanView
    from pie.services.political_map import PoliticalMap
    from pie.services.report import Report
    from pie.services.schemas.connections import SyncResult

DEMO_TENANT = "demo"
#: The sample world's sellers write from this domain (pie.sample.deals).
SAMPLE_SELLER_DOMAIN = "pie-demo.example"
#: Deals the demo shows with what the pipeline found in their conversations.
DEMO_INTEL_DEALS = 3


@dataclass(frozen=True)
class DemoResult:
    tenant_id: UUID
    api_key: str | None
    imported: ImportReport | SyncResult
    summary: PipelineSummary
    report: Report
    #: deals shown with their intelligence (the generated sample's conversations only)
    intel: list[DemoDeal] = field(default_factory=list)


@dataclass(frozen=True)
class DemoDeal:
    """A sample deal after its conversations went through the intelligence pipeline."""

    deal: Deal
    intelligence: DealIntelligence
    political_map: PoliticalMap | None
    plan: PlanView
    processed: int


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
    # as every import: the intelligence pipeline then reads the sample's conversations (about
    # 8,000 at the default size, a minute or two on one core)
    with import_progress(f"importing {sample.name}", size) as (advance_to, conversations_to):
        hook = c.import_hook(tid, seller_domains=(SAMPLE_SELLER_DOMAIN,), progress=conversations_to)
        imported = await import_file(
            c.uow(tid, writes=True),
            sample,
            suggestions_dir=st.settings.data_dir,
            progress=lambda done, _total: advance_to(done),
            after=hook,
        )
    summary = await pipeline_summary(c.uow(tid))
    with err_console.status("mining, forecasting the open pipeline and back-testing"):
        report = await build_report(c.uow(tid), title="PIE demo: the sample pipeline")
    processed = imported.conversations.processed if imported.conversations else 0
    intel = await _intelligence(c, tid, processed)
    return DemoResult(tid, key, imported, summary, report, intel)


async def _intelligence(c: Container, tid: UUID, processed: int) -> list[DemoDeal]:
    """A few open deals with conversations, read back after the import's pipeline ran:
    qualification with evidence, the account's political map and the opportunity plan."""
    from datetime import UTC, datetime

    from pie.ports.repositories import DealFilter
    from pie.services.intel_reads import deal_intelligence, plan_view
    from pie.services.political_map import political_map

    async with c.uow(tid) as uow:
        chosen: list[Deal] = []
        for deal in await uow.deals.list(DealFilter(is_open=True), limit=200):
            talks = [a for a in await uow.activities.for_deal(deal.id) if a.raw_content]
            if len(talks) >= 2 and deal.account_id is not None:
                chosen.append(deal)
            if len(chosen) == DEMO_INTEL_DEALS:
                break
    out: list[DemoDeal] = []
    now = datetime.now(UTC)
    for deal in chosen:
        di = await deal_intelligence(c.uow(tid), deal.id)
        async with c.uow(tid) as uow:
            pm = await political_map(uow, deal.account_id) if deal.account_id else None
            fresh = await uow.deals.get(deal.id)
        plan = await plan_view(c.uow(tid, writes=True), str(deal.id), now=now, only="deal")
        out.append(DemoDeal(fresh or deal, di, pm, plan, processed))
    return out


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
        # the intelligence pipeline on the emulator's conversations would make the demo
        # minutes long: `pie conversations reprocess --pending` runs it
        deps = dataclasses.replace(c.sync_deps(), after_import=None)
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
        "intelligence": [_intel_dict(d) for d in result.intel],
    }


def _intel_dict(d: DemoDeal) -> dict[str, Any]:
    from pie.services.schemas.intelligence import PoliticalMapRead, QualificationRead

    return {
        "deal_id": str(d.deal.id),
        "name": d.deal.name,
        "qualification": QualificationRead.of(d.intelligence.qualification).model_dump(mode="json"),
        "political_map": PoliticalMapRead.of(d.political_map).model_dump(mode="json")
        if d.political_map
        else None,
        "plan": d.plan.markdown,
    }


def _print_demo(st: State, result: DemoResult, report_path: Path) -> None:
    from pie.entrypoints.cli import render_forecasts
    from pie.entrypoints.cli.importing import conversations_line, report_table
    from pie.importing.report import ImportReport as FileReport
    from pie.services.schemas import BacktestRead, PeriodForecastRead

    if isinstance(result.imported, FileReport):
        console.print(report_table(result.imported))
        if line := conversations_line(result.imported):
            console.print(line, highlight=False, markup=False)
    else:
        from pie.entrypoints.cli.sources import print_result

        print_result(result.imported)
    console.print(render.summary(result.summary, width=console.width))
    periods = [PeriodForecastRead.of(f) for f in result.report.forecasts]
    console.print(render_forecasts.pipeline_forecast(periods))
    console.print(render_forecasts.backtest(BacktestRead.of(result.report.backtest)))
    _print_intelligence(result.intel)
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
    if result.intel:
        first = result.intel[0].deal
        console.print(
            f"deal intelligence: [bold]pie -t demo deals explain {first.id}[/], "
            f"[bold]pie -t demo plans show {first.id}[/], "
            "[bold]pie -t demo stakeholders map ACCOUNT[/]"
        )


def _print_intelligence(deals: list[DemoDeal]) -> None:
    from pie.entrypoints.cli.intelligence import deal_intelligence_renderables, map_table

    if not deals:
        return
    console.rule("Deal intelligence from the sample's conversations")
    for d in deals:
        console.print(f"[bold]{d.deal.name}[/] ({d.deal.stage})", highlight=False)
        console.print(deal_intelligence_renderables(d.intelligence)[0])
        if d.political_map is not None:
            console.print(map_table(d.political_map))
        lines = d.plan.markdown.splitlines()
        console.print("\n".join(lines[:14]) + ("\n..." if len(lines) > 14 else ""), markup=False)
