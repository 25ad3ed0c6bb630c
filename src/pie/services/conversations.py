"""Conversations in (issue 9): store each as an Activity linked to its account, contacts and
deal, and run the intelligence pipeline right after storage (seed 000's post-conversation
hook); replay history after a rule change; process the activities with content that an import
brought, once per activity version.

Parsing and extraction happen before any transaction (they never write, and an LLM may take
seconds); the writes of one conversation happen in one unit of work, under the lock of its
account (``pie.services.deal_intel``). Bad input (empty, over 5 MB, binary or not UTF-8,
malformed JSON, an unknown account or deal) raises ``InvalidInput``/``NotFound`` before
anything is stored.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from pie.domain.errors import AccountNotFound, DealNotFound, InvalidInput
from pie.domain.intelligence import Conversation, ConversationKind, Extraction, Thresholds
from pie.domain.model import Activity, ActivityType, EntityKind, derive_id
from pie.ports.extractor import Extractor
from pie.ports.uow import UnitOfWork
from pie.services import plans_intel
from pie.services.deal_intel import Applied, apply_extraction, content_digest, resolve_account
from pie.services.plans_intel import NarrativeWriter

UowFactory = Callable[[], UnitOfWork]
#: Conversations extracted at once by a replay (the LLM backend bounds its own concurrency).
EXTRACT_CHUNK = 16
Progress = Callable[[int, int], None]

_KIND_TO_TYPE = {
    ConversationKind.CALL: ActivityType.CALL,
    ConversationKind.EMAIL: ActivityType.EMAIL,
    ConversationKind.CHAT: ActivityType.FOLLOW_UP,
}
_TYPE_TO_KIND = {
    ActivityType.CALL: ConversationKind.CALL,
    ActivityType.MEETING: ConversationKind.CALL,
    ActivityType.DEMO: ConversationKind.CALL,
    ActivityType.EMAIL: ConversationKind.EMAIL,
}


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class Processed:
    """One conversation through the pipeline: what was extracted and what it did."""

    conversation: Conversation
    extraction: Extraction
    applied: Applied


@dataclass(slots=True)
class ReprocessReport:
    seen: int = 0
    processed: int = 0
    skipped: int = 0
    deals_created: int = 0
    stage_moves: int = 0
    stalled: list[UUID] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def parse_conversation(
    data: bytes | str,
    *,
    fmt: str = "auto",
    source: str = "conversation",
    kind: ConversationKind | None = None,
    occurred_at: datetime | None = None,
    seller_domains: Sequence[str] = (),
) -> Conversation:
    from pie.intelligence.parse import parse

    if fmt not in ("auto", "text", "markdown", "json"):
        raise InvalidInput(f"unknown format {fmt!r}: auto, text, markdown or json", field="format")
    return parse(
        data,
        fmt=fmt,  # type: ignore[arg-type]
        source=source,
        kind=kind,
        occurred_at=occurred_at,
        seller_domains=seller_domains,
    )


def conversation_activity_id(tenant_id: UUID, conv: Conversation) -> UUID:
    """The same conversation added twice is the same activity (and is processed once): its
    text and, when it has one, its date."""
    digest = hashlib.sha256(conv.text.encode("utf-8")).hexdigest()
    when = conv.occurred_at.isoformat() if conv.occurred_at else "undated"
    return derive_id(tenant_id, EntityKind.ACTIVITY, "conversation", digest, when)


async def add_conversation(
    uow: UowFactory,
    extractor: Extractor,
    data: bytes | str,
    *,
    fmt: str = "auto",
    source: str = "conversation",
    account_id: UUID | None = None,
    deal_id: UUID | None = None,
    seller_domains: Sequence[str] = (),
    thresholds: Thresholds | None = None,
    narrator: NarrativeWriter | None = None,
    now: datetime | None = None,
) -> Processed:
    """Store one conversation as an activity and run the pipeline on it."""
    now = now or _utcnow()
    conv = parse_conversation(data, fmt=fmt, source=source, seller_domains=seller_domains)
    async with uow() as reader:  # unknown ids fail before anything is extracted or stored
        tenant = reader.tenant_id
        if deal_id is not None:
            deal = await reader.deals.get(deal_id)
            if deal is None:
                raise DealNotFound(deal_id)
            if account_id is None:
                account_id = deal.account_id
            elif deal.account_id not in (None, account_id):
                raise InvalidInput(
                    f"deal {deal_id} belongs to account {deal.account_id}, not {account_id}",
                    field="deal",
                )
        if account_id is not None and await reader.accounts.get(account_id) is None:
            raise AccountNotFound(account_id)
    at = conv.occurred_at or now
    activity_id = conversation_activity_id(tenant, conv)
    conv = conv.model_copy(update={"activity_id": activity_id, "occurred_at": at})
    extraction = await extractor.extract(conv)
    async with uow() as w:
        account, _ = await resolve_account(w, conv, account_id, now)
        existing = await w.activities.get(activity_id)
        if existing is not None:  # an undated conversation added again keeps its first date
            conv = conv.model_copy(update={"occurred_at": existing.occurred_at})
        activity = existing or Activity(
            id=activity_id,
            tenant_id=w.tenant_id,
            deal_id=deal_id,
            account_id=account.id if account else None,
            type=_KIND_TO_TYPE[conv.kind],
            occurred_at=at,
            subject=conv.subject,
            raw_content=conv.text,
        )
        applied = await apply_extraction(
            w,
            activity=activity,
            is_new=existing is None,
            conversation=conv,
            extraction=extraction,
            deal_id=deal_id,
            account=account,
            thresholds=thresholds,
            now=now,
            narrator=narrator,
        )
        await w.commit()
    return Processed(conv, extraction, applied)


def activity_conversation(
    activity: Activity, seller_domains: Sequence[str] = ()
) -> Conversation | None:
    """The conversation an activity's content holds, or None when it has none worth reading."""
    if not activity.raw_content or not activity.raw_content.strip():
        return None
    try:
        conv = parse_conversation(
            activity.raw_content,
            fmt="auto",
            source=f"activity {activity.id}",
            kind=_TYPE_TO_KIND.get(activity.type),
            occurred_at=activity.occurred_at,
            seller_domains=seller_domains,
        )
    except InvalidInput:
        return None
    return conv.model_copy(
        update={
            "activity_id": activity.id,
            "occurred_at": activity.occurred_at,
            "subject": conv.subject or activity.subject,
        }
    )


async def _pending(
    uow: UowFactory, *, force: bool, deals: Sequence[UUID] | None = None
) -> list[Activity]:
    """Activities with content, oldest first; without ``force`` only the versions not processed
    yet; with ``deals`` only those deals' activities."""
    found: list[Activity] = []
    async with uow() as r:
        if deals is not None:
            batches: list[Sequence[Activity]] = [await r.activities.for_deal(d) for d in deals]
        else:
            batches = [b async for b in r.activities.iter_all(batch_size=2000)]
        for batch in batches:
            with_content = [a for a in batch if a.raw_content and a.raw_content.strip()]
            if not with_content:
                continue
            done = {} if force else await r.intel.processed([a.id for a in with_content])
            found.extend(a for a in with_content if done.get(a.id) != content_digest(a))
    found.sort(key=lambda a: (a.occurred_at, a.id))
    return found


async def process_activities(
    uow: UowFactory,
    extractor: Extractor,
    *,
    force: bool = False,
    seller_domains: Sequence[str] = (),
    thresholds: Thresholds | None = None,
    narrator: NarrativeWriter | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
    stall: bool = True,
    deals: Sequence[UUID] | None = None,
) -> ReprocessReport:
    """Run the pipeline on every activity with content whose current version was not processed
    (the import hook), or on all of them with ``force`` (``pie conversations reprocess``: replay
    history after a rule change; idempotent). ``deals``: only these deals' activities. Each
    touched plan is updated once, after the batch (the same document as updating it after every
    conversation, with fewer versions). Then stall quiet deals."""
    from pie.services.progression import stall_quiet_deals

    now = now or _utcnow()
    report = ReprocessReport()
    todo = await _pending(uow, force=force, deals=deals)
    touched: dict[tuple[UUID | None, UUID | None], None] = {}
    report.seen = len(todo)
    convs = [activity_conversation(a, seller_domains) for a in todo]
    extracted: dict[int, Extraction] = {}
    for i, activity in enumerate(todo):
        conv = convs[i]
        if conv is None:
            report.skipped += 1
            continue
        if i not in extracted:  # the next chunk at once: an LLM backend runs them concurrently
            chunk = [j for j in range(i, min(i + EXTRACT_CHUNK, len(todo))) if convs[j]]
            got = await asyncio.gather(*(extractor.extract(convs[j]) for j in chunk))  # type: ignore[arg-type]
            extracted = dict(zip(chunk, got, strict=True))
        extraction = extracted.pop(i)
        async with uow() as w:
            current = await w.activities.get(activity.id)
            if current is None:  # deleted meanwhile
                report.skipped += 1
                continue
            account = await w.accounts.get(current.account_id) if current.account_id else None
            if account is None and current.deal_id is not None:
                deal = await w.deals.get(current.deal_id)
                if deal is not None and deal.account_id is not None:
                    account = await w.accounts.get(deal.account_id)
            if account is None:
                account, _ = await resolve_account(w, conv, None, now)
            applied = await apply_extraction(
                w,
                activity=current,
                is_new=False,
                conversation=conv,
                extraction=extraction,
                account=account,
                thresholds=thresholds,
                now=now,
                narrator=narrator,
                force=force,
                plans=False,  # once per touched deal and account, after the batch
            )
            await w.commit()
        if applied.skipped:
            report.skipped += 1
        else:
            report.processed += 1
            report.deals_created += applied.created_deal
            report.stage_moves += applied.stage_to is not None
            report.warnings.extend(applied.warnings[:3])
            touched[(applied.deal_id, applied.account_id)] = None
        if progress is not None:
            progress(i + 1, len(todo))
    deals_done: set[UUID] = set()
    accounts_done: set[UUID] = set()
    for deal_id, account_id in touched:
        async with uow() as w:
            if deal_id is not None and deal_id not in deals_done:
                deal = await w.deals.get(deal_id)
                if deal is not None:
                    await plans_intel.update_opportunity_plan(w, deal, now=now, writer=narrator)
                deals_done.add(deal_id)
            if account_id is not None and account_id not in accounts_done:
                await plans_intel.update_account_plan(w, account_id, now=now, writer=narrator)
                accounts_done.add(account_id)
            await w.commit()
    if stall:
        async with uow() as w:
            report.stalled = await stall_quiet_deals(w, now=now)
            await w.commit()
    return report
