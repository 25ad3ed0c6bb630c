from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from tests.fakes.uow import InMemoryStore, InMemoryUnitOfWork


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture
def tenant() -> UUID:
    return uuid4()


@pytest.fixture
def uow(store: InMemoryStore, tenant: UUID) -> InMemoryUnitOfWork:
    return InMemoryUnitOfWork(tenant, store)
