"""`pie serve`."""

from __future__ import annotations

import typer

from pie.entrypoints.cli.common import state


def serve(
    ctx: typer.Context,
    host: str | None = typer.Option(None, help="Address to listen on (PIE_API_HOST)"),
    port: int | None = typer.Option(None, help="Port (PIE_API_PORT)"),
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn

    from pie.bootstrap import ensure_embedded_schema
    from pie.entrypoints.api.app import create_app

    st = state(ctx)
    ensure_embedded_schema(st.settings)
    uvicorn.run(
        create_app(settings=st.settings),
        host=host or st.settings.api_host,
        port=port or st.settings.api_port,
        log_level="info",
    )
