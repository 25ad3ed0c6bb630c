"""Progress for long work, on stderr so --json output stays clean: a bar when the amount of
work is known, else a spinner with what is being done (shown on a terminal only)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from pie.entrypoints.cli.common import err_console

ItemsProgress = Callable[[int, int], None]


class Advance(Protocol):
    """Moves a bar to ``done``, and to a new ``total`` when the work learns its size."""

    def __call__(self, done: int, total: int | None = None, /) -> None: ...


@contextmanager
def progress_bar(
    description: str, total: int | None, *, in_bytes: bool = False
) -> Iterator[Advance]:
    """Yields ``advance_to(done, total)``: move the bar to ``done`` of ``total`` (items, or
    bytes shown as MB); a work whose size is learnt on the way passes it there."""
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

        def advance_to(done: int, known: int | None = None) -> None:
            nonlocal total
            if known is not None and known != total:
                total = known
                bar.update(task, total=known)
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


class _Done(ProgressColumn):
    """Bytes (as MB) for a task made with ``in_bytes=True``, else done/total items."""

    def __init__(self) -> None:
        super().__init__()
        self._bytes, self._items = DownloadColumn(), MofNCompleteColumn()

    def render(self, task: Task) -> object:  # type: ignore[override]
        return (self._bytes if task.fields.get("in_bytes") else self._items).render(task)


@contextmanager
def import_progress(
    description: str, total: int
) -> Iterator[tuple[Callable[[int], None], ItemsProgress]]:
    """The bar of an import (bytes read of ``total``) and a second one, shown once the import
    hands over to the intelligence pipeline, for the conversations it processes: yields
    ``(advance_to(done_bytes), conversations_to(done, total))``."""
    columns = [
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        _Done(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=err_console, transient=False) as bar:
        task = bar.add_task(escape(description), total=total, in_bytes=True)
        second: list[object] = []

        def advance_to(done: int) -> None:
            bar.update(task, completed=done)

        def conversations_to(done: int, of: int) -> None:
            if not second:
                bar.update(task, completed=total)
                second.append(bar.add_task("conversations", total=of, in_bytes=False))
            bar.update(second[0], completed=done, total=of)  # type: ignore[arg-type]

        yield advance_to, conversations_to
        bar.update(task, completed=total)
