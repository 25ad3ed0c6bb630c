"""Bounded work per request: a request-body size limit, and a gate that lets a few
simulations run at once, queues a few more and answers the rest 429 with Retry-After."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pie.entrypoints.api.errors import error_response
from pie.services.schemas import ErrorCode, ErrorDetail


class BodyTooLarge(HTTPException):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"the request body is larger than {max_bytes:,} bytes")


class BodyLimit:
    """ASGI middleware: a body over ``max_bytes`` is answered 413 in the one error body.
    A declared Content-Length over the limit is refused before the app sees the request;
    a streamed body is counted as it is read."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = ErrorDetail(
            code=ErrorCode.TOO_LARGE,
            message=f"the request body is larger than {self.max_bytes:,} bytes",
        )
        await error_response(413, detail, {"Connection": "close"})(scope, receive, send)


class SimulationGate:
    """At most ``running`` simulations at once in this process and ``queue`` more waiting for
    a slot; one more is refused at once with 429 and a Retry-After from recent durations."""

    def __init__(self, running: int, queue: int) -> None:
        self.running = running
        self.queue = queue
        self.admitted = 0  # running or waiting
        self._slots = asyncio.Semaphore(running)
        self._seconds = 1.0  # a moving average of how long a slot is held

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self.admitted >= self.running + self.queue:
            raise HTTPException(
                429,
                f"{self.running} simulations are running and {self.queue} waiting; "
                "try again after Retry-After seconds",
                headers={"Retry-After": str(self.retry_after())},
            )
        self.admitted += 1
        try:
            async with self._slots:
                start = time.monotonic()
                try:
                    yield
                finally:
                    self._seconds = 0.8 * self._seconds + 0.2 * (time.monotonic() - start)
        finally:
            self.admitted -= 1

    def retry_after(self) -> int:
        """Seconds until a slot is likely free: the queue ahead, at the recent pace."""
        rounds = self.admitted / self.running
        return min(60, max(1, math.ceil(self._seconds * rounds)))
