"""`pie db`: the schema."""

from __future__ import annotations

import typer

from pie.bootstrap import downgrade_schema, schema_revision, upgrade_schema
from pie.entrypoints.cli.common import console, fail, state

app = typer.Typer(help="Database schema: apply migrations, show the current revision.")


@app.command()
def upgrade(ctx: typer.Context, revision: str = typer.Argument("head")) -> None:
    """Apply migrations up to REVISION (as the tables' owner: PIE_ADMIN_DATABASE_URL)."""
    st = state(ctx)
    try:
        current = upgrade_schema(st.settings, revision)
    except Exception as err:
        if st.debug:
            raise
        fail(f"migration failed: {type(err).__name__}: {err}")
    console.print(f"database at revision [bold]{current}[/]")


@app.command()
def downgrade(ctx: typer.Context, revision: str = typer.Argument(...)) -> None:
    """Revert migrations down to REVISION ("base" removes every table)."""
    st = state(ctx)
    console.print(f"database at revision {downgrade_schema(st.settings, revision)}")


@app.command()
def current(ctx: typer.Context) -> None:
    """Print the database's migration revision."""
    st = state(ctx)
    console.print(schema_revision(st.settings) or "none")
