"""In-memory credential store: sealed with the real SecretBox (a fixed test key), so the
fake stores nothing readable either, and shares a dict per "database" across tenants."""

from __future__ import annotations

from uuid import UUID

from pie.adapters.db.credentials import check_name, open_credential, seal_credential
from pie.adapters.secrets import SecretBox
from pie.ports.credentials import Credential, Secret

TEST_KEY = b"pie-tests-only-not-a-real-key-0123456789"


class InMemoryCredentials:
    """The "database": (tenant, name) -> sealed bytes."""

    def __init__(self, box: SecretBox | None = None) -> None:
        self.box = box or SecretBox([TEST_KEY])
        self.rows: dict[tuple[UUID, str], bytes] = {}

    def store(self, tenant_id: UUID) -> InMemoryCredentialStore:
        return InMemoryCredentialStore(self, tenant_id)


class InMemoryCredentialStore:
    def __init__(self, db: InMemoryCredentials, tenant_id: UUID) -> None:
        self._db, self.tenant_id = db, tenant_id

    async def put(self, name: str, credential: Credential) -> None:
        check_name(name)
        for key, value in credential.items():
            if not isinstance(value, Secret):
                raise TypeError(f"credential field {key!r} must be a Secret")
        sealed = seal_credential(self._db.box, self.tenant_id, name, credential)
        self._db.rows[(self.tenant_id, name)] = sealed

    async def get(self, name: str) -> dict[str, Secret] | None:
        sealed = self._db.rows.get((self.tenant_id, name))
        if sealed is None:
            return None
        return open_credential(self._db.box, self.tenant_id, name, sealed)

    async def delete(self, name: str) -> bool:
        return self._db.rows.pop((self.tenant_id, name), None) is not None

    async def names(self) -> list[str]:
        return sorted(n for t, n in self._db.rows if t == self.tenant_id)
