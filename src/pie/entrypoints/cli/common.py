"""What every command shares: settings from global options, running async work, errors as one
line, JSON output, the tenant."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar
from uuid import UUID

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

try:  # typer vendors click from 0.2x on
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover
    from click import UsageError  # type: ignore[assignment]

from pie.bootstrap import Container, build
from pie.config import Settings
from pie.domain.errors import PieError
from pie.services.tenants import resolve_tenant

T = TypeVar("T")

console = Console()
err_console = Console(stderr=True)


@dataclass
class State:
    settings: Settings
    debug: bool = False


def state(ctx: typer.Context) -> State:
    found = ctx.find_object(State)
    if found is None:  # a sub-app called without the main callback (tests)
        found = State(Settings())
        ctx.obj = found
    return found


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``message`` as the one-line error (as text: brackets in it are not markup) and
    exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


class PieGroup(TyperGroup):
    """The `pie` command: bad input anywhere (an option's value, a PIE error raised while a
    command reads its arguments) ends in the one-line error and exit code 1, not a traceback
    or a usage box; --debug shows the traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as err:
            where = err.ctx.command_path if err.ctx is not None else ctx.command_path
            fail(f"{where}: {err.format_message()} (see {where} --help)")
        except PieError as err:
            found = ctx.find_object(State)
            if found is not None and found.debug:
                raise
            fail(str(err))


def run(st: State, work: Callable[[Container], Awaitable[T]], *, migrate: bool = True) -> T:
    """Run ``work`` with a fresh container; PIE errors become one line and exit code 1,
    anything unexpected exit code 2 (the traceback only with --debug)."""

    async def main() -> T:
        if migrate:
            ensure_embedded_schema(st.settings)
        container = build(st.settings)
        try:
            return await work(container)
        finally:
            await container.aclose()

    try:
        return asyncio.run(main())
    except PieError as err:
        if st.debug:
            raise
        fail(str(err))
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as err:
        if st.debug:
            raise
        fail(f"{type(err).__name__}: {brief(err)} (run with --debug for the details)", code=2)


def brief(err: BaseException, limit: int = 300) -> str:
    """The first line of an unexpected error, short enough for a terminal (driver errors
    carry whole statements and their parameters)."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def ensure_embedded_schema(settings: Settings) -> None:
    """The embedded SQLite store needs no setup: bring its schema up to date on first use.
    PostgreSQL is migrated explicitly by its owner with `pie db upgrade`."""
    url = settings.effective_database_url
    if url.startswith("sqlite"):
        from pie.adapters.db import migrate

        migrate.upgrade(url, app_role=settings.app_role)


def tenant_id(st: State, container: Container) -> Awaitable[UUID]:
    return resolve_tenant(container.tenants, st.settings.tenant)


def print_json(data: BaseModel | dict[str, Any] | list[Any]) -> None:
    if isinstance(data, BaseModel):
        sys.stdout.write(data.model_dump_json(indent=2) + "\n")
    else:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
