"""`pie db`: the schema."""

from __future__ import annotations

import typer

from pie.adapters.db import migrate
from pie.entrypoints.cli.common import console, fail, state

app = typer.Typer(help="Database schema: apply migrations, show the current revision.")


@app.command()
def upgrade(ctx: typer.Context, revision: str = typer.Argument("head")) -> None:
    """Apply migrations up to REVISION (as the tables' owner: PIE_ADMIN_DATABASE_URL)."""
    st = state(ctx)
    try:
        migrate.upgrade(
            st.settings.effective_admin_database_url,
            app_role=st.settings.app_role,
            revision=revision,
        )
    except Exception as err:
        if st.debug:
            raise
        fail(f"migration failed: {type(err).__name__}: {err}")
    current = migrate.current_revision(st.settings.effective_admin_database_url)
    console.print(f"database at revision [bold]{current}[/]")


@app.command()
def downgrade(ctx: typer.Context, revision: str = typer.Argument(...)) -> None:
    """Revert migrations down to REVISION ("base" removes every table)."""
    st = state(ctx)
    migrate.downgrade(st.settings.effective_admin_database_url, revision=revision)
    console.print(
        f"database at revision {migrate.current_revision(st.settings.effective_admin_database_url)}"
    )


@app.command()
def current(ctx: typer.Context) -> None:
    """Print the database's migration revision."""
    st = state(ctx)
    console.print(migrate.current_revision(st.settings.effective_admin_database_url) or "none")
