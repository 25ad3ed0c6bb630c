"""The `pie` command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

import pie
from pie.entrypoints.cli import (
    changes,
    db,
    deals,
    demo,
    export,
    importing,
    intelligence,
    notion,
    serve,
    simulation,
    sources,
    stage_rules,
    sync,
    tenants,
)
from pie.entrypoints.cli.common import PieGroup, State

app = typer.Typer(
    name="pie",
    cls=PieGroup,
    help="PIE Sales Intelligence: one truthful model of your deals, then simulate them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"pie {pie.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    database: str | None = typer.Option(
        None, "--db", help="Database URL (PIE_DATABASE_URL); default: SQLite in the data folder"
    ),
    create: bool = typer.Option(
        False, "--create", help="Let --db name a SQLite file in a folder that does not exist yet"
    ),
    tenant: str | None = typer.Option(
        None, "--tenant", "-t", help="Tenant id or name (PIE_TENANT)"
    ),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Data folder (PIE_DATA_DIR)"),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks"),
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version"
    ),
) -> None:
    overrides: dict[str, Any] = {
        k: v
        for k, v in {"database_url": database, "tenant": tenant, "data_dir": data_dir}.items()
        if v is not None
    }
    ctx.obj = State(overrides, debug=debug, create=create)


app.add_typer(db.app, name="db")
app.add_typer(tenants.app, name="tenant")
app.add_typer(tenants.keys_app, name="key")
app.add_typer(deals.deals_app, name="deals")
app.add_typer(deals.accounts_app, name="accounts")
app.command("import")(importing.import_command)
app.command("generate")(importing.generate_command)
app.command("mine")(simulation.mine_command)
app.command("simulate")(simulation.simulate_command)
app.command("forecast")(simulation.forecast_command)
app.command("backtest")(simulation.backtest_command)
app.command("changes")(changes.changes_command)
app.add_typer(changes.policy_app, name="policy")
app.add_typer(export.app, name="export")
app.command("serve")(serve.serve)
app.command("demo")(demo.demo)
app.command(
    "connect",
    help=sources.CONNECT_HELP,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)(sources.connect_command)
app.add_typer(sources.sources_app, name="sources")
app.command("worker")(sources.worker_command)
app.command("emulate")(sources.emulate_command)
app.add_typer(intelligence.conversations_app, name="conversations")
app.add_typer(intelligence.stakeholders_app, name="stakeholders")
app.add_typer(intelligence.plans_app, name="plans")
deals.deals_app.command("explain")(intelligence.explain_command)
deals.deals_app.command("stage-rules")(stage_rules.stage_rules_command)
deals.deals_app.command("stall-check")(stage_rules.stall_check_command)
app.add_typer(notion.app, name="notion")
app.add_typer(sync.app, name="sync")
