"""Reading ahead: a connector's next pages are fetched while the records before them are
mapped and stored.

``read_ahead(items, depth)`` runs an async iterator (a connector's pages) in a task of its own,
at most ``depth`` items ahead of the consumer. What the consumer sees is unchanged: the same
items in the same order, and an error the iterator raises arrives only after every item it
produced before the error. So a stop (an API quota, a crash) still lets the sink store, and
checkpoint, everything read before it: the cursor never passes a record that was not stored.
When the consumer stops early (its own error), the producer is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TypeVar, cast

T = TypeVar("T")

_ITEM, _ERROR, _END = 0, 1, 2


async def read_ahead(items: AsyncIterator[T], *, depth: int) -> AsyncIterator[T]:
    """``items``, produced up to ``depth`` items ahead of the caller."""
    if depth < 1:
        raise ValueError("depth must be at least 1")
    queue: asyncio.Queue[tuple[int, object]] = asyncio.Queue(maxsize=depth)

    async def produce() -> None:
        try:
            async for item in items:
                await queue.put((_ITEM, item))
        except Exception as exc:  # handed over in order, raised by the consumer
            await queue.put((_ERROR, exc))
        else:
            await queue.put((_END, None))

    task = asyncio.create_task(produce())
    try:
        while True:
            what, value = await queue.get()
            if what == _END:
                return
            if what == _ERROR:
                assert isinstance(value, Exception)
                raise value
            yield cast(T, value)
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
