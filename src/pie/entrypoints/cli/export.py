"""`pie export eventlog`: PIE's history for process-mining tools."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from pie.entrypoints.cli.common import err_console, fail, print_json, run, state, tenant_id

if TYPE_CHECKING:
    from pie.bootstrap import Container
    from pie.domain.history import DealHistory

app = typer.Typer(help="Export PIE's data for other tools.")


class EventLogFormat(StrEnum):
    XES = "xes"
    OCEL = "ocel"


@app.command("eventlog")
def eventlog(
    ctx: typer.Context,
    out: Path = typer.Argument(..., help="File to write, or - for standard output"),
    fmt: EventLogFormat = typer.Option(EventLogFormat.XES, "--format", help="xes or ocel"),
    as_json: bool = typer.Option(False, "--json", help="Print what was written as JSON"),
) -> None:
    """Every deal's stage history as an XES (IEEE 1849) or OCEL 2.0 JSON event log."""
    from pie.mining.eventlog_export import write_ocel, write_xes
    from pie.services.histories import load_histories

    st = state(ctx)
    if as_json and str(out) == "-":
        fail("--json needs a file to write the event log to (the JSON goes to standard output)")

    async def work(c: Container) -> list[DealHistory]:
        return await load_histories(c.uow(await tenant_id(st, c)))

    histories = run(st, work)
    writer = write_xes if fmt is EventLogFormat.XES else write_ocel
    if str(out) == "-":
        events = writer(histories, sys.stdout)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        events = writer(histories, out)
    if as_json:
        print_json(
            {"file": str(out), "format": str(fmt), "events": events, "deals": len(histories)}
        )
    else:
        err_console.print(f"wrote {events:,} events of {len(histories):,} deals ({fmt})")
