"""What every command shares: settings from global options, running async work, errors as one
line, JSON output, the tenant.

The CLI starts fast because its modules import only typer, rich and the standard library at the
top: anything heavier (sqlalchemy, numpy, fastapi, pydantic, the sample generator) is imported
inside the command that uses it. tests/unit/cli/test_startup.py holds every module to that.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar
from uuid import UUID

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

try:  # typer vendors click from 0.2x on
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover
    from click import UsageError  # type: ignore[assignment]

from pie.domain.errors import PieError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from pie.bootstrap import Container
    from pie.config import Settings

T = TypeVar("T")

console = Console()
err_console = Console(stderr=True)


@dataclass
class State:
    """The global options. ``settings`` are read on first use, so `pie CMD --help` needs no
    configuration (and does not load pydantic)."""

    overrides: dict[str, Any] = field(default_factory=dict)
    debug: bool = False
    create: bool = False  # --create: an explicit SQLite path may be in a new folder

    @cached_property
    def settings(self) -> Settings:
        from pie.config import Settings

        try:
            settings = Settings(**self.overrides)
        except Exception as err:  # a malformed PIE_* variable
            fail(f"bad configuration: {' '.join(str(err).split())}")
        if not self.create:
            check_database_folder(settings)
        return settings


def state(ctx: typer.Context) -> State:
    found = ctx.find_object(State)
    if found is None:  # a sub-app called without the main callback (tests)
        found = State()
        ctx.obj = found
    return found


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``message`` as the one-line error (as text: brackets in it are not markup) and
    exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def sqlite_file(url: str) -> Path | None:
    """The file a ``sqlite[+driver]:///PATH`` URL names; None for other stores and memory."""
    scheme, sep, rest = url.partition(":///")
    path = rest.split("?", 1)[0]
    if not sep or not scheme.startswith("sqlite") or path in ("", ":memory:"):
        return None
    return None if path.startswith("file:") else Path(path).expanduser()


def check_database_folder(settings: Settings) -> None:
    """A SQLite file named explicitly (--db, PIE_DATABASE_URL) must be in a folder that exists:
    a typo should not silently create folders and a new, empty store. The default store in the
    data folder is created on first use."""
    path = sqlite_file(settings.database_url) if settings.database_url else None
    if path is not None and not path.parent.is_dir():
        fail(
            f"--db: folder {path.parent} does not exist (database {path}); check the path, "
            "or pass --create to create it"
        )


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
    from pie.bootstrap import build, ensure_embedded_schema

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


def tenant_id(st: State, container: Container) -> Awaitable[UUID]:
    from pie.services.tenants import resolve_tenant

    return resolve_tenant(container.tenants, st.settings.tenant)


def print_json(data: BaseModel | dict[str, Any] | list[Any]) -> None:
    if isinstance(data, dict | list):
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    else:
        sys.stdout.write(data.model_dump_json(indent=2) + "\n")
