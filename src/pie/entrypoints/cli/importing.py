"""`pie import` and `pie generate`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from pie.entrypoints.cli.common import console, err_console, print_json, run, state, tenant_id
from pie.entrypoints.cli.progress import import_progress, progress_bar

if TYPE_CHECKING:
    from pie.bootstrap import Container
    from pie.importing.report import ImportReport


def report_table(report: ImportReport) -> Table:
    from pie.importing.report import KIND_ORDER

    table = Table(title=f"Imported {report.file} ({report.format}, source {report.source})")
    for col in ("records", "created", "updated", "unchanged", "skipped"):
        table.add_column(col, justify="left" if col == "records" else "right")
    for kind in KIND_ORDER:
        c = report.count(kind)
        table.add_row(
            str(kind), *(f"{n:,}" for n in (c.created, c.updated, c.unchanged, c.skipped))
        )
    return table


def import_command(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="The file to import"),
    fmt: str | None = typer.Option(
        None,
        "--format",
        help="pie-json, salesforce-csv, hubspot-csv, xes, eventlog-csv (default: detected)",
    ),
    source: str | None = typer.Option(None, help="Source the file's ids belong to"),
    stage_map: Path | None = typer.Option(None, "--stage-map", help="Stage mapping TOML"),
    history: Path | None = typer.Option(None, "--history", help="Stage-history CSV"),
    skip_bad_rows: bool = typer.Option(
        False, "--skip-bad-rows", help="Store the good rows, count the bad ones by reason"
    ),
    show_rejected: int = typer.Option(
        20, "--show-rejected", min=0, help="With --skip-bad-rows: how many bad rows to list"
    ),
    rejected_file: Path | None = typer.Option(
        None,
        "--rejected-file",
        dir_okay=False,
        help="With --skip-bad-rows: write every bad row here (.csv, else JSON lines)",
    ),
    mapping: Path | None = typer.Option(
        None, "--mapping", help="Event-log mapping TOML (activities -> stages)"
    ),
    sort_events: bool = typer.Option(
        False, "--sort-events", help="Event logs: sort each case's events by time"
    ),
    no_conversations: bool = typer.Option(
        False,
        "--no-conversations",
        help="Do not run the intelligence pipeline on the activities with content it brings",
    ),
    seller_domain: list[str] = typer.Option(
        [], "--seller-domain", help="An email domain of your own people (repeatable)"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON"),
) -> None:
    """Import a file into the tenant's store, in one transaction (all or nothing)."""
    from pie.importing import import_file

    st = state(ctx)
    total = sum(f.stat().st_size for f in (file, history) if f is not None and f.is_file())

    async def work(c: Container) -> ImportReport:
        tid = await tenant_id(st, c)
        with import_progress(f"importing {file.name}", total) as (advance_to, conversations_to):
            hook = None
            if not no_conversations:
                hook = c.import_hook(
                    tid, seller_domains=tuple(seller_domain), progress=conversations_to
                )
            return await import_file(
                c.uow(tid, writes=True),
                file,
                format=fmt,
                source=source,
                stage_map=stage_map,
                history=history,
                skip_bad_rows=skip_bad_rows,
                suggestions_dir=st.settings.data_dir,
                progress=lambda done, _total: advance_to(done),
                mapping=mapping,
                sort_events=sort_events,
                show_rejected=show_rejected,
                rejected_file=rejected_file,
                after=hook,
            )

    report = run(st, work)
    if as_json:
        print_json(report.to_dict())
    else:
        console.print(report_table(report))
    for rejected in report.rejected:
        err_console.print(
            f"skipped {rejected.source} {rejected.record} field {rejected.field!r}: "
            f"{rejected.problem}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    if line := rejected_line(report):
        err_console.print(line, highlight=False, markup=False, soft_wrap=True)
    if line := kept_line(report):
        err_console.print(line, highlight=False, markup=False, soft_wrap=True)
    if line := conversations_line(report):
        err_console.print(line, highlight=False, markup=False, soft_wrap=True)


def conversations_line(report: ImportReport) -> str:
    """What the intelligence pipeline did with the conversations the import brought, or ""."""
    done = report.conversations
    if done is None:
        return ""
    if done.error:
        return f"conversations: not processed: {done.error}"
    if not done.processed:
        return ""
    return (
        f"conversations: {done.processed:,} processed, {done.deals_created:,} deals created, "
        f"{done.stage_moves:,} stage moves"
    )


def rejected_line(report: ImportReport, top: int = 5) -> str:
    """One line when more records were rejected than listed: how many, why, where they all
    are; or ""."""
    unlisted = report.rejected_total - len(report.rejected)
    if unlisted <= 0:
        return ""
    reasons = report.reasons_by_count()
    why = "; ".join(f"{reason} ({n:,})" for reason, n in reasons[:top])
    more = f"; {len(reasons) - top:,} other reason(s)" if len(reasons) > top else ""
    where = (
        f"all are in {report.rejected_file}"
        if report.rejected_file
        else "--rejected-file PATH writes them all"
    )
    return (
        f"skipped {report.rejected_total:,} record(s), {unlisted:,} not listed here; "
        f"by reason: {why}{more}; {where}"
    )


def kept_line(report: ImportReport) -> str:
    """One line when the ownership policy refused writes, or ""."""
    if not report.kept:
        return ""
    origins = sorted({k.kept_origin for k in report.kept})
    fields = sorted({f"{k.entity.value}.{k.field}" for k in report.kept})
    shown = ", ".join(fields[:5]) + (", ..." if len(fields) > 5 else "")
    return (
        f"kept {len(report.kept):,} stored value(s) of {', '.join(origins)} that "
        f"{report.source} may not overwrite ({shown}); the report's 'kept' lists them (--json)"
    )


def generate_command(
    out: Path = typer.Argument(..., dir_okay=False, help="Where to write the JSON sample"),
    deals: int = typer.Option(3000, "--deals", "-n", min=1, help="Number of deals"),
    seed: int = typer.Option(7, "--seed", help="Random seed (same seed, same file)"),
    conversations: bool = typer.Option(True, "--conversations/--no-conversations"),
    as_json: bool = typer.Option(False, "--json", help="Print what was written as JSON"),
) -> None:
    """Write a realistic sample world in PIE's JSON format, with its ground truth beside it."""
    from pie.sample import generate

    out.parent.mkdir(parents=True, exist_ok=True)
    with progress_bar(f"generating {deals:,} deals", deals) as advance_to:
        made = generate(
            out, deals=deals, seed=seed, conversations=conversations, progress=advance_to
        )
    if as_json:
        print_json({"seed": seed, **dataclasses.asdict(made)})
    else:
        console.print(f"wrote {out} and its ground truth beside it")
