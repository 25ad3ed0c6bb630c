"""Reading ahead keeps what the consumer sees: every item in order, an error only after the
items produced before it, at most ``depth`` items read ahead, and nothing read once the
consumer has stopped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from pie.sources.readahead import read_ahead


class Boom(Exception):
    pass


async def numbers(
    n: int, produced: list[int], *, fail_after: int | None = None
) -> AsyncIterator[int]:
    for i in range(n):
        if fail_after is not None and i == fail_after:
            raise Boom(f"after {i}")
        produced.append(i)
        await asyncio.sleep(0)
        yield i


async def test_every_item_arrives_in_order() -> None:
    produced: list[int] = []
    got = [i async for i in read_ahead(numbers(50, produced), depth=3)]
    assert got == list(range(50))


async def test_an_error_arrives_after_the_items_before_it() -> None:
    produced: list[int] = []
    got: list[int] = []

    async def slowly() -> None:  # a slow consumer: the error is read long before it is met
        async for i in read_ahead(numbers(20, produced, fail_after=7), depth=4):
            await asyncio.sleep(0.001)
            got.append(i)

    with pytest.raises(Boom, match="after 7"):
        await slowly()
    assert got == list(range(7))


async def test_the_producer_stays_at_most_depth_items_ahead() -> None:
    produced: list[int] = []
    ahead: list[int] = []
    consumed = 0
    async for _ in read_ahead(numbers(30, produced), depth=2):
        consumed += 1
        await asyncio.sleep(0.001)  # the producer runs as far as it may
        ahead.append(len(produced) - consumed)
    # queued items, plus the one the producer holds while it waits for room
    assert max(ahead) == 2 + 1


async def test_a_consumer_that_stops_stops_the_producer() -> None:
    produced: list[int] = []
    items = read_ahead(numbers(1000, produced), depth=2)
    async for i in items:
        if i == 5:
            break
    await items.aclose()  # type: ignore[attr-defined]
    stopped_at = len(produced)
    await asyncio.sleep(0.01)
    assert len(produced) == stopped_at <= 5 + 1 + 2 + 1
