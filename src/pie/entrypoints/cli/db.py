"""`pie db`: the schema."""

from __future__ import annotations

import typer

from pie.entrypoints.cli.common import console, fail, print_json, state

app = typer.Typer(help="Database schema: apply migrations, show the current revision.")
AS_JSON = typer.Option(False, "--json", help="Print JSON")


@app.command()
def upgrade(
    ctx: typer.Context, revision: str = typer.Argument("head"), as_json: bool = AS_JSON
) -> None:
    """Apply migrations up to REVISION (as the tables' owner: PIE_ADMIN_DATABASE_URL)."""
    from pie.bootstrap import upgrade_schema

    st = state(ctx)
    try:
        current = upgrade_schema(st.settings, revision)
    except Exception as err:
        if st.debug:
            raise
        fail(f"migration failed: {type(err).__name__}: {err}")
    if as_json:
        print_json({"revision": current})
    else:
        console.print(f"database at revision [bold]{current}[/]")


@app.command()
def downgrade(
    ctx: typer.Context, revision: str = typer.Argument(...), as_json: bool = AS_JSON
) -> None:
    """Revert migrations down to REVISION ("base" removes every table)."""
    from pie.bootstrap import downgrade_schema

    st = state(ctx)
    current = downgrade_schema(st.settings, revision)
    if as_json:
        print_json({"revision": current})
    else:
        console.print(f"database at revision {current}")


@app.command()
def current(ctx: typer.Context, as_json: bool = AS_JSON) -> None:
    """Print the database's migration revision, and the newest one PIE knows."""
    from pie.bootstrap import head_revision, schema_revision

    st = state(ctx)
    revision = schema_revision(st.settings)
    if as_json:
        head = head_revision()
        print_json({"revision": revision, "head": head, "up_to_date": revision == head})
    else:
        console.print(revision or "none")
