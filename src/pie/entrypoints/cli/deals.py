"""`pie deals` and `pie accounts`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from pie.domain.errors import InvalidInput
from pie.domain.model import Account, Deal, EntityKind
from pie.domain.stages import Stage, parse_stage
from pie.entrypoints.cli import render
from pie.entrypoints.cli.common import console, print_json, run, state, tenant_id

if TYPE_CHECKING:
    from pie.bootstrap import Container
    from pie.services import deals as svc

deals_app = typer.Typer(help="Look at deals.")
accounts_app = typer.Typer(help="Look at accounts.")


def _stages(names: list[str]) -> tuple[Stage, ...]:
    stages = []
    for name in names:
        stage = parse_stage(name)
        if stage is None:
            raise InvalidInput(
                f"unknown stage {name!r}; stages are: {', '.join(Stage)}", field="--stage"
            )
        stages.append(stage)
    return tuple(stages)


@deals_app.command("list")
def list_deals(
    ctx: typer.Context,
    stage: list[str] = typer.Option([], "--stage", "-s", help="Only this stage (repeatable)"),
    account: str | None = typer.Option(None, help="Only this account (id or SOURCE:ID)"),
    open_: bool | None = typer.Option(None, "--open/--closed", help="Only open or closed deals"),
    name: str | None = typer.Option(None, "--name", help="Name contains"),
    limit: int = typer.Option(50, min=1, max=10_000),
    offset: int = typer.Option(0, min=0),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """List deals, newest first."""
    from pie.ports.repositories import DealFilter
    from pie.services import deals as svc
    from pie.services.refs import resolve_id

    st = state(ctx)

    async def work(c: Container) -> svc.Page[Deal]:
        tid = await tenant_id(st, c)
        account_id = await resolve_id(c.uow(tid), EntityKind.ACCOUNT, account) if account else None
        flt = DealFilter(
            stages=_stages(stage), account_id=account_id, is_open=open_, name_contains=name
        )
        return await svc.list_deals(c.uow(tid), flt, limit=limit, offset=offset)

    page = run(st, work)
    if as_json:
        from pie.services.schemas import deal_page

        print_json(deal_page(page))
        return
    console.print(render.deals_table(page.items, width=console.width))
    shown = f"{page.offset + 1}-{page.offset + len(page.items)}" if page.items else "none"
    console.print(f"{shown} of {page.total:,} deals")


@deals_app.command("show")
def show_deal(
    ctx: typer.Context,
    ident: str = typer.Argument(..., metavar="ID", help="PIE id or SOURCE:EXTERNAL_ID"),
    provenance: bool = typer.Option(
        False, "--provenance", help="Also show who wrote each field, and when"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """A deal with its stakeholders, activities and stage transitions."""
    from pie.services import deals as svc
    from pie.services.refs import resolve_id

    st = state(ctx)

    from pie.services.intel_reads import DealIntelligence, deal_intelligence

    async def work(c: Container) -> tuple[svc.DealDetail, DealIntelligence]:
        tid = await tenant_id(st, c)
        deal_id = await resolve_id(c.uow(tid), EntityKind.DEAL, ident)
        detail = await svc.deal_detail(c.uow(tid), deal_id)
        return detail, await deal_intelligence(c.uow(tid), deal_id)

    detail, intel = run(st, work)
    if as_json:
        from pie.services.schemas import DealDetailRead
        from pie.services.schemas.intelligence import ActivityIntelRead, QualificationRead

        doc = DealDetailRead.of(detail).model_dump(mode="json")
        doc["intelligence"] = {
            "qualification": QualificationRead.of(intel.qualification).model_dump(mode="json"),
            "activities": [
                ActivityIntelRead.of(a).model_dump(mode="json") for a in intel.activities
            ],
        }
        print_json(doc)
        return
    console.print(render.deal_detail(detail))
    from pie.entrypoints.cli.intelligence import deal_intelligence_renderables

    for part in deal_intelligence_renderables(intel):
        console.print(part)
    if provenance:
        console.print(render.provenance_table(detail.provenance))


@accounts_app.command("list")
def list_accounts(
    ctx: typer.Context,
    limit: int = typer.Option(50, min=1, max=10_000),
    offset: int = typer.Option(0, min=0),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """List accounts by name."""
    from pie.services import deals as svc

    st = state(ctx)

    async def work(c: Container) -> svc.Page[Account]:
        return await svc.list_accounts(c.uow(await tenant_id(st, c)), limit=limit, offset=offset)

    page = run(st, work)
    if as_json:
        from pie.services.schemas import account_page

        print_json(account_page(page))
        return
    console.print(render.accounts_table(page.items, width=console.width))
    console.print(f"{len(page.items)} of {page.total:,} accounts")


@accounts_app.command("show")
def show_account(
    ctx: typer.Context,
    ident: str = typer.Argument(..., metavar="ID", help="PIE id or SOURCE:EXTERNAL_ID"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """An account with its contacts and deals."""
    from pie.services import deals as svc
    from pie.services.refs import resolve_id

    st = state(ctx)

    async def work(c: Container) -> svc.AccountDetail:
        tid = await tenant_id(st, c)
        account_id = await resolve_id(c.uow(tid), EntityKind.ACCOUNT, ident)
        return await svc.account_detail(c.uow(tid), account_id)

    detail = run(st, work)
    if as_json:
        from pie.services.schemas import AccountDetailRead

        print_json(AccountDetailRead.of(detail))
    else:
        console.print(render.account_detail(detail, width=console.width))
