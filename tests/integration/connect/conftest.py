"""Fixtures of the connection tests: the fake vendor registered, and the use cases' ports
over the real store (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID

import pytest

from pie.adapters.db.connections import SqlConnectionStore, SqlSyncSchedule
from pie.adapters.db.credentials import SqlCredentialStore
from pie.adapters.db.uow import SqlUnitOfWork
from pie.adapters.locks import MemorySyncLock
from pie.adapters.secrets import SecretBox
from pie.services.connections import SyncDeps
from pie.sources import registry
from tests.dbfixtures import Database
from tests.fakes.connector import FakeApi, FakeConnector, FakeEmulator
from tests.fakes.credentials import TEST_KEY


@pytest.fixture
def api() -> FakeApi:
    api = FakeApi()
    api.seed(10)
    return api


@pytest.fixture
def fake_vendor(api: FakeApi) -> Iterator[FakeConnector]:
    connector = FakeConnector(api)
    registry.register(connector)
    registry.register_emulator(FakeEmulator())
    yield connector
    registry.unregister(connector.vendor)


def deps_over(db: Database) -> SyncDeps:
    box = SecretBox([TEST_KEY])
    return SyncDeps(
        connections=lambda t: SqlConnectionStore(db.sessions, t),
        credentials=lambda t: SqlCredentialStore(db.sessions, t, box),
        uow=lambda t: SqlUnitOfWork(db.sessions, t, writes=True),
        lock=MemorySyncLock(),
    )


@pytest.fixture
def deps(db: Database, fake_vendor: FakeConnector) -> SyncDeps:
    return deps_over(db)


@pytest.fixture
def schedule(db: Database) -> SqlSyncSchedule:
    return SqlSyncSchedule(db.sessions)


@pytest.fixture
async def tenant(db: Database) -> UUID:
    return (await db.new_tenant("connect")).tenant.id
