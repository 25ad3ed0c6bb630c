"""Conversations for the intelligence workflow tests, and a store with a tenant."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from pie.intelligence.lexicon import ExtractorConfig
from pie.intelligence.offline import OfflineExtractor
from pie.ports.uow import UnitOfWork
from tests.fakes.uow import FakeTenantDirectory, InMemoryStore, InMemoryUnitOfWork

SELLER = "pie.test"
NOW = datetime(2026, 6, 1, tzinfo=UTC)

BUYING = (
    "Our reps spend hours every week updating spreadsheets by hand, and it is hurting us. "
    "We have budget of roughly $120,000 set aside for this. "
    "We need this live by September 30; that is a hard date for us. "
    "Mark Lee, our CFO, has final sign-off on this. We are also looking at Clari."
)
FOLLOW_UP = (
    "Thanks for the walkthrough. The real problem is that our forecast is off by twenty "
    "percent every quarter. Our budget for this project is around $120,000, and it is "
    "approved. The decision sits with Mark Lee, our CFO. "
    "Our main criteria are Salesforce integration and security. "
    "I will push for this internally; it is exactly what we need."
)
SMALL_TALK = "Thanks for the time today. Good to catch up again. Talk soon."


def email(
    body: str,
    *,
    day: str = "Mon, 2 Mar 2026 10:00:00 +0000",
    sender: str = "Dana Reyes <dana@globex.com>",
    subject: str = "Forecasting",
) -> str:
    return (
        f"From: {sender}\nTo: Sam Seller <sam@{SELLER}>\nDate: {day}\n"
        f"Subject: Re: {subject}\n\nHi Sam,\n\n{body}\n\nBest,\nDana\n"
    )


@dataclass
class World:
    store: InMemoryStore
    tenant: UUID
    extractor: OfflineExtractor

    def uow(self) -> UnitOfWork:
        return InMemoryUnitOfWork(self.tenant, self.store)

    @property
    def factory(self) -> Callable[[], UnitOfWork]:
        return self.uow


async def world() -> World:
    store = InMemoryStore()
    made = await FakeTenantDirectory(store).create("intel")
    return World(store, made.tenant.id, OfflineExtractor(ExtractorConfig(seller_domains=(SELLER,))))
