"""`pie deals stage-rules` (the tenant's stage evidence requirements and stalled-after days)
and `pie deals stall-check` (stall quiet deals now); the API has the same shapes
(`GET/PUT /api/stage-rules`, `POST /api/deals/stall-check`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from pie.domain.errors import InvalidInput
from pie.entrypoints.cli.common import console, print_json, run, state, tenant_id

if TYPE_CHECKING:
    from pie.bootstrap import Container
    from pie.services.schemas.stage_rules import StageRulesRead, StallReportRead


def stage_rules_command(
    ctx: typer.Context,
    file: Path | None = typer.Argument(
        None, help="JSON settings to save (stages not named get the default)"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """The tenant's stage evidence requirements and stalled-after days; with FILE, set them."""
    import json

    from pie.services.intel_reads import progression_settings
    from pie.services.schemas.stage_rules import StageRulesRead, read_stage_rules

    new = None
    if file is not None:
        try:
            document = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise InvalidInput(f"{file}: {err}") from None
        new = read_stage_rules(document, source=str(file)).to_domain()
    st = state(ctx)

    async def work(c: Container) -> StageRulesRead:
        tid = await tenant_id(st, c)
        return StageRulesRead.of(await progression_settings(c.uow(tid, writes=True), new))

    rules = run(st, work)
    if as_json:
        print_json(rules)
        return
    t = Table(title=f"Stage requirements (stalled after {rules.stalled_after_days} days)")
    for col in ("stage", "BANT", "MEDDIC", "interactions", "signals"):
        t.add_column(col, overflow="fold")
    for stage, req in rules.stage_requirements.items():
        t.add_row(
            stage,
            f"{req.min_bant_completion:.2f}",
            f"{req.min_meddic_completion:.2f}",
            str(req.min_interactions),
            ", ".join(req.required_signals) or "—",
        )
    console.print(t)


def stall_check_command(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Stall open deals with no activity for the stalled-after days (a stage a person set
    stays). `pie worker` runs this hourly; new activity revives a stalled deal."""
    from datetime import UTC, datetime

    from pie.services.schemas.stage_rules import StallReportRead
    from pie.services.stalling import check_tenant

    st = state(ctx)

    async def work(c: Container) -> StallReportRead:
        tid = await tenant_id(st, c)
        report = await check_tenant(c.uow(tid, writes=True), now=datetime.now(UTC))
        return StallReportRead.of(report)

    report = run(st, work)
    if as_json:
        print_json(report)
        return
    console.print(
        f"Checked {report.open_deals} open deals: {len(report.stalled)} stalled "
        f"(no activity for {report.stalled_after_days} days)",
        highlight=False,
    )
    for d in report.stalled:
        last = f"{d.last_activity:%Y-%m-%d}" if d.last_activity else "never"
        console.print(f"  stalled  {d.name} (was {d.from_stage}; last {last})", highlight=False)
    for k in report.kept:
        console.print(
            f"  kept     {k.name} ({k.stage}, set by {k.stage_owner or 'someone'})",
            highlight=False,
        )
