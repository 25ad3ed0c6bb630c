"""A thin client over simple-salesforce: OAuth tokens, retries, and Salesforce's errors as
PIE's.

* Auth: OAuth 2.0 ``refresh_token`` grant (a connected app's refresh token) or
  ``client_credentials`` (My Domain), form-encoded to ``{login_url}/services/oauth2/token``.
  An expired session (401 ``INVALID_SESSION_ID``) gets a new token and the call is repeated.
* Throttling: 429 and 5xx (and a dropped connection) are retried with capped exponential
  backoff with jitter, honouring ``Retry-After``; when the retries run out the call fails as a
  ``TransientError``. The daily quota (403 ``REQUEST_LIMIT_EXCEEDED``) is ``QuotaExceeded``:
  not retried (it does not come back for hours), the connector stops and checkpoints.
* Other 4xx are ``PermanentError`` naming Salesforce's error code.

simple-salesforce only speaks https; to reach the emulator, ``ca_file`` names the certificate
to trust (the session then ignores the environment's CA bundle and proxies).
"""

from __future__ import annotations

import contextlib
import functools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
import requests

if TYPE_CHECKING:
    from simple_salesforce.api import Salesforce
    from simple_salesforce.exceptions import SalesforceError

from pie.domain.errors import ConnectorError, PermanentError, TransientError

T = TypeVar("T")
DEFAULT_VERSION = "62.0"
LOGIN_URL = "https://login.salesforce.com"


@functools.cache
def _sdk() -> tuple[type[Salesforce], Any]:
    """simple-salesforce's client class (pages decoded by orjson: the SDK's ``json`` with an
    object hook costs several times more, on the thread that competes with the sync for the
    GIL) and its exceptions module, imported on first use (the SDK takes a second to import:
    listing the connectors should not pay for it)."""
    from simple_salesforce import exceptions
    from simple_salesforce.api import Salesforce

    class _Salesforce(Salesforce):
        def parse_result_to_json(self, result: requests.Response) -> Any:
            return orjson.loads(result.content)

    return _Salesforce, exceptions


class QuotaExceeded(ConnectorError):
    """The org's daily API request limit is spent (403 REQUEST_LIMIT_EXCEEDED)."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """How to reach one org. ``refresh_token`` None: the client-credentials flow.
    ``repr`` never shows the secrets."""

    client_id: str
    client_secret: str
    refresh_token: str | None = None
    login_url: str = LOGIN_URL  # the token endpoint's host (login, test, or My Domain)
    version: str = DEFAULT_VERSION
    ca_file: str | None = None  # a certificate to trust (the emulator's self-signed one)

    def __repr__(self) -> str:
        flow = "refresh_token" if self.refresh_token else "client_credentials"
        return f"Credentials(login_url={self.login_url!r}, flow={flow}, client_id=***)"


@dataclass(frozen=True, slots=True)
class Retry:
    attempts: int = 6  # tries per call, the first included
    base: float = 0.5  # seconds before the first retry, doubled each time
    cap: float = 30.0


class SalesforceClient:
    """Synchronous (simple-salesforce is): the connector calls it from a worker thread."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        retry: Retry = Retry(),
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ) -> None:
        self.credentials, self.retry, self.sleep = credentials, retry, sleep
        self.session = session or requests.Session()
        if credentials.ca_file:
            self.session.verify = credentials.ca_file
            self.session.trust_env = False  # REQUESTS_CA_BUNDLE would win over ``verify``
        self.session.hooks["response"].append(self._seen)
        self._retry_after: float | None = None  # the last answer's Retry-After
        self._sf: Salesforce | None = None
        self.instance_url = ""
        self.calls = 0  # API calls made, retries included
        self.refreshes = 0  # tokens obtained
        self.retries = 0
        self.api_usage: str | None = None  # the last Sforce-Limit-Info
        self.server_time: datetime | None = None  # the last answer's Date (the org's clock)

    # --- auth -----------------------------------------------------------------------------

    def authenticate(self) -> None:
        """Get an access token; raises PermanentError when the org refuses the credentials."""
        c = self.credentials
        form = {"client_id": c.client_id, "client_secret": c.client_secret}
        if c.refresh_token:
            form |= {"grant_type": "refresh_token", "refresh_token": c.refresh_token}
        else:
            form["grant_type"] = "client_credentials"
        url = c.login_url.rstrip("/") + "/services/oauth2/token"
        answer = self._with_retries(lambda: self.session.post(url, data=form, timeout=60))
        if answer.status_code != 200:
            try:
                body = answer.json()
                reason = f"{body.get('error')}: {body.get('error_description')}"
            except ValueError:
                reason = f"HTTP {answer.status_code}"
            raise PermanentError(f"Salesforce refused the credentials ({reason})")
        token = answer.json()
        self.refreshes += 1
        self.instance_url = token["instance_url"]
        if self._sf is None:
            self._sf = _sdk()[0](
                instance_url=self.instance_url,
                session_id=token["access_token"],
                version=c.version,
                session=self.session,
            )
        else:
            self._sf.session_id = token["access_token"]
            self._sf.headers["Authorization"] = "Bearer " + token["access_token"]

    @property
    def sf(self) -> Salesforce:
        if self._sf is None:
            self.authenticate()
        assert self._sf is not None
        return self._sf

    # --- calls ----------------------------------------------------------------------------

    def query(self, soql: str, *, include_deleted: bool = False) -> dict[str, Any]:
        return self._dict(lambda sf: sf.query(soql, include_deleted=include_deleted))

    def more(self, next_records_url: str) -> dict[str, Any]:
        return self._dict(lambda sf: sf.query_more(next_records_url, identifier_is_url=True))

    def describe(self, sobject: str) -> dict[str, Any]:
        return self._dict(lambda sf: getattr(sf, sobject).describe())

    def deleted(self, sobject: str, start: datetime, end: datetime) -> dict[str, Any]:
        return self._dict(lambda sf: getattr(sf, sobject).deleted(start, end))

    def _dict(self, call: Callable[[Salesforce], Any]) -> dict[str, Any]:
        result = self._call(call)
        if not isinstance(result, dict):
            raise PermanentError(
                f"Salesforce answered something other than an object: {result!r:.80}"
            )
        return result

    def _call(self, call: Callable[[Salesforce], Any]) -> Any:
        errors = _sdk()[1]
        expired = 0
        while True:
            try:
                result = self._with_retries(lambda: call(self.sf))
            except errors.SalesforceExpiredSession:
                expired += 1
                if expired > 2:
                    raise PermanentError(
                        "Salesforce keeps refusing fresh access tokens (INVALID_SESSION_ID)"
                    ) from None
                self.authenticate()
                continue
            return result

    def _seen(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """Every answer's Retry-After and Sforce-Limit-Info (the SDK's errors drop headers)."""
        self._retry_after = _header_seconds(response.headers.get("Retry-After"))
        if date := response.headers.get("Date"):
            with contextlib.suppress(TypeError, ValueError):
                self.server_time = parsedate_to_datetime(date)
        if usage := response.headers.get("Sforce-Limit-Info"):
            self.api_usage = usage

    def _with_retries(self, call: Callable[[], T]) -> T:
        errors = _sdk()[1]
        for attempt in range(1, self.retry.attempts + 1):
            self.calls += 1
            try:
                result = call()
            except errors.SalesforceExpiredSession:
                raise
            except errors.SalesforceRefusedRequest as exc:
                if _code(exc) == "REQUEST_LIMIT_EXCEEDED":
                    raise QuotaExceeded(
                        "Salesforce's daily API request limit is used up "
                        "(403 REQUEST_LIMIT_EXCEEDED); sync again once it is reset"
                    ) from None
                raise PermanentError(f"Salesforce refused the request: {_message(exc)}") from None
            except errors.SalesforceError as exc:
                if exc.status != 429 and exc.status < 500:
                    reason = f"Salesforce answered {exc.status}: {_message(exc)}"
                    raise PermanentError(reason) from None
                wait = self._retry_after
                reason = f"Salesforce answered {exc.status}"
            except (requests.ConnectionError, requests.Timeout) as exc:
                wait, reason = None, f"cannot reach Salesforce: {type(exc).__name__}"
            else:
                if isinstance(result, requests.Response) and _transient(result.status_code):
                    wait = _header_seconds(result.headers.get("Retry-After"))
                    reason = f"Salesforce answered {result.status_code}"
                else:
                    return result
            if attempt == self.retry.attempts:
                raise TransientError(f"{reason} ({attempt} tries)", retry_after=wait)
            self.retries += 1
            backoff = min(self.retry.cap, self.retry.base * 2 ** (attempt - 1))
            self.sleep(wait if wait is not None else backoff * (0.5 + random.random() / 2))
        raise AssertionError("unreachable")


def _transient(status: int) -> bool:
    return status == 429 or status >= 500


def _code(exc: SalesforceError) -> str:
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode", ""))
    return ""


def _message(exc: SalesforceError) -> str:
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return f"{content[0].get('errorCode')}: {content[0].get('message')}"
    return str(content)[:200]


def _header_seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
