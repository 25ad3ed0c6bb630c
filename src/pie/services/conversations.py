"""Conversations in (issue 9): store each as an Activity linked to its account, contacts and
deal, and run the intelligence pipeline right after storage (seed 000's post-conversation
hook); replay history after a rule change; process the activities with content that an import
brought, once per activity version (``ImportHook``).

Conversations go through in batches (``BATCH_SIZE``): parsing and extraction happen before any
transaction (they never write, and an LLM may take seconds); then a batch is applied in one
unit of work, under the locks of its accounts, reading what it needs at once and writing it in
bulk (``pie.services.intel_batch``, ``pie.services.deal_intel``). Bad input (empty, over 5 MB,
binary or not UTF-8, malformed JSON, an unknown account or deal) raises
``InvalidInput``/``NotFound`` before anything is stored.
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
from pie.domain.model import Account, Activity, ActivityType, EntityKind, derive_id
from pie.importing.report import ConversationCounts
from pie.ports.extractor import Extractor
from pie.ports.uow import UnitOfWork
from pie.services.deal_intel import (
    Applied,
    account_lock,
    apply_extraction,
    buyer_domains,
    buyer_people,
    contact_id_for,
    content_digest,
    new_account,
    new_deal_id,
    update_plans,
)
from pie.services.intel_batch import Batch
from pie.services.plans_intel import NarrativeWriter

UowFactory = Callable[[], UnitOfWork]
#: Conversations per batch: extracted at once (an LLM backend runs them concurrently, within
#: its own limit), then applied in one unit of work, each touched plan updated once.
BATCH_SIZE = 100
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


@dataclass(slots=True)
class _Item:
    """One conversation of a batch: its activity (stored already unless ``new``), the
    conversation and its extraction, and the account and deal given with it."""

    activity: Activity
    conversation: Conversation
    extraction: Extraction
    new: bool = False
    account_id: UUID | None = None
    deal_id: UUID | None = None


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
    [done] = await add_conversations(
        uow,
        extractor,
        [(source, data)],
        fmt=fmt,
        account_id=account_id,
        deal_id=deal_id,
        seller_domains=seller_domains,
        thresholds=thresholds,
        narrator=narrator,
        now=now,
    )
    return done


async def add_conversations(
    uow: UowFactory,
    extractor: Extractor,
    inputs: Sequence[tuple[str, bytes | str]],
    *,
    fmt: str = "auto",
    account_id: UUID | None = None,
    deal_id: UUID | None = None,
    seller_domains: Sequence[str] = (),
    thresholds: Thresholds | None = None,
    narrator: NarrativeWriter | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> list[Processed]:
    """Store conversations (``(source, data)`` each) as activities and run the pipeline on
    them, ``BATCH_SIZE`` at a time (one unit of work each; plans updated once per batch).
    Every input is parsed first: bad input stores nothing."""
    now = now or _utcnow()
    convs = [
        parse_conversation(data, fmt=fmt, source=source, seller_domains=seller_domains)
        for source, data in inputs
    ]
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
    out: list[Processed] = []
    for start in range(0, len(convs), BATCH_SIZE):
        items: list[_Item] = []
        for conv in convs[start : start + BATCH_SIZE]:
            at = conv.occurred_at or now
            activity_id = conversation_activity_id(tenant, conv)
            conv = conv.model_copy(update={"activity_id": activity_id, "occurred_at": at})
            activity = Activity(
                id=activity_id,
                tenant_id=tenant,
                deal_id=deal_id,
                account_id=account_id,
                type=_KIND_TO_TYPE[conv.kind],
                occurred_at=at,
                subject=conv.subject,
                raw_content=conv.text,
            )
            items.append(_Item(activity, conv, None, True, account_id, deal_id))  # type: ignore[arg-type]
        for item, got in zip(items, await _extract(extractor, items), strict=True):
            item.extraction = got
        results = await _apply(
            uow, items, thresholds=thresholds, narrator=narrator, now=now, force=False
        )
        for item, applied in zip(items, results, strict=True):
            assert applied is not None
            out.append(Processed(item.conversation, item.extraction, applied))
        if progress is not None:
            progress(len(out), len(convs))
    return out


async def _extract(extractor: Extractor, items: Sequence[_Item]) -> list[Extraction]:
    """Every item's extraction, at once: an LLM backend runs them concurrently, within its
    own limit (``PIE_LLM_CONCURRENCY``)."""
    return list(await asyncio.gather(*(extractor.extract(i.conversation) for i in items)))


async def _apply(
    uow: UowFactory,
    items: Sequence[_Item],
    *,
    thresholds: Thresholds | None,
    narrator: NarrativeWriter | None,
    now: datetime,
    force: bool,
) -> list[Applied | None]:
    """Apply a batch of extracted conversations in one unit of work: take the locks of their
    accounts (in one order), read what they need at once, apply them one after the other in
    memory, update each touched plan once, write it all. None for an activity deleted
    meanwhile."""
    async with uow() as w:
        tenant = w.tenant_id
        wanted, made = await _lock_accounts(w, items, now)
        deal_ids = {i.deal_id or i.activity.deal_id for i in items} - {None}
        deal_ids |= {new_deal_id(tenant, i.activity.id) for i in items}
        contact_ids: set[UUID] = set()
        emails: set[str] = set()
        for item, acc in zip(items, wanted, strict=True):
            for p in buyer_people(item.conversation, item.extraction):
                if p.email:
                    emails.add(p.email)
                if acc is not None:
                    contact_ids.add(contact_id_for(tenant, acc, p))
        batch = await Batch.open(
            w,
            now=now,
            account_ids=sorted({a for a in wanted if a is not None}),
            deal_ids=sorted(d for d in deal_ids if d is not None),
            activity_ids=[i.activity.id for i in items],
            contact_ids=sorted(contact_ids),
            emails=sorted(emails),
        )
        for new in made.values():
            if new.id not in batch.accounts:
                batch.add(EntityKind.ACCOUNT, new)
        results: list[Applied | None] = []
        touched: list[tuple[UUID | None, UUID | None]] = []
        for item, acc in zip(items, wanted, strict=True):
            conv, activity = item.conversation, batch.activities.get(item.activity.id)
            is_new = activity is None and item.new
            if activity is None and not item.new:  # deleted meanwhile
                results.append(None)
                continue
            if activity is None:
                activity = item.activity
            elif item.new:  # an undated conversation added again keeps its first date
                conv = conv.model_copy(update={"occurred_at": activity.occurred_at})
            applied = apply_extraction(
                batch,
                activity=activity,
                is_new=is_new,
                conversation=conv,
                extraction=item.extraction,
                deal_id=item.deal_id,
                account=batch.accounts.get(acc) if acc is not None else None,
                thresholds=thresholds,
                force=force,
            )
            results.append(applied)
            if not applied.skipped:
                touched.append((applied.deal_id, applied.account_id))
        await update_plans(batch, touched, writer=narrator)
        await batch.flush()
        await w.commit()
    return results


async def _lock_accounts(
    w: UnitOfWork, items: Sequence[_Item], now: datetime
) -> tuple[list[UUID | None], dict[UUID, Account]]:
    """The account of each conversation (the one given, the activity's, its deal's, else the
    one of its buyers' email domain), with the lock of every one held: first the domains
    looked up, then the accounts, each set in sorted order (so concurrent batches never wait
    for each other in a circle). Also the accounts to make for domains PIE does not know."""
    tenant = w.tenant_id
    wanted: list[UUID | None] = []
    deals: dict[UUID, UUID | None] = {}
    for item in items:
        ident = item.account_id or item.activity.account_id
        deal = item.deal_id or item.activity.deal_id
        if ident is None and deal is not None:
            if deal not in deals:
                found = await w.deals.get(deal)
                deals[deal] = found.account_id if found is not None else None
            ident = deals[deal]
        wanted.append(ident)
    domains = {
        n: buyer_domains(i.conversation)
        for n, (i, ident) in enumerate(zip(items, wanted, strict=True))
        if ident is None
    }
    for d in sorted({ds[0] for ds in domains.values() if ds}):
        await w.intel.lock(f"domain:{d}")  # two conversations of a new company: one account
    everywhere = sorted({d for ds in domains.values() for d in ds})
    known = await w.intel.find_accounts(everywhere) if everywhere else {}
    made: dict[UUID, Account] = {}
    for n, ds in domains.items():
        if not ds:
            continue
        hit = next((known[d] for d in ds if d in known), None)
        if hit is None:
            acc = new_account(tenant, ds[0], now)
            made.setdefault(acc.id, acc)
            hit = acc.id
        wanted[n] = hit
    for key in sorted({account_lock(a) for a in wanted}):
        await w.intel.lock(key)
    return wanted, made


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
    (``pie conversations reprocess --pending``), or on all of them with ``force`` (``pie
    conversations reprocess``: replay history after a rule change; idempotent). ``deals``: only
    these deals' activities. Then stall quiet deals (``stall``)."""
    from pie.services.progression import stall_quiet_deals

    now = now or _utcnow()
    todo = await _pending(uow, force=force, deals=deals)
    report = await _process(
        uow,
        extractor,
        todo,
        force=force,
        seller_domains=seller_domains,
        thresholds=thresholds,
        narrator=narrator,
        progress=progress,
        now=now,
    )
    if stall:
        async with uow() as w:
            report.stalled = await stall_quiet_deals(w, now=now)
            await w.commit()
    return report


async def _process(
    uow: UowFactory,
    extractor: Extractor,
    todo: Sequence[Activity],
    *,
    force: bool,
    seller_domains: Sequence[str],
    thresholds: Thresholds | None,
    narrator: NarrativeWriter | None,
    progress: Progress | None,
    now: datetime,
) -> ReprocessReport:
    """The pipeline over stored activities (oldest first), ``BATCH_SIZE`` at a time: each
    batch extracted at once, then applied in one unit of work with each touched plan updated
    once."""
    report = ReprocessReport(seen=len(todo))
    for start in range(0, len(todo), BATCH_SIZE):
        items: list[_Item] = []
        for activity in todo[start : start + BATCH_SIZE]:
            conv = activity_conversation(activity, seller_domains)
            if conv is None:
                report.skipped += 1
            else:
                items.append(_Item(activity, conv, None))  # type: ignore[arg-type]
        for item, got in zip(items, await _extract(extractor, items), strict=True):
            item.extraction = got
        results = await _apply(
            uow, items, thresholds=thresholds, narrator=narrator, now=now, force=force
        )
        for applied in results:
            if applied is None or applied.skipped:
                report.skipped += 1
                continue
            report.processed += 1
            report.deals_created += applied.created_deal
            report.stage_moves += applied.stage_to is not None
            report.warnings.extend(applied.warnings[:3])
        if progress is not None:
            progress(min(start + BATCH_SIZE, len(todo)), len(todo))
    return report


@dataclass(frozen=True, slots=True)
class ImportHook:
    """The pipeline on what an import brings (a Salesforce task's body, a HubSpot email, a
    transcript), once per activity version: ``mark = await hook.mark()`` before the import,
    ``await hook.after(mark)`` once it committed. It runs after the import's transaction, not
    in it: an import is never lost to a failed extraction (``after`` reports the failure; ``pie
    conversations reprocess --pending`` picks up what was left), and a slow LLM never holds the
    store's write lock. An import that brought no activity with content costs one query."""

    uow: UowFactory
    extractor: Extractor
    seller_domains: Sequence[str] = ()
    narrator: NarrativeWriter | None = None
    thresholds: Thresholds | None = None
    progress: Progress | None = None

    async def mark(self) -> int:
        """The change feed's position before the import."""
        async with self.uow() as r:
            return await r.changes.latest()

    async def after(self, since: int, *, now: datetime | None = None) -> ConversationCounts:
        """Process the activities with content created or changed after ``since`` whose
        version was not processed yet. Never raises: a failure is in the counts' ``error``."""
        try:
            async with self.uow() as r:
                changed = await r.intel.with_content_since(since)
                done = await r.intel.processed([a.id for a in changed])
            todo = [a for a in changed if done.get(a.id) != content_digest(a)]
            todo.sort(key=lambda a: (a.occurred_at, a.id))
            if not todo:
                return ConversationCounts()
            report = await _process(
                self.uow,
                self.extractor,
                todo,
                force=False,
                seller_domains=self.seller_domains,
                thresholds=self.thresholds,
                narrator=self.narrator,
                progress=self.progress,
                now=now or _utcnow(),
            )
        except Exception as err:  # the import stands; say what failed and how to resume
            return ConversationCounts(
                error=f"{type(err).__name__}: {err}; the import is stored, run `pie "
                "conversations reprocess --pending` to process its conversations"
            )
        return ConversationCounts(
            processed=report.processed,
            skipped=report.skipped,
            deals_created=report.deals_created,
            stage_moves=report.stage_moves,
        )
