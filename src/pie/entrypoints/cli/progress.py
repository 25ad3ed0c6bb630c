"""Progress for long work, on stderr so --json output stays clean: a bar when the amount of
work is known, else a spinner with what is being done (shown on a terminal only)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from pie.entrypoints.cli.common import err_console


@contextmanager
def progress_bar(
    description: str, total: int | None, *, in_bytes: bool = False
) -> Iterator[Callable[[int], None]]:
    """Yields ``advance_to(done)``: move the bar to ``done`` of ``total`` (items, or bytes
    shown as MB)."""
    columns = [
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        DownloadColumn() if in_bytes else MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=err_console, transient=False) as bar:
        task = bar.add_task(description, total=total)

        def advance_to(done: int) -> None:
            bar.update(task, completed=done)

        yield advance_to
        bar.update(task, completed=total if total is not None else None)


@contextmanager
def working(description: str) -> Iterator[None]:
    """A spinner saying what runs, with the time it has taken, until the block ends."""
    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )
    with bar:
        bar.add_task(escape(description), total=None)
        yield
