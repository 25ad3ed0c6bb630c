"""`/openapi.json` describes every answer: a schema for each success, and the one error body
for 401, 404, 413, 422 and 429."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from pie.entrypoints.api.app import create_app

ERROR = {"$ref": "#/components/schemas/ErrorBody"}
PUBLIC = {("get", "/api/health")}
NAMED = {  # operations that read a record by id: they can answer 404
    ("get", "/api/deals"),  # ?account_id=
    ("get", "/api/deals/{deal_id}"),
    ("get", "/api/accounts/{account_id}"),
    ("get", "/api/deals/{deal_id}/forecast"),
    ("post", "/api/simulate"),
}
GATED = {  # operations that simulate or fit: they can answer 429 when the gate is full
    ("get", "/api/deals/{deal_id}/forecast"),
    ("post", "/api/simulate"),
    ("get", "/api/forecast/pipeline"),
    ("get", "/api/process"),
}


async def _fetch() -> httpx.Response:
    transport = httpx.ASGITransport(app=create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://pie.test") as client:
        return await client.get("/openapi.json")


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    r = asyncio.run(_fetch())
    assert r.status_code == 200
    out: dict[str, Any] = r.json()
    return out


def _schema(op: dict[str, Any], status: str) -> Any:
    return op["responses"][status]["content"]["application/json"]["schema"]


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, op) for p, ops in spec["paths"].items() for m, op in ops.items()]


def test_every_success_has_a_named_schema(spec: dict[str, Any]) -> None:
    ops = _operations(spec)
    assert len(ops) >= 8
    for method, path, op in ops:
        schema = _schema(op, "200")
        assert schema.get("$ref", "").startswith("#/components/schemas/"), (method, path, schema)
        name = schema["$ref"].rsplit("/", 1)[1]
        assert spec["components"]["schemas"][name].get("properties"), name


def test_every_error_answer_is_declared_in_the_one_shape(spec: dict[str, Any]) -> None:
    for method, path, op in _operations(spec):
        codes = {c for c in op["responses"] if c != "200"}
        if (method, path) not in PUBLIC:
            assert {"401", "422"} <= codes, (method, path)
        if (method, path) in NAMED:
            assert "404" in codes, (method, path)
        assert "413" in codes, (method, path)  # the body limit is the server's
        assert ("429" in codes) == ((method, path) in GATED), (method, path)
        if "429" in codes:
            assert op["responses"]["429"]["headers"]["Retry-After"]["required"] is True
        for code in codes:
            assert _schema(op, code) == ERROR, (method, path, code)
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    detail = schemas["ErrorDetail"]
    assert set(detail["required"]) == {"code", "message"}
    assert {"field", "record"} <= set(detail["properties"])


def test_the_new_answers_are_documented(spec: dict[str, Any]) -> None:
    assert "/api/process" in spec["paths"]
    pipeline = spec["paths"]["/api/forecast/pipeline"]["get"]
    assert {p["name"] for p in pipeline["parameters"]} >= {"as_of", "deals", "period"}
    forecast = spec["paths"]["/api/deals/{deal_id}/forecast"]["get"]
    assert "as_of" in {p["name"] for p in forecast["parameters"]}
    simulate = spec["components"]["schemas"]["SimulateIn"]["properties"]
    assert "as_of" in simulate
    assert simulate["deal_id"]["type"] == "string"
