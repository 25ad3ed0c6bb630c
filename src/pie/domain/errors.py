"""PIE's error tree. HTTP status codes and exit codes are mapped at the edges.

PieError
├── NotFound            (DealNotFound, AccountNotFound, TenantNotFound)
├── Conflict            (StaleVersion, DuplicateDeal)
├── InvalidInput        carries source, record, field
│   ├── UnmappedStages  lists every unmapped stage name and where a suggested mapping was written
│   │   └── UnmappedActivities  (pie.mining.eventlog_import) the same for an event log's activities
│   └── InvalidTransition       (pie.domain.stages) a stage move the taxonomy does not allow
├── NotConfigured       a setting or tenant is missing
├── StoreBusy           another process holds the store's write lock (SQLite) too long
└── ConnectorError
    ├── TransientError  carries retry_after; safe to retry
    └── PermanentError  auth, bad request, missing permission; do not retry

Every exception class PIE defines sits in this tree, except a few that never leave the module
that raises them (tests/unit/test_error_tree.py lists them and checks the rule).
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID


class PieError(Exception):
    """Base of every error PIE raises on purpose. ``str(err)`` is one line for the user."""


class NotFound(PieError):
    kind = "record"

    def __init__(self, ident: object) -> None:
        self.ident = ident
        super().__init__(f"{self.kind} {ident} not found")


class DealNotFound(NotFound):
    kind = "deal"


class AccountNotFound(NotFound):
    kind = "account"


class TenantNotFound(NotFound):
    kind = "tenant"


class ApiKeyNotFound(NotFound):
    kind = "live API key"


class Conflict(PieError):
    pass


class StaleVersion(Conflict):
    def __init__(self, what: str, ident: UUID, expected: int, actual: int) -> None:
        self.expected, self.actual = expected, actual
        super().__init__(
            f"{what} {ident} was changed by someone else: you had version {expected}, "
            f"the store has version {actual}; reload and try again"
        )


class DuplicateDeal(Conflict):
    pass


class InvalidInput(PieError):
    """Bad input, naming where it is: ``source`` (file, API, connector), ``record``
    (line number or record id), ``field`` and the ``problem``."""

    def __init__(
        self, problem: str, *, source: str = "", record: str = "", field: str = ""
    ) -> None:
        self.problem, self.source, self.record, self.field = problem, source, record, field
        where = ", ".join(
            part
            for part in (
                source,
                f"record {record}" if record else "",
                f"field {field!r}" if field else "",
            )
            if part
        )
        super().__init__(f"{where}: {problem}" if where else problem)


class UnmappedStages(InvalidInput):
    def __init__(self, source: str, names: Sequence[str], suggestion_path: str | None) -> None:
        self.names = tuple(names)
        self.suggestion_path = suggestion_path
        listed = ", ".join(repr(n) for n in self.names)
        hint = (
            f"; a suggested mapping was written to {suggestion_path}: fill it in and pass it "
            "with --stage-map"
            if suggestion_path
            else ""
        )
        super().__init__(f"unmapped stage names: {listed}{hint}", source=source, field="stage")


class NotConfigured(PieError):
    pass


class StoreBusy(PieError):
    """The store stayed locked by another writer for longer than PIE waits; nothing was
    written, and trying again later is safe."""


class ConnectorError(PieError):
    pass


class TransientError(ConnectorError):
    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class PermanentError(ConnectorError):
    pass
