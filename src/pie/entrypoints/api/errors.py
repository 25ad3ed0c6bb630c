"""PIE's errors as HTTP answers: the one place that knows status codes."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from pie.domain.errors import Conflict, InvalidInput, NotConfigured, NotFound, PieError

STATUS: dict[type[PieError], int] = {
    NotFound: 404,
    Conflict: 409,
    InvalidInput: 422,
    NotConfigured: 503,
}


def status_for(err: PieError) -> int:
    for kind in type(err).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 500


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PieError)
    return JSONResponse({"detail": str(exc)}, status_code=status_for(exc))


def install(app: FastAPI) -> None:
    app.add_exception_handler(PieError, _handle)
