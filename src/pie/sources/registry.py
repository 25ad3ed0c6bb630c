"""The connector registry: what a vendor package gives PIE, and where PIE finds it.

A vendor package (``pie.sources.<vendor>``, or any installed package that declares an entry
point in the group ``pie.sources``) registers, when imported:

* a ``Connector``: the vendor's name, its auth flows and their fields (which are secret), a
  factory that builds a ``pie.importing.source.Source`` from a connection, the mapper for its
  records, a credential check and a token-refresh hook;
* an ``Emulator`` (optional): a local HTTP stand-in for the vendor's API that ``pie emulate``
  and the tests start.

    # src/pie/sources/pipedrive/__init__.py
    from pie.sources.registry import register, register_emulator
    register(PipedriveConnector())
    register_emulator(PipedriveEmulator())

``connectors()`` / ``emulators()`` import every vendor package first (``load()``), so nothing
outside a vendor's package lists the vendors. Secret fields reach the factory as ``Secret``s
(pie.ports.credentials): a connector reveals a value only to send it, never logs it and never
puts it in an error message.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from importlib.metadata import entry_points
from typing import Protocol, runtime_checkable

from pie.domain.errors import InvalidInput
from pie.importing.mapping import MapContext, Mapper
from pie.importing.source import Source
from pie.ports.credentials import Secret

ENTRY_POINT_GROUP = "pie.sources"


# --- what a vendor declares -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthField:
    """One value a connection needs. ``secret`` ones are encrypted at rest, prompted for
    without echo and never shown; the others are kept in the connection's settings."""

    name: str  # as the connector reads it, snake_case: "client_id", "refresh_token"
    help: str
    secret: bool = False
    required: bool = True

    @property
    def option(self) -> str:
        """The CLI option: ``--client-id``."""
        return "--" + self.name.replace("_", "-")


@dataclass(frozen=True, slots=True)
class AuthFlow:
    """One way to authenticate (``refresh-token``, ``client-credentials``, ``private-app``,
    ``api-token``) and the fields it needs. The first flow of a connector is its default."""

    name: str
    help: str
    fields: tuple[AuthField, ...]

    def secret_fields(self) -> tuple[AuthField, ...]:
        return tuple(f for f in self.fields if f.secret)

    def plain_fields(self) -> tuple[AuthField, ...]:
        return tuple(f for f in self.fields if not f.secret)


#: Stores changed credential fields (a refreshed access token, a rotated refresh token) into
#: the connection's stored credential, merged with what is there.
SaveCredentials = Callable[[Mapping[str, Secret]], Awaitable[None]]


async def _no_save(_: Mapping[str, Secret]) -> None:
    return None


@dataclass(frozen=True)
class ConnectionConfig:
    """A connection as its connector sees it: where (``base_url``, None for the vendor's
    default), how (``auth`` flow, its plain ``settings`` and decrypted ``credentials``)."""

    name: str  # the connection's name, unique per tenant
    vendor: str
    base_url: str | None
    auth: str
    settings: Mapping[str, str] = field(default_factory=dict)
    credentials: Mapping[str, Secret] = field(default_factory=dict, repr=False)
    #: call with new credential fields after a token refresh, so the next run has them
    save_credentials: SaveCredentials = field(default=_no_save, repr=False, compare=False)

    def secret(self, name: str) -> Secret:
        try:
            return self.credentials[name]
        except KeyError:
            raise InvalidInput(
                f"the connection has no {name!r} (run `pie connect {self.vendor}` again)",
                source=self.name,
                field=name,
            ) from None


@runtime_checkable
class Connector(Protocol):
    """A vendor's connector. ``source(config, full=...)`` builds the Source one sync reads
    (``full``: ignore the cursors and read everything, so deletions the incremental reads
    missed are reconciled); ``make_mapper`` is the mapper ``import_source`` runs over its
    records; ``vendor`` also picks the stock stage names (``StageMapper(vendor=...)``).

    Optional, not part of the Protocol (the sync use case uses them when they are there):

    * ``chunk_size``, the records per committed batch when the import default
      (``pie.importing.sink.DEFAULT_CHUNK_SIZE``) does not suit the vendor's volumes;

    * ``async def before_sync(uow, source)``, before ``import_source``, with the source it
      will read (possibly wrapped: its ``inner`` is the connector's own; its ``name`` the one
      ids and cursors are kept under), e.g. to load the list of records to read again;
    * ``async def after_sync(uow, source, report)``, after ``import_source``, for what the
      pipeline alone cannot do, e.g. deleting the records a vendor purged past its recycle
      bin (added to ``report.deleted``) or saving that list of records to read again.

    Each gets a unit of work of its own, not entered."""

    # Read-only, so plain class attributes satisfy them.
    @property
    def vendor(self) -> str:
        """``salesforce``: the registry key, the CLI word, the source the ids belong to."""
        ...

    @property
    def title(self) -> str:
        """``Salesforce``, for people."""
        ...

    @property
    def default_base_url(self) -> str:
        """The vendor's production API."""
        ...

    @property
    def auth_flows(self) -> tuple[AuthFlow, ...]: ...

    def source(self, config: ConnectionConfig, *, full: bool) -> Source:
        """The Source for one sync. Its ids and cursors are kept under the connection's name
        (the sync sets it; the vendor's name for the default connection), whatever the
        source's own ``name``. Open network clients inside ``records()`` (so they close when
        it ends) or give the source an ``async def aclose()``."""
        ...

    def make_mapper(self, ctx: MapContext) -> Mapper: ...

    async def check(self, config: ConnectionConfig) -> str:
        """Authenticate and read one small thing; a line for the user on success ("org Acme
        (00D...)"). PermanentError on refused credentials, TransientError when the API is
        unreachable or busy. May refresh tokens (and save them)."""
        ...

    async def refresh(self, config: ConnectionConfig) -> Mapping[str, Secret]:
        """The token-refresh hook: exchange the stored refresh token or client credentials
        for a new access token; the credential fields that changed (the caller stores them
        with ``config.save_credentials``). {} for flows without expiring tokens."""
        ...


# --- emulators --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EmulatorOptions:
    """How to seed and shape an emulator. ``page_size`` None: the vendor's default;
    ``fail_on``: answer the Nth request (1-based) with ``fail_with`` (``429``, ``500``,
    ``quota``), for tests; ``extra``: vendor-specific switches (``--set key=value``)."""

    seed: int = 7
    deals: int = 200
    page_size: int | None = None
    fail_on: int | None = None
    fail_with: str = "429"
    extra: Mapping[str, str] = field(default_factory=dict)


class RunningEmulator(Protocol):
    """A started emulator: where it answers, and how to stop it."""

    @property
    def base_url(self) -> str: ...

    def stop(self) -> None: ...


class Emulator(Protocol):
    @property
    def vendor(self) -> str: ...

    @property
    def title(self) -> str: ...

    def serve(self, host: str, port: int, options: EmulatorOptions) -> RunningEmulator:
        """Start answering on ``host:port`` (port 0: any free one) in the background (a thread
        of its own) and return once it accepts connections."""
        ...

    def connect_hint(self, base_url: str) -> str:
        """The command that connects PIE to this emulator, with credentials it accepts:
        ``pie connect pipedrive --name pipedrive --base-url http://... --api-token demo``."""
        ...


# --- the registry ------------------------------------------------------------------------------

_CONNECTORS: dict[str, Connector] = {}
_EMULATORS: dict[str, Emulator] = {}
#: vendor packages that could not be imported (a missing dependency): name -> why
_BROKEN: dict[str, str] = {}
_loaded = False
_lock = threading.RLock()
log = logging.getLogger(__name__)


def register(connector: Connector) -> None:
    """Make ``connector`` available under its vendor name (the last registration wins, so a
    test can stand in for a vendor)."""
    with _lock:
        _CONNECTORS[connector.vendor] = connector


def register_emulator(emulator: Emulator) -> None:
    with _lock:
        _EMULATORS[emulator.vendor] = emulator


def unregister(vendor: str) -> None:
    """Forget a vendor's connector and emulator (tests)."""
    with _lock:
        _CONNECTORS.pop(vendor, None)
        _EMULATORS.pop(vendor, None)


def load() -> None:
    """Import every vendor package under ``pie.sources`` and every ``pie.sources`` entry
    point, once; each registers itself."""
    global _loaded
    with _lock:
        if _loaded:
            return
        _loaded = True
        package = importlib.import_module("pie.sources")
        for info in pkgutil.iter_modules(package.__path__, "pie.sources."):
            if info.ispkg:
                _load_one(info.name.rsplit(".", 1)[1], partial(importlib.import_module, info.name))
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            _load_one(ep.name, ep.load)


def _load_one(name: str, load: Callable[[], object]) -> None:
    """One vendor package; one that cannot be imported (a missing dependency) leaves the
    others usable and is named when asked for."""
    try:
        load()
    except ImportError as err:
        _BROKEN[name] = f"{type(err).__name__}: {err}"
        log.warning("the %s connector could not be loaded: %s", name, err)


def connectors() -> dict[str, Connector]:
    load()
    with _lock:
        return dict(sorted(_CONNECTORS.items()))


def emulators() -> dict[str, Emulator]:
    load()
    with _lock:
        return dict(sorted(_EMULATORS.items()))


def connector(vendor: str) -> Connector:
    """The connector registered for ``vendor``; InvalidInput naming the known ones if none."""
    known = connectors()
    if vendor not in known:
        raise InvalidInput(_missing("connector", vendor, known), field="vendor")
    return known[vendor]


def _missing(what: str, vendor: str, known: Mapping[str, object]) -> str:
    if vendor in _BROKEN:
        return f"the {vendor} {what} could not be loaded ({_BROKEN[vendor]})"
    return f"no {what} for {vendor!r} (known: {', '.join(known) or 'none'})"


def emulator(vendor: str) -> Emulator:
    known = emulators()
    if vendor not in known:
        raise InvalidInput(_missing("emulator", vendor, known), field="vendor")
    return known[vendor]


def auth_flow(conn: Connector, name: str | None) -> AuthFlow:
    """The connector's flow called ``name`` (its first when None)."""
    if name is None:
        return conn.auth_flows[0]
    for flow in conn.auth_flows:
        if flow.name == name:
            return flow
    names = ", ".join(f.name for f in conn.auth_flows)
    raise InvalidInput(f"{conn.vendor} has no auth flow {name!r} (flows: {names})", field="auth")
