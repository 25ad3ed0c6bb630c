"""The one error body every failed request answers with, and the CLI's --json errors too.

    {"error": {"code": "not_found", "message": "deal 42 not found", "field": null}}

``code`` is stable and machine-readable; ``message`` is the one line a person reads; ``field``
names the input at fault when there is one (``deal_id``, ``query.runs``, ``scenario``, ...).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class ErrorCode(StrEnum):
    UNAUTHORIZED = "unauthorized"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    INVALID_INPUT = "invalid_input"
    NOT_CONFIGURED = "not_configured"
    STORE_BUSY = "store_busy"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    TOO_LARGE = "too_large"
    BUSY = "busy"
    UPSTREAM_FAILED = "upstream_failed"
    UPSTREAM_BUSY = "upstream_busy"
    HTTP_ERROR = "http_error"
    INTERNAL = "internal"


class ErrorDetail(BaseModel):
    code: ErrorCode = Field(description="Stable, machine-readable kind of error")
    message: str = Field(description="One line for a person: what is wrong and what to do")
    field: str | None = Field(default=None, description="The input at fault, when there is one")
    record: str | None = Field(default=None, description="The record at fault, when there is one")


class ErrorBody(BaseModel):
    """Every error PIE answers with."""

    error: ErrorDetail
