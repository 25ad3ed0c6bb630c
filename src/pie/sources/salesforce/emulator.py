"""A local emulator of the Salesforce REST API: real HTTPS on 127.0.0.1, one org in memory.

    with SalesforceEmulator(seeded_org(200), page_size=50) as sf:
        sf.url          # https://127.0.0.1:PORT, the instance URL and the token endpoint's host
        sf.ca_file      # its self-signed certificate, for ``requests``' ``verify``

What it answers, as Salesforce does (docs: the fact sheet, section 1):

* ``POST /services/oauth2/token``: ``refresh_token`` and ``client_credentials`` grants;
  400 ``{"error": "invalid_grant", ...}`` otherwise. Tokens expire after ``token_ttl`` seconds
  (or at once with ``expire_tokens``): then every call is 401 ``INVALID_SESSION_ID``.
* ``GET /services/data/vNN.0/query?q=`` and ``/queryAll`` (deleted records and archived
  activities too: Tasks and Events older than a year), paged by ``page_size`` (or the
  ``Sforce-Query-Options: batchSize=`` header) with ``nextRecordsUrl``; the SOQL subset of
  ``soql``; 400 ``MALFORMED_QUERY`` / ``INVALID_FIELD`` / ``INVALID_TYPE``.
* ``GET .../sobjects/{Type}/describe``, ``.../sobjects/{Type}/deleted/?start=&end=``
  (``earliestDateAvailable`` is the recycle bin's horizon), ``.../limits``, ``/services/data/``.
* Errors are a JSON array ``[{"message", "errorCode"}]``; every answer has
  ``Sforce-Limit-Info: api-usage=N/MAX``; once ``daily_limit`` calls are spent, 403
  ``REQUEST_LIMIT_EXCEEDED`` (no Retry-After).
* ``fail(status, at=N, times=K)`` makes the Nth call from now (and the K-1 after it) fail with
  429, a 5xx, or 403 ``REQUEST_LIMIT_EXCEEDED`` (status 403).

The org's records change through ``sf.org`` (``create``, ``update``, ``delete``,
``purge_recycle_bin``); ``python -m pie.sources.salesforce.emulator`` serves a sample org.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import itertools
import re
import secrets
import ssl
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from pie.sources.salesforce import soql
from pie.sources.salesforce.org import SCHEMA, Org, Record, relationship

API_VERSION = "62.0"
_DATA = re.compile(r"^/services/data/v(\d+\.\d)/(.*)$")


class ApiError(Exception):
    """An answer other than 200: status, error code, message, and headers."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}
        super().__init__(f"{status} {code}: {message}")


@dataclass
class _Locator:
    records: list[Record]
    fields: tuple[str, ...]
    sobject: str
    endpoint: str  # query or queryAll


@dataclass
class _Token:
    expires: float


class SalesforceEmulator:
    """The org behind HTTPS on 127.0.0.1 (port 0: any free port). Thread-safe."""

    def __init__(
        self,
        org: Org,
        *,
        page_size: int = 2000,
        host: str = "127.0.0.1",
        port: int = 0,
        client_id: str = "pie-emulator",
        client_secret: str = "emulator-secret",
        refresh_token: str = "emulator-refresh-token",
        token_ttl: float = 7200.0,
        daily_limit: int = 1_000_000,
        tls: bool = True,
    ) -> None:
        self.org, self.page_size, self.host, self.port = org, page_size, host, port
        self.client_id, self.client_secret = client_id, client_secret
        self.refresh_token, self.token_ttl, self.daily_limit = refresh_token, token_ttl, daily_limit
        self.tls = tls
        self.used = 0  # API calls answered (quota)
        self.requests = 0  # API calls received, for fault injection
        self.token_requests = 0
        self._faults: dict[int, int] = {}
        self._tokens: dict[str, _Token] = {}
        self._locators: dict[str, _Locator] = {}
        self._locator_ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self.ca_file: str | None = None

    # --- lifecycle ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "start the emulator first"
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self._server.server_address[1]}"

    def start(self) -> SalesforceEmulator:
        server = ThreadingHTTPServer((self.host, self.port), _handler(self))
        server.daemon_threads = True
        if self.tls:
            self._folder = tempfile.TemporaryDirectory(prefix="pie-sf-tls-")
            cert, key = _self_signed(Path(self._folder.name))
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            server.socket = context.wrap_socket(server.socket, server_side=True)
            self.ca_file = str(cert)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None

    def __enter__(self) -> SalesforceEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- switches for tests ---------------------------------------------------------------

    def fail(self, status: int, *, at: int = 1, times: int = 1) -> None:
        """The ``at``-th API call from now and the ``times - 1`` after it answer ``status``
        (429, 5xx, or 403 for REQUEST_LIMIT_EXCEEDED)."""
        with self._lock:
            for k in range(times):
                self._faults[self.requests + at + k] = status

    def expire_tokens(self) -> None:
        with self._lock:
            for token in self._tokens.values():
                token.expires = 0.0

    def set_limit(self, daily_limit: int) -> None:
        with self._lock:
            self.daily_limit = daily_limit

    # --- requests -----------------------------------------------------------------------

    def token(self, form: dict[str, str]) -> dict[str, Any]:
        """The OAuth token endpoint (raises ApiError 400 ``invalid_grant``)."""
        grant = form.get("grant_type")
        ok = form.get("client_id") == self.client_id and (
            form.get("client_secret") == self.client_secret
        )
        if grant == "refresh_token":
            ok = ok and form.get("refresh_token") == self.refresh_token
        elif grant != "client_credentials":
            raise ApiError(400, "unsupported_grant_type", f"grant type not supported: {grant}")
        if not ok:
            raise ApiError(400, "invalid_grant", "authentication failure")
        access = "00DEMULATOR!" + secrets.token_urlsafe(24)
        with self._lock:
            self.token_requests += 1
            self._tokens[access] = _Token(time.monotonic() + self.token_ttl)
        return {
            "access_token": access,
            "instance_url": self.url,
            "id": f"{self.url}/id/00DEMULATOR/005000000000001AAA",
            "token_type": "Bearer",
            "issued_at": str(int(time.time() * 1000)),
            "signature": secrets.token_urlsafe(16),
            "scope": "api refresh_token",
        }

    def api(self, path: str, query: dict[str, str], headers: dict[str, str]) -> Any:
        """One API call: auth, quota, injected faults, then the resource."""
        auth = headers.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else ""
        with self._lock:
            self.requests += 1
            fault = self._faults.pop(self.requests, None)
            known = self._tokens.get(token)
            if known is None or known.expires <= time.monotonic():
                raise ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")
            if fault == 403 or self.used >= self.daily_limit:
                raise ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            if fault == 429:
                raise ApiError(429, "REQUEST_LIMIT_EXCEEDED", "Too many requests",
                               {"Retry-After": "0"})  # fmt: skip
            if fault is not None:
                raise ApiError(fault, "SERVER_UNAVAILABLE", "the server is unavailable")
            self.used += 1
        return self._resource(path, query, headers)

    def limit_info(self) -> str:
        return f"api-usage={self.used}/{self.daily_limit}"

    def _resource(self, path: str, query: dict[str, str], headers: dict[str, str]) -> Any:
        if path.rstrip("/") == "/services/data":
            return [{"label": "Winter '25", "url": f"/services/data/v{API_VERSION}",
                     "version": API_VERSION}]  # fmt: skip
        m = _DATA.match(path)
        if m is None:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        version, rest = m.group(1), m.group(2).strip("/")
        parts = rest.split("/")
        if parts[0] in ("query", "queryAll"):
            if len(parts) == 1:
                return self._query(version, parts[0], query.get("q", ""), headers)
            return self._more(version, parts[1])
        if parts[0] == "limits":
            return {"DailyApiRequests": {"Max": self.daily_limit,
                                         "Remaining": self.daily_limit - self.used}}  # fmt: skip
        if parts[0] == "sobjects" and len(parts) == 3 and parts[2] == "describe":
            return _describe(parts[1])
        if parts[0] == "sobjects" and len(parts) == 3 and parts[2] == "deleted":
            return self._deleted(parts[1], query)
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")

    def _query(self, version: str, endpoint: str, text: str, headers: dict[str, str]) -> Any:
        try:
            q = soql.parse(text)
        except soql.SoqlError as exc:
            raise ApiError(400, "MALFORMED_QUERY", str(exc)) from None
        schema = SCHEMA.get(q.sobject)
        if schema is None:
            raise ApiError(400, "INVALID_TYPE", f"sObject type '{q.sobject}' is not supported.")
        names = {*q.fields, *(c.field for c in q.where), *(f for f, _ in q.order_by)}
        for name in names:
            if not _known_field(q.sobject, name):
                raise ApiError(
                    400, "INVALID_FIELD", f"No such column '{name}' on entity '{q.sobject}'."
                )
        get = _getter(self.org)
        keep = q.predicate(get)
        with self.org.lock:
            table = list(self.org.records.get(q.sobject, {}).values())
        every = endpoint == "queryAll"  # deleted records and archived activities too
        rows = [
            r
            for r in table
            if (every or not (r.get("IsDeleted") or r.get("IsArchived"))) and keep(r)
        ]
        for name, desc in reversed(q.order_by):
            rows.sort(key=_by(get, name), reverse=desc)
        if q.limit is not None:
            rows = rows[: q.limit]
        size = self.page_size
        if m := re.search(r"batchSize=(\d+)", headers.get("sforce-query-options", "")):
            size = min(size, max(1, int(m.group(1))))
        locator = f"01g{next(self._locator_ids):012d}AAA"
        with self._lock:
            self._locators[locator] = _Locator(rows, q.fields, q.sobject, endpoint)
        return self._page(version, locator, 0, size)

    def _more(self, version: str, ident: str) -> Any:
        locator, _, offset = ident.partition("-")
        if not offset.isdigit() or locator not in self._locators:
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(version, locator, int(offset), self.page_size)

    def _page(self, version: str, locator: str, offset: int, size: int) -> Any:
        found = self._locators[locator]
        chunk = found.records[offset : offset + size]
        end = offset + len(chunk)
        done = end >= len(found.records)
        out: dict[str, Any] = {"totalSize": len(found.records), "done": done}
        if done:
            with self._lock:
                self._locators.pop(locator, None)
        else:
            out["nextRecordsUrl"] = f"/services/data/v{version}/{found.endpoint}/{locator}-{end}"
        out["records"] = [_render(self.org, found.sobject, r, found.fields, version) for r in chunk]
        return out

    def _deleted(self, sobject: str, query: dict[str, str]) -> Any:
        if sobject not in SCHEMA:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        try:
            start = soql.sf_datetime(soql.parse_sf_datetime(query["start"]))
            end = soql.sf_datetime(soql.parse_sf_datetime(query["end"]))
        except (KeyError, ValueError):
            raise ApiError(400, "MALFORMED_QUERY", "start and end are required") from None
        with self.org.lock:
            gone = [
                {"id": r["Id"], "deletedDate": r["SystemModstamp"]}
                for r in self.org.records.get(sobject, {}).values()
                if r.get("IsDeleted") and start <= r["SystemModstamp"] <= end
            ]
            earliest = self.org.earliest_deleted
        return {"deletedRecords": gone, "earliestDateAvailable": earliest,
                "latestDateCovered": end}  # fmt: skip


def _known_field(sobject: str, name: str) -> bool:
    schema = SCHEMA[sobject]
    if "." not in name:
        return name in schema
    rel, _, leaf = name.partition(".")
    if rel + "Id" not in schema:
        return False
    target = {"Owner": "User", "CreatedBy": "User", "Who": "Contact", "What": "Opportunity"}
    return leaf in SCHEMA.get(target.get(rel, rel), {})


def _getter(org: Org) -> Callable[[Record, str], Any]:
    def get(record: Record, name: str) -> Any:
        if "." not in name:
            return record.get(name)
        rel, _, leaf = name.partition(".")
        target = relationship(org, record, rel)
        return target.get(leaf) if target is not None else None

    return get


def _by(get: Callable[[Record, str], Any], name: str) -> Callable[[Record], tuple[int, Any]]:
    """A sort key on ``name`` (nulls first, as SOQL sorts ascending)."""

    def key(record: Record) -> tuple[int, Any]:
        value = get(record, name)
        return (0, "") if value is None else (1, value)

    return key


def _render(
    org: Org, sobject: str, record: Record, fields: tuple[str, ...], version: str
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "attributes": {
            "type": sobject,
            "url": f"/services/data/v{version}/sobjects/{sobject}/{record['Id']}",
        }
    }
    for name in fields:
        if "." not in name:
            out[name] = record.get(name)
            continue
        rel, _, leaf = name.partition(".")
        target = relationship(org, record, rel)
        if target is None:
            out[rel] = None
            continue
        nested = out.get(rel)
        if not isinstance(nested, dict):
            kind = "User" if rel in ("Owner", "CreatedBy") else rel
            nested = out[rel] = {
                "attributes": {
                    "type": kind,
                    "url": f"/services/data/v{version}/sobjects/{kind}/{target['Id']}",
                }
            }
        nested[leaf] = target.get(leaf)
    return out  # fmt: skip


def _describe(sobject: str) -> dict[str, Any]:
    schema = SCHEMA.get(sobject)
    if schema is None:
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    return {
        "name": sobject,
        "label": sobject,
        "custom": False,
        "queryable": True,
        "fields": [
            {"name": name, "type": kind, "custom": name.endswith("__c"),
             "label": name.removesuffix("__c").replace("_", " "),
             "nillable": name not in ("Id", "IsDeleted")}
            for name, kind in schema.items()
        ],
    }  # fmt: skip


def _handler(emulator: SalesforceEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = orjson.dumps(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Sforce-Limit-Info", emulator.limit_info())
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                self._send(200, emulator.api(parts.path, query, headers))
            except ApiError as err:
                body = [{"message": err.message, "errorCode": err.code}]
                self._send(err.status, body, err.headers)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            if urlsplit(self.path).path.rstrip("/") != "/services/oauth2/token":
                body = [{"message": "method not allowed", "errorCode": "METHOD_NOT_ALLOWED"}]
                self._send(405, body)
                return
            form = {k: v[-1] for k, v in parse_qs(raw).items()}
            try:
                self._send(200, emulator.token(form))
            except ApiError as err:
                self._send(err.status, {"error": err.code, "error_description": err.message})

    return Handler


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key, written to ``folder``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "emulator.crt", folder / "emulator.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def serve(*, deals: int = 200, seed: int = 7, port: int = 8443, page_size: int = 2000) -> None:
    """Serve a sample org until interrupted (``python -m pie.sources.salesforce.emulator``)."""
    from pie.sources.salesforce.org import seeded_org

    emulator = SalesforceEmulator(seeded_org(deals, seed=seed), port=port, page_size=page_size)
    with emulator:
        print(f"Salesforce emulator on {emulator.url} (certificate {emulator.ca_file})")
        print(f"client_id={emulator.client_id} client_secret={emulator.client_secret} "
              f"refresh_token={emulator.refresh_token}")  # fmt: skip
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":  # pragma: no cover
    import argparse

    parser = argparse.ArgumentParser(description="Serve a Salesforce emulator with sample data")
    parser.add_argument("--deals", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--page-size", type=int, default=2000)
    ns = parser.parse_args()
    serve(deals=ns.deals, seed=ns.seed, port=ns.port, page_size=ns.page_size)
