"""`pie db`: the schema."""

from __future__ import annotations

import typer

from pie.entrypoints.cli.common import console, fail, print_json, state

app = typer.Typer(help="Database schema: apply migrations, show the current revision.")


@app.command()
def upgrade(ctx: typer.Context, revision: str = typer.Argument("head")) -> None:
    """Apply migrations up to REVISION (as the tables' owner: PIE_ADMIN_DATABASE_URL)."""
    from pie.adapters.db import migrate

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
    from pie.adapters.db import migrate

    st = state(ctx)
    migrate.downgrade(st.settings.effective_admin_database_url, revision=revision)
    console.print(
        f"database at revision {migrate.current_revision(st.settings.effective_admin_database_url)}"
    )


@app.command()
def current(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON")
) -> None:
    """Print the database's migration revision, and the newest one PIE knows."""
    from pie.adapters.db import migrate

    st = state(ctx)
    revision = migrate.current_revision(st.settings.effective_admin_database_url)
    if as_json:
        head = migrate.head_revision()
        print_json({"revision": revision, "head": head, "up_to_date": revision == head})
    else:
        console.print(revision or "none")
