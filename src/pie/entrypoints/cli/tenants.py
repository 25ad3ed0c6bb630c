"""`pie tenant` and `pie key`: tenants and their API keys."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from pie.entrypoints.cli.common import (
    State,
    console,
    err_console,
    print_json,
    run,
    state,
    tenant_id,
)

if TYPE_CHECKING:
    from pie.bootstrap import Container
    from pie.domain.model import Tenant
    from pie.ports.uow import ApiKey, NewTenant

app = typer.Typer(help="Tenants: create, list, rename.")
keys_app = typer.Typer(help="A tenant's API keys: issue, list, revoke (acts for --tenant).")

AS_JSON = typer.Option(False, "--json", help="Print JSON")
SHOWN_ONCE = "Store the key now: PIE keeps only its hash and cannot show it again."


def _tenant_dict(t: Tenant) -> dict[str, str]:
    return {"id": str(t.id), "name": t.name, "created_at": t.created_at.isoformat()}


def _key_dict(k: ApiKey) -> dict[str, str | None]:
    return {
        "prefix": k.prefix,
        "created_at": k.created_at.isoformat(),
        "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
    }


@app.command()
def create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The tenant's unique name"),
    as_json: bool = AS_JSON,
) -> None:
    """Create a tenant and print its id and a new API key (shown only this once)."""
    st = state(ctx)

    async def work(c: Container) -> NewTenant:
        from pie.services.tenants import create_tenant

        return await create_tenant(c.tenants, name)

    made = run(st, work)
    if as_json:
        print_json({"id": str(made.tenant.id), "name": made.tenant.name, "api_key": made.api_key})
        return
    console.print(f"tenant [bold]{made.tenant.name}[/] id {made.tenant.id}")
    console.print(f"API key: [bold]{made.api_key}[/]")
    err_console.print(SHOWN_ONCE)


def _as_owner(st: State) -> State:
    """Listing every tenant is the owner's business: on PostgreSQL the app role sees one tenant
    at a time, so this runs on PIE_ADMIN_DATABASE_URL."""
    owner = State({**st.overrides, "database_url": st.settings.effective_admin_database_url})
    owner.debug, owner.create = st.debug, st.create
    return owner


@app.command("list")
def list_tenants(ctx: typer.Context, as_json: bool = AS_JSON) -> None:
    """Every tenant, by name (as the tables' owner: PIE_ADMIN_DATABASE_URL)."""
    st = _as_owner(state(ctx))

    async def work(c: Container) -> Sequence[Tenant]:
        return await c.tenants.list()

    found = run(st, work)
    if as_json:
        print_json([_tenant_dict(t) for t in found])
        return
    from pie.entrypoints.cli.render import Column, fitted_table

    columns = (Column("name", wraps=True), Column("id", folds=True), Column("created", 1))
    rows = [(t.name, str(t.id), f"{t.created_at:%Y-%m-%d %H:%M}") for t in found]
    console.print(fitted_table(columns, rows, console.width))
    console.print(f"{len(found):,} tenants")


@app.command()
def rename(
    ctx: typer.Context,
    tenant: str = typer.Argument(..., metavar="TENANT", help="The tenant's id or current name"),
    new_name: str = typer.Argument(..., metavar="NEW_NAME"),
    as_json: bool = AS_JSON,
) -> None:
    """Give a tenant a new name; its id, data and keys stay as they are."""
    st = state(ctx)

    async def work(c: Container) -> Tenant:
        from pie.services.tenants import rename_tenant, resolve_tenant

        return await rename_tenant(c.tenants, await resolve_tenant(c.tenants, tenant), new_name)

    renamed = run(st, work)
    if as_json:
        print_json(_tenant_dict(renamed))
    else:
        console.print(f"tenant {renamed.id} is now [bold]{renamed.name}[/]")


@keys_app.command("issue")
def issue_key(ctx: typer.Context, as_json: bool = AS_JSON) -> None:
    """Issue a new API key for the tenant (shown only this once); its other keys keep working."""
    st = state(ctx)

    async def work(c: Container) -> str:
        return await c.tenants.issue_key(await tenant_id(st, c))

    key = run(st, work)
    if as_json:
        print_json({"api_key": key, "prefix": key[:12]})
        return
    console.print(f"API key: [bold]{key}[/]")
    err_console.print(SHOWN_ONCE)


@keys_app.command("list")
def list_keys(ctx: typer.Context, as_json: bool = AS_JSON) -> None:
    """The tenant's keys by prefix and creation date, revoked ones included."""
    st = state(ctx)

    async def work(c: Container) -> Sequence[ApiKey]:
        return await c.tenants.list_keys(await tenant_id(st, c))

    keys = run(st, work)
    if as_json:
        print_json([_key_dict(k) for k in keys])
        return
    table = Table("prefix", "created", "revoked")
    for k in keys:
        revoked = f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "—"
        table.add_row(k.prefix + "…", f"{k.created_at:%Y-%m-%d %H:%M}", revoked)
    console.print(table)


@keys_app.command("revoke")
def revoke_key(
    ctx: typer.Context,
    key: str = typer.Argument(..., metavar="PREFIX|KEY", help="The prefix `pie key list` shows"),
    as_json: bool = AS_JSON,
) -> None:
    """Revoke one of the tenant's keys: from now on it is refused (HTTP 401)."""
    st = state(ctx)

    async def work(c: Container) -> ApiKey:
        return await c.tenants.revoke_key(await tenant_id(st, c), key.rstrip("…"))

    revoked = run(st, work)
    if as_json:
        print_json(_key_dict(revoked))
    else:
        console.print(f"revoked key {revoked.prefix}… (created {revoked.created_at:%Y-%m-%d})")
