"""`pie changes` and `pie policy`: the change feed and who owns which field."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from pie.entrypoints.cli.common import console, print_json, run, state, tenant_id

if TYPE_CHECKING:
    from pie.bootstrap import Container
    from pie.domain.ownership import OwnershipPolicy
    from pie.services.changes import ChangePage

policy_app = typer.Typer(help="Who may overwrite which field (field ownership).")


def changes_command(
    ctx: typer.Context,
    since: int = typer.Option(0, "--since", min=0, help="Only changes after this seq"),
    entity: str | None = typer.Option(None, "--entity", help="deal, account, contact, ..."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000, help="At most this many"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """What changed in the store, oldest first: record, fields (old -> new), origin."""
    from pie.entrypoints.cli.render import changes_table
    from pie.services.changes import list_changes, parse_entity
    from pie.services.schemas.changes import ChangePageRead

    st = state(ctx)

    async def work(c: Container) -> ChangePage:
        kind = parse_entity(entity)
        tid = await tenant_id(st, c)
        return await list_changes(c.uow(tid), since=since, entity=kind, limit=limit)

    page = run(st, work)
    if as_json:
        print_json(ChangePageRead.of(page).model_dump(mode="json"))
        return
    console.print(changes_table(page.changes))
    tail = f"next: --since {page.next_since}" if page.more else "no more changes"
    console.print(f"{len(page.changes)} change(s); latest {page.latest}; {tail}")


@policy_app.command("show")
def show(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON")
) -> None:
    """The tenant's field ownership policy."""
    from pie.services.policy import get_policy

    st = state(ctx)

    async def work(c: Container) -> OwnershipPolicy:
        return await get_policy(c.uow(await tenant_id(st, c)))

    _print(run(st, work), as_json)


@policy_app.command("set")
def set_command(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help='TOML: "deal.stage" = ["salesforce", "human", "pie"]'),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Replace the tenant's policy with the one in FILE (an empty file restores the default)."""
    from pie.services.policy import read_policy_file, set_policy

    st = state(ctx)

    async def work(c: Container) -> OwnershipPolicy:
        policy = read_policy_file(file)
        return await set_policy(c.uow(await tenant_id(st, c), writes=True), policy)

    _print(run(st, work), as_json)


def _print(policy: OwnershipPolicy, as_json: bool) -> None:
    from pie.services.schemas.changes import PolicyRead

    if as_json:
        print_json(PolicyRead.of(policy).model_dump(mode="json"))
        return
    if not policy.orders:
        console.print("default policy: human > any source > pie, for every field")
        return
    for key, order in sorted(policy.orders.items()):
        console.print(f"{key}: {' > '.join(order)}", highlight=False)
    console.print("other fields: human > any source > pie")
