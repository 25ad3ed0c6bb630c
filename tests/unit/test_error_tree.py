"""House rule: every error PIE raises on purpose sits under ``PieError`` (pie.domain.errors), so
the CLI prints one line and the API answers with a 4xx, never a 500, for a domain rule."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import pie
from pie.domain.errors import ConnectorError, PieError
from pie.entrypoints.api.errors import status_for

#: Exception classes that are not PieErrors on purpose: each never leaves the code that raises
#: it, which turns it into a PieError (or a rejected row) naming the record and field.
INTERNAL = {
    "pie.importing.draft.Problem": "one record's problem: becomes a Rejected row or InvalidInput",
    "pie.services.model_codec.CodecError": "a stored model this PIE cannot read: it is refitted",
    "pie.importing.values.BadValue": "a value that does not parse: becomes a Problem",
    "pie.importing.json_stream._BadConstant": "NaN/Infinity in JSON: becomes InvalidInput",
    "pie.entrypoints.api.limits.BodyTooLarge": "a request body over the limit: answered 413",
    "pie.sources.hubspot.portal.ApiError": "the HubSpot emulator's error: an HTTP response",
    "pie.sources.hubspot.emulator._RateLimited": "the HubSpot emulator's 429: an HTTP response",
    "pie.sources.salesforce.emulator.ApiError": "the emulator's HTTP error answer (JSON array)",
    "pie.sources.salesforce.soql.SoqlError": "a query outside the subset: the emulator's 400",
    "pie.adapters.db.columns._NotFixed": "values joined by SQLite not of their width: read by row",
}

#: Importing these runs Alembic's migration environment.
SKIPPED_PACKAGES = ("pie.adapters.db.migrations",)


def pie_exception_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(pie.__path__, "pie."):
        if info.name.startswith(SKIPPED_PACKAGES):
            continue
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__ == info.name:
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return found


CLASSES = pie_exception_classes()


def test_the_walk_finds_the_error_tree() -> None:
    assert "pie.domain.errors.PieError" in CLASSES
    assert "pie.domain.stages.InvalidTransition" in CLASSES


def test_every_exception_class_is_a_pie_error_or_a_listed_internal_one() -> None:
    strays = sorted(
        name
        for name, cls in CLASSES.items()
        if not issubclass(cls, PieError) and name not in INTERNAL
    )
    assert strays == [], "put these under PieError (pie.domain.errors) or list them in INTERNAL"


def test_every_listed_internal_class_still_exists_and_is_not_a_pie_error() -> None:
    for name in INTERNAL:
        assert name in CLASSES, f"{name} is gone: remove it from INTERNAL"
        assert not issubclass(CLASSES[name], PieError), f"{name} is a PieError now: unlist it"


@pytest.mark.parametrize(
    "name",
    sorted(
        n
        for n, cls in CLASSES.items()
        # A connector failure is an upstream fault, not a domain rule; its status belongs to
        # the connectors (502/503), which do not exist yet.
        if issubclass(cls, PieError) and not issubclass(cls, ConnectorError) and cls is not PieError
    ),
)
def test_every_domain_error_is_an_answer_not_a_crash(name: str) -> None:
    err = CLASSES[name].__new__(CLASSES[name])
    assert isinstance(err, PieError)
    assert status_for(err)[0] != 500
