"""`pie sync run | status | log`: the two-way sync with Notion (see docs/sync.md)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from pie.entrypoints.cli.common import console, fail, print_json, run, state, tenant_id

if TYPE_CHECKING:
    from pie.bootstrap import Container
    from pie.services.schemas.sync import SyncLogRead, SyncRunRead, SyncStatusRead

app = typer.Typer(help="Two-way sync with the CRM (Notion): run it, see its status and log.")
AS_JSON = typer.Option(False, "--json", help="Print JSON")


@app.command("run")
def run_command(
    ctx: typer.Context,
    once: bool = typer.Option(False, "--once", help="Run one sync pass and stop"),
    every: float | None = typer.Option(
        None, "--every", min=1.0, help="Run a pass every SECONDS until interrupted"
    ),
    rate: float | None = typer.Option(
        None,
        "--rate",
        help="Requests a second the sync may send to Notion (kept for later runs; "
        "default 2.5, Notion allows about 3)",
    ),
    as_json: bool = AS_JSON,
) -> None:
    """Sync PIE and Notion both ways: pull edits made in Notion, push PIE's changes."""
    from pie.services.schemas.sync import SyncRunRead

    if once == (every is not None):
        fail("give exactly one of --once or --every SECONDS")
    st = state(ctx)

    async def work(c: Container) -> list[SyncRunRead]:
        tid = await tenant_id(st, c)
        reports: list[SyncRunRead] = []
        async with c.crm_sync(tid, interval=every or 60.0, rate=rate) as engine:
            while True:
                report = await engine.run_once()
                read = SyncRunRead(
                    **{k: v for k, v in vars(report).items() if k in SyncRunRead.model_fields}
                    | {"status": report.status.value, "rate": engine.limiter.rate}
                )
                reports.append(read)
                if once:
                    return reports
                _show_run(read, as_json)
                await asyncio.sleep(every or 60.0)

    try:
        reports = run(st, work)
    except KeyboardInterrupt:  # pragma: no cover - interactive
        raise typer.Exit(0) from None
    _show_run(reports[-1], as_json)


def _show_run(r: SyncRunRead, as_json: bool) -> None:
    if as_json:
        print_json(r.model_dump(mode="json"))
        return
    console.print(
        f"sync {r.status}: pulled {r.pulled}, applied {r.applied}, pushed {r.pushed} "
        f"(+{r.created_remote} new in Notion, +{r.created_local} new in PIE), "
        f"{r.conflicts} conflict(s), {r.requests} request(s) at <= {r.rate:g}/s"
        + (f", throttled {r.throttled}x" if r.throttled else "")
    )
    for error in r.errors[:10]:
        console.print(f"  error: {error}", markup=False)


@app.command("resume")
def resume_command(ctx: typer.Context, as_json: bool = AS_JSON) -> None:
    """Lift a pause (after a 401/403 was fixed, e.g. a new token with `pie notion setup`)."""
    from pie.services import sync as service

    st = state(ctx)

    async def work(c: Container) -> SyncStatusRead:
        tid = await tenant_id(st, c)
        async with c.crm_sync(tid) as engine:
            await engine.resume()
        return await service.status(c.uow(tid))

    s = run(st, work)
    if as_json:
        print_json(s.model_dump(mode="json"))
        return
    console.print(f"{s.connection}: {s.status}")


@app.command("status")
def status_command(ctx: typer.Context, as_json: bool = AS_JSON) -> None:
    """Where the sync stands: status, cursors, pending changes, links, errors, conflicts."""
    from pie.services import sync as service

    st = state(ctx)

    async def work(c: Container) -> SyncStatusRead:
        return await service.status(c.uow(await tenant_id(st, c)))

    s = run(st, work)
    if as_json:
        print_json(s.model_dump(mode="json"))
        return
    last = s.last_run_at.isoformat(timespec="seconds") if s.last_run_at else "never"
    console.print(f"[bold]{s.connection}[/]: {s.status}" + (f" ({s.reason})" if s.reason else ""))
    console.print(f"last run     {last}")
    console.print(f"linked       {', '.join(f'{v} {k}(s)' for k, v in s.linked.items())}")
    console.print(f"pending      {s.pending_changes} change(s) after seq {s.outbox_seq}")
    console.print(f"errors       {s.errors} record(s) rejected by Notion")
    console.print(f"conflicts    {s.conflicts} (pie sync log)")
    for kind, cursor in sorted(s.cursors.items()):
        console.print(f"cursor       {kind}: {cursor}")


@app.command("log")
def log_command(
    ctx: typer.Context,
    after: int = typer.Option(0, "--after", min=0, help="Only entries after this id"),
    limit: int = typer.Option(50, "--limit", min=1, max=1000, help="At most this many"),
    as_json: bool = AS_JSON,
) -> None:
    """Every conflict the sync decided: field, both values, the winner and the rule."""
    from pie.services import sync as service

    st = state(ctx)

    async def work(c: Container) -> SyncLogRead:
        return await service.log(c.uow(await tenant_id(st, c)), after=after, limit=limit)

    page = run(st, work)
    if as_json:
        print_json(page.model_dump(mode="json"))
        return
    table = Table(box=None, pad_edge=False)
    for col in ("id", "record", "field", "PIE", "Notion", "winner", "rule"):
        table.add_column(col, overflow="fold")
    for c in page.conflicts:
        table.add_row(
            str(c.id),
            f"{c.kind} {str(c.pie_id)[:8]}",
            "(record)" if c.field == "_record" else c.field,  # a delete or trash
            _text(c.local),
            _text(c.remote),
            "PIE" if c.winner == "pie" else "Notion",
            c.rule,
        )
    console.print(table)
    tail = f"; next: --after {page.next_after}" if page.next_after else ""
    console.print(f"{len(page.conflicts)} of {page.total} conflict(s){tail}")


def _text(value: Any) -> str:
    return "-" if value is None else str(value)
