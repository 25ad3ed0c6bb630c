"""`pie tenant`."""

from __future__ import annotations

import typer

from pie.bootstrap import Container
from pie.entrypoints.cli.common import console, err_console, print_json, run, state
from pie.ports.uow import NewTenant
from pie.services.tenants import create_tenant

app = typer.Typer(help="Tenants and their API keys.")


@app.command()
def create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The tenant's unique name"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Create a tenant and print its id and a new API key (shown only this once)."""
    st = state(ctx)

    async def work(c: Container) -> NewTenant:
        return await create_tenant(c.tenants, name)

    made = run(st, work)
    if as_json:
        print_json({"id": str(made.tenant.id), "name": made.tenant.name, "api_key": made.api_key})
        return
    console.print(f"tenant [bold]{made.tenant.name}[/] id {made.tenant.id}")
    console.print(f"API key: [bold]{made.api_key}[/]")
    err_console.print("Store the key now: PIE keeps only its hash and cannot show it again.")
