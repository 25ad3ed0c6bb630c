"""`pie connect`, `pie sources ...`, `pie worker` and `pie emulate`: connections to CRMs'
APIs, their syncs, the job worker, and the vendors' local emulators."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from pie.entrypoints.cli.common import (
    console,
    err_console,
    fail,
    print_json,
    run,
    state,
    tenant_id,
)

if TYPE_CHECKING:
    from pie.bootstrap import Container
    from pie.ports.connections import Connection
    from pie.services.schemas.connections import (
        ConnectionRead,
        ConnectRead,
        StatusRead,
        SyncResult,
    )
    from pie.sources.registry import AuthFlow, Connector

sources_app = typer.Typer(help="Connections to CRMs' APIs and their syncs.")
CONNECT_HELP = (
    "Connect PIE to a CRM's API: VENDOR is salesforce, hubspot, pipedrive (see `pie sources "
    "vendors` for each one's auth flows and fields).\n\n"
    "Give each field of the flow as an option (--client-id ID); a secret one left out is "
    "asked for without echo, or read from PIE_<VENDOR>_<FIELD> (PIE_PIPEDRIVE_API_TOKEN). "
    "The credentials are checked against the API, stored encrypted, and never printed. A "
    "first full sync starts unless --no-sync."
)


# --- pie connect ------


def connect_command(
    ctx: typer.Context,
    vendor: str = typer.Argument(..., help="salesforce, hubspot, pipedrive, ..."),
    name: str | None = typer.Option(None, "--name", help="The connection's name [VENDOR]"),
    auth: str | None = typer.Option(None, "--auth", help="Auth flow [the vendor's first]"),
    base_url: str | None = typer.Option(
        None, "--base-url", help="Another API address (an emulator, a sandbox)"
    ),
    schedule: int | None = typer.Option(
        None, "--schedule", min=1, help="Sync every N minutes (with `pie worker` running)"
    ),
    check: bool = typer.Option(True, "--check/--no-check", help="Try the credentials first"),
    sync: bool = typer.Option(True, "--sync/--no-sync", help="Run a first full sync now"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    st = state(ctx)
    values = _field_options(list(ctx.args))

    async def work(c: Container) -> tuple[ConnectRead, SyncResult | None]:
        from pie.services import connections as svc
        from pie.services.schemas.connections import ConnectRead
        from pie.sources import registry

        conn = registry.connector(vendor)
        flow = registry.auth_flow(conn, auth)
        _ask_for_secrets(conn, flow, values)
        tid = await tenant_id(st, c)
        deps = c.sync_deps()
        made, checked = await svc.connect(
            deps,
            tid,
            vendor,
            values,
            name=name,
            auth=flow.name,
            base_url=base_url,
            schedule_minutes=schedule,
            check=check,
        )
        result = None
        if sync:
            with stream_progress(as_json) as progress:
                result = await svc.run_sync(deps, tid, made.id, full=True, progress=progress)
        out = ConnectRead(
            connection_id=made.id,
            status=made.state,
            sync_started=sync,
            checked=checked,
        )
        return out, result

    made, result = run(st, work)
    if as_json:
        body: dict[str, Any] = made.model_dump(mode="json")
        body["sync"] = result.model_dump(mode="json") if result else None
        print_json(body)
        return
    if made.checked:
        console.print(f"credentials accepted: {escape(made.checked)}")
    console.print(f"connection {made.connection_id} saved ({made.status})")
    if result is not None:
        print_result(result)


def _field_options(args: list[str]) -> dict[str, str]:
    """``--client-id X --api-token=Y`` -> {"client_id": "X", "api_token": "Y"}."""
    values: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or arg == "--":
            fail(f"pie connect: unexpected argument {arg!r} (see pie connect --help)")
        key, eq, value = arg[2:].partition("=")
        if not eq:
            if i + 1 >= len(args) or args[i + 1].startswith("--"):
                fail(f"pie connect: --{key} needs a value")
            value = args[i + 1]
            i += 1
        values[key.replace("-", "_")] = value
        i += 1
    return values


def connect_args(command: str) -> dict[str, str]:
    """The options of a `pie connect VENDOR --opt value ...` line (an emulator's hint)."""
    import shlex

    words = shlex.split(command)
    if words[:2] != ["pie", "connect"] or len(words) < 3:
        fail(f"not a `pie connect` command: {command}")
    return _field_options(words[3:])


def _ask_for_secrets(conn: Connector, flow: AuthFlow, values: dict[str, str]) -> None:
    """Fill the flow's missing secret fields from PIE_<VENDOR>_<FIELD>, else a prompt (on a
    terminal), never echoed."""
    for f in flow.secret_fields():
        if values.get(f.name):
            continue
        env = f"PIE_{conn.vendor}_{f.name}".upper()
        if os.environ.get(env):
            values[f.name] = os.environ[env]
        elif f.required and sys.stdin.isatty():
            values[f.name] = typer.prompt(f"{conn.title} {f.help}", hide_input=True)


# --- progress and reports ------


@contextmanager
def stream_progress(quiet: bool) -> Iterator[Any]:
    """A bar per object type, counting records as they arrive (on stderr)."""
    if quiet or not err_console.is_terminal:
        yield None
        return
    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<22}"),
        BarColumn(),
        TextColumn("{task.completed:>9,} records"),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )
    tasks: dict[str, Any] = {}
    with bar:

        def progress(stream: str, done: int) -> None:
            if stream not in tasks:
                for other in tasks.values():  # streams come one after the other
                    bar.update(other, total=bar.tasks[other].completed)
                tasks[stream] = bar.add_task(escape(stream), total=None)
            bar.update(tasks[stream], completed=done)

        yield progress
        for task in tasks.values():
            bar.update(task, total=bar.tasks[task].completed)


def print_result(r: SyncResult) -> None:
    kind = "full" if r.full else "incremental"
    seconds = (r.finished_at - r.started_at).total_seconds()
    console.print(f"{kind} sync of {escape(r.connection)} {r.status} in {seconds:.1f}s")
    if r.streams:
        table = Table("object", "read", title=None, box=None, pad_edge=False)
        for stream, count in r.streams.items():
            table.add_row(escape(stream), f"{count.read:,}")
        console.print(table)
    if r.counts:
        table = Table("entity", "created", "updated", "unchanged", "skipped", "deleted", box=None)
        for kind_name, n in r.counts.items():
            table.add_row(
                kind_name,
                f"{n.created:,}",
                f"{n.updated:,}",
                f"{n.unchanged:,}",
                f"{n.skipped:,}",
                f"{n.deleted:,}",
            )
        console.print(table)
    if r.failed:
        table = Table("failed record", "field", "reason", box=None)
        for f in r.failed:
            table.add_row(escape(f.record_id or f.record), escape(f.field), escape(f.reason))
        console.print(table)
        if r.failed_total > len(r.failed):
            console.print(f"... and {r.failed_total - len(r.failed):,} more")
    if r.kept:
        console.print(f"{r.kept:,} field write(s) refused: a person's edit wins")
    if r.error:
        console.print(f"[bold red]stopped:[/] {escape(r.error)}")


# --- pie sources ... ------


@sources_app.command("list")
def list_command(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON")
) -> None:
    """The tenant's connections: vendor, schedule, state, last sync."""
    st = state(ctx)

    async def work(c: Container) -> list[ConnectionRead]:
        from pie.services.schemas.connections import ConnectionRead

        tid = await tenant_id(st, c)
        creds = c.credentials(tid)
        out = []
        for conn in await c.connections(tid).list():
            out.append(ConnectionRead.of(conn, await _field_names(creds, conn)))
        return out

    rows = run(st, work)
    if as_json:
        print_json([r.model_dump(mode="json") for r in rows])
        return
    if not rows:
        console.print("no connections yet: pie connect VENDOR (see pie connect --help)")
        return
    table = Table("name", "vendor", "schedule", "state", "last sync", "records", box=None)
    for r in rows:
        table.add_row(
            escape(r.name),
            r.vendor,
            f"{r.schedule_minutes} min" if r.schedule_minutes else "on demand",
            r.state,
            r.last_sync.strftime("%Y-%m-%d %H:%M") if r.last_sync else "never",
            f"{r.records_synced:,}" if r.records_synced is not None else "-",
        )
    console.print(table)


async def _field_names(creds: Any, conn: Connection) -> list[str]:
    from pie.domain.errors import NotConfigured

    try:
        stored = await creds.get(conn.credential)
    except NotConfigured:  # a key that no longer opens it: the listing still shows the rest
        return []
    return sorted(stored) if stored else []


@sources_app.command("sync")
def sync_command(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The connection's name (or id)"),
    full: bool = typer.Option(False, "--full", help="Read everything, not only what changed"),
    background: bool = typer.Option(
        False, "--background", help="Queue it for `pie worker` (PostgreSQL) and return"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Sync a connection now, with a progress bar per object type and a report."""
    st = state(ctx)

    async def work(c: Container) -> SyncResult | str:
        from pie.services import connections as svc

        tid = await tenant_id(st, c)
        deps = c.sync_deps()
        conn = await svc.find(deps, tid, name)
        if background:
            if not c.on_postgres:
                fail("--background needs the PostgreSQL store and `pie worker`: run without it")
            return await svc.start_sync(deps, c.job_queue(), tid, conn.id, full=full)
        with stream_progress(as_json) as progress:
            return await svc.run_sync(deps, tid, conn.id, full=full, progress=progress)

    result = run(st, work)
    if isinstance(result, str):
        if as_json:
            print_json({"job_id": result})
        else:
            console.print(f"queued: job {result} (pie sources status {escape(name)})")
        return
    if as_json:
        print_json(result)
    else:
        print_result(result)


@sources_app.command("status")
def status_command(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The connection's name (or id)"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """The connection's last sync (records, errors) and its latest job as the queue has it."""
    st = state(ctx)

    async def work(c: Container) -> StatusRead:
        from pie.services import connections as svc

        tid = await tenant_id(st, c)
        deps = c.sync_deps()
        conn = await svc.find(deps, tid, name)
        queue = c.job_queue() if c.on_postgres else None
        return await svc.status(deps, queue, tid, conn)

    s = run(st, work)
    if as_json:
        print_json(s)
        return
    last = s.last_sync.strftime("%Y-%m-%d %H:%M:%S UTC") if s.last_sync else "never"
    console.print(f"{escape(s.name)}: {s.state}; last sync {last}; {s.records_synced:,} records")
    if s.job is not None:
        console.print(f"job {s.job.id}: {s.job.status} (attempts: {s.job.attempts})")
    if s.last_result is not None:
        print_result(s.last_result)
    elif s.errors:
        for e in s.errors:
            console.print(f"error: {escape(e)}")


@sources_app.command("schedule")
def schedule_command(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The connection's name (or id)"),
    every: int | None = typer.Option(None, "--every", min=1, help="Sync every N minutes"),
    off: bool = typer.Option(False, "--off", help="Only sync when asked"),
    pause: bool | None = typer.Option(
        None, "--pause/--resume", help="Keep the schedule but do not run it / run it again"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """When a connection syncs (run `pie worker` for the scheduled syncs)."""
    st = state(ctx)
    if every is not None and off:
        fail("pie sources schedule: --every and --off exclude each other")

    async def work(c: Container) -> ConnectionRead:
        from pie.services import connections as svc
        from pie.services.schemas.connections import ConnectionRead

        tid = await tenant_id(st, c)
        deps = c.sync_deps()
        conn = await svc.find(deps, tid, name)
        minutes: int | bool | None = None if off else (every if every is not None else False)
        return ConnectionRead.of(
            await svc.reschedule(deps, tid, conn, every_minutes=minutes, paused=pause)
        )

    r = run(st, work)
    if as_json:
        print_json(r)
        return
    when = f"every {r.schedule_minutes} min" if r.schedule_minutes else "on demand"
    nxt = r.next_run_at.strftime("%Y-%m-%d %H:%M UTC") if r.next_run_at else "-"
    console.print(f"{escape(r.name)}: {when}, {r.state}; next run {nxt}")


@sources_app.command("remove")
def remove_command(
    ctx: typer.Context, name: str = typer.Argument(..., help="The connection's name (or id)")
) -> None:
    """Forget a connection and its stored credentials (the records it brought stay)."""
    st = state(ctx)

    async def work(c: Container) -> None:
        from pie.services import connections as svc

        tid = await tenant_id(st, c)
        deps = c.sync_deps()
        await svc.remove(deps, tid, await svc.find(deps, tid, name))

    run(st, work)
    console.print(f"connection {escape(name)} removed")


@sources_app.command("vendors")
def vendors_command(
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """The vendors PIE can connect to, their auth flows and the fields each needs."""
    from pie.sources import registry

    found = registry.connectors()
    data = [
        {
            "vendor": conn.vendor,
            "title": conn.title,
            "default_base_url": conn.default_base_url,
            "emulator": conn.vendor in registry.emulators(),
            "auth_flows": [
                {
                    "name": flow.name,
                    "help": flow.help,
                    "fields": [
                        {
                            "name": f.name,
                            "option": f.option,
                            "secret": f.secret,
                            "required": f.required,
                            "help": f.help,
                        }
                        for f in flow.fields
                    ],
                }
                for flow in conn.auth_flows
            ],
        }
        for conn in found.values()
    ]
    if as_json:
        print_json(data)
        return
    if not data:
        console.print("no connectors are installed")
    for v in data:
        console.print(f"[bold]{v['vendor']}[/] ({escape(str(v['title']))})")
        for flow in v["auth_flows"]:  # type: ignore[attr-defined]
            opts = " ".join(
                f"{f['option']}{' (secret)' if f['secret'] else ''}"
                f"{'' if f['required'] else ' [optional]'}"
                for f in flow["fields"]
            )
            console.print(f"  --auth {flow['name']}: {opts}")


# --- pie worker ------


def worker_command(
    ctx: typer.Context,
    concurrency: int = typer.Option(1, "--concurrency", min=1, max=64, help="Jobs at once"),
    name: str | None = typer.Option(None, "--name", help="The worker's name in the queue"),
) -> None:
    """Run sync jobs until stopped (Ctrl-C): queued syncs, scheduled syncs, retries.

    On PostgreSQL run as many as wanted, on any machines; on SQLite one per data folder."""
    st = state(ctx)

    async def work(c: Container) -> None:
        where = "PostgreSQL queue" if c.on_postgres else "in-process (SQLite)"
        err_console.print(f"pie worker: running sync jobs ({where}); Ctrl-C stops")
        await c.run_worker(concurrency=concurrency, name=name)

    try:
        run(st, work)
    except KeyboardInterrupt:
        err_console.print("pie worker: stopped")


# --- pie emulate ------


def emulate_command(
    vendors: list[str] = typer.Argument(
        None, help="salesforce hubspot pipedrive notion (default: every one installed)"
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on"),
    port: int = typer.Option(
        0,
        "--port",
        min=0,
        max=65535,
        help="First port (the next vendors take the next ones); 0: any",
    ),
    seed: int = typer.Option(7, "--seed", help="Seed of the generated world"),
    deals: int = typer.Option(200, "--deals", min=0, help="Deals to seed each emulator with"),
    page_size: int | None = typer.Option(None, "--page-size", min=1, help="Records per page"),
    option: list[str] = typer.Option(
        [], "--set", help="A vendor-specific switch KEY=VALUE (repeatable)"
    ),
    seconds: float | None = typer.Option(
        None, "--seconds", min=0, help="Stop after this long (default: until Ctrl-C)"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the base URLs as JSON"),
) -> None:
    """Start the vendors' API emulators here; print their URLs and `pie connect` commands."""
    from pie.sources import registry

    known = registry.emulators()
    chosen = vendors or list(known)
    if not chosen:
        fail("no emulators are installed")
    extra = {}
    for item in option:
        key, eq, value = item.partition("=")
        if not eq:
            fail(f"--set {item!r}: expected KEY=VALUE")
        extra[key] = value
    options = registry.EmulatorOptions(seed=seed, deals=deals, page_size=page_size, extra=extra)
    running: list[tuple[str, Any]] = []
    try:
        for i, vendor in enumerate(chosen):
            emu = registry.emulator(vendor)
            at = port + i if port else 0
            try:
                running.append((vendor, emu.serve(host, at, options)))
            except OSError as err:
                fail(f"{vendor} emulator: cannot listen on {host}:{at} ({err.strerror or err})")
        if as_json:
            print_json({v: r.base_url for v, r in running})
        else:
            for vendor, r in running:
                console.print(f"[bold]{vendor}[/] {r.base_url}", soft_wrap=True)
                hint = known[vendor].connect_hint(r.base_url)
                console.print(f"  {escape(hint)}", soft_wrap=True, highlight=False)
            console.print("emulators running; Ctrl-C stops them")
        sys.stdout.flush()
        _wait(seconds)
    except KeyboardInterrupt:
        pass
    finally:
        for _, r in running:
            r.stop()


def _wait(seconds: float | None) -> None:
    deadline = None if seconds is None else time.monotonic() + seconds
    while deadline is None or time.monotonic() < deadline:
        time.sleep(0.2 if deadline is None else min(0.2, max(0.0, deadline - time.monotonic())))
