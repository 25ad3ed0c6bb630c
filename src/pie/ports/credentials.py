"""Stored credentials of a tenant's connections (a CRM's tokens, Notion's integration token).

A credential is a named set of secret fields (``{"refresh_token": ..., "client_secret": ...}``)
kept encrypted at rest by the adapter. Its values travel as ``Secret``: printing, logging or
formatting one shows ``**********``; only ``reveal()`` gives the value, at the moment a client
sends it. A store is bound to one tenant; each call is its own transaction.

    store = container.credentials(tenant_id)
    await store.put("salesforce", {"refresh_token": Secret(token)})
    creds = await store.get("salesforce")        # {"refresh_token": Secret('**********')}
    creds["refresh_token"].reveal()
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import NoReturn, Protocol

MASK = "**********"


class Secret:
    """A secret value that never shows itself: not in ``repr``, ``str``, f-strings, logs,
    tracebacks or pickles. ``reveal()`` is the one way to read it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("a Secret holds a str")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret is not pickled (it would leave PIE unencrypted)")


Credential = Mapping[str, Secret]


def secrets_of(values: Mapping[str, str | Secret]) -> dict[str, Secret]:
    """Wrap plain strings (from a form, a CLI prompt) as Secrets; Secrets stay as they are."""
    return {k: v if isinstance(v, Secret) else Secret(v) for k, v in values.items()}


class CredentialStore(Protocol):
    """One tenant's credentials, by name (a connection's name, ``notion``)."""

    async def put(self, name: str, credential: Credential) -> None:
        """Store ``credential`` under ``name``, replacing what was there."""
        ...

    async def get(self, name: str) -> dict[str, Secret] | None:
        """The credential stored under ``name``, or None. NotConfigured if it cannot be
        decrypted with the keys PIE has (PIE_SECRET_KEY changed)."""
        ...

    async def delete(self, name: str) -> bool:
        """Forget the credential; False if there was none."""
        ...

    async def names(self) -> list[str]:
        """The names of the tenant's credentials, sorted (never their values)."""
        ...
