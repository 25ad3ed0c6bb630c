"""`pie notion`: set up or check the Notion databases PIE syncs with, and run the Notion
emulator for demos. The integration token is stored encrypted and never printed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from pie.entrypoints.cli.common import State, console, err_console, fail, print_json, run, state

if TYPE_CHECKING:
    from pie.bootstrap import Container
    from pie.ports.credentials import Secret
    from pie.services.schemas.notion import NotionSetupRead

app = typer.Typer(help="Notion as your CRM: set up or check its databases, run the emulator.")

AS_JSON = typer.Option(False, "--json", help="Print JSON")
#: the emulator's demo token and its one page (fixed, so the walkthrough's commands can be
#: copied); the same values as pie.sources.notion's DEMO_TOKEN / DEMO_PAGE_ID
DEMO_TOKEN_HINT = "secret_pie_emulator"
DEMO_PAGE_ID = "5e7a0000-0000-4000-8000-00000000d3e0"


def _token(st: State, ask: bool) -> Secret | None:
    """PIE_NOTION_TOKEN, else a hidden prompt when ``ask`` (else None: the stored one)."""
    from pie.ports.credentials import Secret

    if st.settings.notion_token is not None:
        return Secret(st.settings.notion_token.get_secret_value())
    if not ask:
        return None
    typed: str = typer.prompt("Notion integration token", hide_input=True)
    return Secret(typed)


def _show(result: NotionSetupRead, as_json: bool, title: str) -> None:
    if as_json:
        print_json(result)
    else:
        console.print(f"{title} (Notion API at {escape(result.base_url)})")
        for db in result.databases:
            mark = "[green]ok[/]" if not db.problems else "[red]problems[/]"
            console.print(f"  {db.kind}s: {mark}")
            console.print(f"    database     {db.database_id}")
            console.print(f"    data source  {db.data_source_id or '(not readable)'}")
            for problem in db.problems:
                console.print(f"    - {escape(problem)}")
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def setup(
    ctx: typer.Context,
    parent: str = typer.Option(
        ..., "--parent", help="Id of the Notion page (shared with the integration) to put them in"
    ),
    ask_token: bool = typer.Option(
        False, "--ask-token", help="Prompt for a new token even if one is stored"
    ),
    again: bool = typer.Option(
        False, "--again", help="Create new databases even if the tenant has some already"
    ),
    rate: float | None = typer.Option(
        None, "--rate", help="Requests a second `pie sync` may send (default 2.5; Notion ~3)"
    ),
    as_json: bool = AS_JSON,
) -> None:
    """Create the deals and contacts databases with PIE's schema under a page; store the token
    (encrypted) and the ids for `pie sync`. Token: PIE_NOTION_TOKEN, else a prompt."""
    st = state(ctx)

    async def work(c: Container) -> NotionSetupRead:
        from pie.entrypoints.cli.common import tenant_id
        from pie.services import notion

        tenant = await tenant_id(st, c)
        deps = c.notion_deps()
        stored = await c.credentials(tenant).get(notion.CREDENTIAL)
        token = _token(st, ask=ask_token or not stored)
        return await notion.setup(deps, tenant, parent, token=token, again=again, rate=rate)

    _show(run(st, work), as_json, "Notion databases created")


@app.command()
def check(
    ctx: typer.Context,
    deals: str | None = typer.Option(None, "--deals", help="An existing deals database's id"),
    contacts: str | None = typer.Option(
        None, "--contacts", help="An existing contacts database's id"
    ),
    as_json: bool = AS_JSON,
) -> None:
    """Validate the databases PIE syncs with (the stored ones, or --deals / --contacts, then
    kept if they pass), naming every missing or mistyped property. Exit code 1 on problems."""
    st = state(ctx)

    async def work(c: Container) -> NotionSetupRead:
        from pie.entrypoints.cli.common import tenant_id
        from pie.services import notion

        tenant = await tenant_id(st, c)
        stored = await c.credentials(tenant).get(notion.CREDENTIAL)
        return await notion.check(
            c.notion_deps(),
            tenant,
            token=_token(st, ask=not stored),
            deals_database=deals,
            contacts_database=contacts,
        )

    _show(run(st, work), as_json, "Notion databases checked")


@app.command()
def emulator(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on"),
    port: int = typer.Option(8787, "--port", help="Port to listen on (0: any free port)"),
    token: str = typer.Option(
        DEMO_TOKEN_HINT, "--token", help="The integration token the emulator accepts"
    ),
    budget: int = typer.Option(
        180, "--budget", help="Requests per token per minute before it answers 429 (0: none)"
    ),
    parent_page: str = typer.Option(
        DEMO_PAGE_ID, "--parent-page", help="Id of the workspace's one page (to set up under)"
    ),
) -> None:
    """Run a local Notion API emulator (for demos and tests) until Ctrl-C. Point PIE at it
    with PIE_NOTION_BASE_URL; its empty workspace has one page to set up under."""
    from pie.sources.notion.emulator import NotionEmulator, serve

    def ready(emu: NotionEmulator) -> None:
        err_console.print(f"Notion emulator listening on [bold]{emu.url}[/]")
        err_console.print(f"  export PIE_NOTION_BASE_URL={emu.url}")
        err_console.print(f"  token: the one given with --token (default {DEMO_TOKEN_HINT})")
        err_console.print(f"  parent page: [bold]{emu.workspace.root_page_id}[/]")
        err_console.print(f"  next: pie notion setup --parent {emu.workspace.root_page_id}")
        err_console.print("  Ctrl-C stops it (its workspace lives in memory only)")

    if host not in ("127.0.0.1", "localhost", "::1"):
        err_console.print("[yellow]warning:[/] the emulator has no security: keep it local")
    serve(
        host,
        port,
        tokens={token: "5e1f5b1a-7d2c-4c1e-9f4e-0c0ffee0b075"},
        budget=(budget, 60.0) if budget > 0 else None,
        root_page_id=parent_page,
        ready=ready,
    )


@app.command("human-edit")
def human_edit(
    page: str = typer.Argument(..., help="The page's title (a deal's name) or id"),
    values: list[str] = typer.Option(
        ..., "--set", help="PROPERTY=VALUE as a person would type it (repeatable)"
    ),
    url: str = typer.Option(
        "http://127.0.0.1:8787", "--emulator", help="The running emulator's URL"
    ),
) -> None:
    """Edit a page in a running emulator as a person would in Notion (its last_edited_by is
    a person, not PIE), e.g. --set "Stage=negotiation" --set "Value=52000"."""
    from pie.domain.errors import PieError
    from pie.sources.notion.emulator import edit_as_human

    changes: dict[str, str | None] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            fail(f"--set {item!r}: write PROPERTY=VALUE")
        changes[name.strip()] = value
    try:
        edited = edit_as_human(url, page, changes)
    except PieError as err:
        fail(str(err))
    except OSError as err:
        fail(f"no emulator answers at {url}: {err}")
    console.print(f"edited page {edited['id']} as a person: {', '.join(changes)}")
