"""PIE's errors as HTTP answers: the one place that knows status codes, and the one body
shape every error answers with (``pie.services.schemas.ErrorBody``), FastAPI's own 401s, 404s
and request-validation 422s included."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from pie.domain.errors import (
    Conflict,
    ConnectorError,
    InvalidInput,
    NotConfigured,
    NotFound,
    PieError,
    StoreBusy,
    TransientError,
)
from pie.services.schemas import ErrorBody, ErrorCode, ErrorDetail

STATUS: dict[type[PieError], tuple[int, ErrorCode]] = {
    NotFound: (404, ErrorCode.NOT_FOUND),
    Conflict: (409, ErrorCode.CONFLICT),
    InvalidInput: (422, ErrorCode.INVALID_INPUT),
    NotConfigured: (503, ErrorCode.NOT_CONFIGURED),
    StoreBusy: (503, ErrorCode.STORE_BUSY),
    # a source's API (a CRM): refused or failed (502), or busy / down for now (503)
    ConnectorError: (502, ErrorCode.UPSTREAM_FAILED),
    TransientError: (503, ErrorCode.UPSTREAM_BUSY),
}
HTTP_CODES = {
    401: ErrorCode.UNAUTHORIZED,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.TOO_LARGE,
    422: ErrorCode.INVALID_INPUT,
    429: ErrorCode.BUSY,
}
DESCRIPTIONS = {
    401: "No valid tenant API key was given as a bearer token",
    404: "No such record for this tenant",
    409: "The record was changed by someone else",
    413: "The request body is larger than the server accepts (PIE_MAX_BODY_BYTES)",
    422: "The request is malformed or names something invalid",
    429: "Too many simulations are running or waiting; try again after Retry-After seconds",
    502: "The source's API refused or failed the request (credentials, permissions, an error)",
    503: "PIE is not configured for this, or the store or a source's API is busy (try again)",
}


def status_for(err: PieError) -> tuple[int, ErrorCode]:
    for kind in type(err).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 500, ErrorCode.INTERNAL


def error_response(
    status: int, detail: ErrorDetail, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    body = ErrorBody(error=detail).model_dump(mode="json")
    return JSONResponse(body, status_code=status, headers=headers)


async def _pie_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PieError)
    status, code = status_for(exc)
    field = getattr(exc, "field", "") or None
    record = getattr(exc, "record", "") or None
    headers = None
    if isinstance(exc, TransientError) and exc.retry_after is not None:
        headers = {"Retry-After": str(max(1, round(exc.retry_after)))}
    return error_response(
        status, ErrorDetail(code=code, message=str(exc), field=field, record=record), headers
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400:  # FastAPI's answer to a body it cannot decode: malformed input
        detail = ErrorDetail(
            code=ErrorCode.INVALID_INPUT,
            message="body: not JSON text in UTF-8",
            field="body",
        )
        return error_response(422, detail)
    code = HTTP_CODES.get(exc.status_code, ErrorCode.HTTP_ERROR)
    return error_response(
        exc.status_code, ErrorDetail(code=code, message=str(exc.detail)), exc.headers
    )


def _field(loc: tuple[Any, ...]) -> str:
    """("body", "scenario", "type") -> "scenario.type"; ("query", "runs") -> "runs"."""
    parts = [str(p) for p in loc]
    return ".".join(parts[1:] if len(parts) > 1 else parts)


def _message(error: Mapping[str, Any]) -> str:
    """Pydantic's message without its "Value error, " prefix for PIE's own checks."""
    return str(error["msg"]).removeprefix("Value error, ")


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    messages = [f"{_field(tuple(e['loc'])) or 'request'}: {_message(e)}" for e in errors[:5]]
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    detail = ErrorDetail(
        code=ErrorCode.INVALID_INPUT,
        message="; ".join(messages) + more or "invalid request",
        field=_field(tuple(first["loc"])) or None,
    )
    return error_response(422, detail)


HEADERS = {
    401: {"WWW-Authenticate": "Bearer"},
    429: {"Retry-After": "Seconds to wait before trying again"},
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI declarations of the error answers a route can give, all in the one shape."""
    return {s: _declared(s) for s in statuses}


def _declared(status: int) -> dict[str, Any]:
    out: dict[str, Any] = {"model": ErrorBody, "description": DESCRIPTIONS[status]}
    if status in HEADERS:
        out["headers"] = {
            name: {"description": text, "required": True, "schema": {"type": "string"}}
            for name, text in HEADERS[status].items()
        }
    return out


def install(app: FastAPI) -> None:
    app.add_exception_handler(PieError, _pie_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
