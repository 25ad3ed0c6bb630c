"""Deal intelligence end to end: parse, extract, decide and store (with the political map,
stage progression and plans), on ~2,000-character call transcripts, in an embedded SQLite
store, on one core.

Each conversation is one unit of work, as ``pie conversations add`` runs it. The transcripts
belong to 40 accounts, so the run creates deals and then updates them. Time is CPU time
(``time.process_time``): what one core spends, whatever else the shared machine runs; wall time
is printed beside it. The baseline measured in the same run is the extraction alone (parse +
extract + decide, nothing stored); the ratio is the end-to-end rate over it: the share of the
pipeline's speed the store keeps.

Ends with the JSON line convention:
{"bench": "intelligence_store", "value": ..., "unit": "conversations/s", "ratio": ...,
 "target": 50, "ok": ...}
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from pie.adapters.db import migrate
from pie.adapters.db.engine import make_engine, make_sessions
from pie.adapters.db.tenants import SqlTenantDirectory
from pie.adapters.db.uow import SqlUnitOfWork
from pie.domain.intelligence import decide
from pie.intelligence.lexicon import ExtractorConfig
from pie.intelligence.offline import OfflineExtractor
from pie.intelligence.parse import parse
from pie.services.conversations import add_conversation

N = 200
ACCOUNTS = 40
SELLER = "seller.example"
LINES = (
    "Sam Seller: Thanks for joining. How is your team handling forecasting today?",
    "{buyer}: Honestly our reps spend hours every week updating spreadsheets by hand.",
    "Sam Seller: That sounds painful. What would good look like for you?",
    "{buyer}: Our forecast is off by twenty percent every quarter, and it is hurting us.",
    "Sam Seller: Do you have budget set aside for this?",
    "{buyer}: We have budget of roughly ${amount},000 approved for this year.",
    "Sam Seller: And who else would be involved in the decision?",
    "{buyer}: {boss}, our CFO, has final sign-off on this.",
    "Sam Seller: What is your timeline?",
    "{buyer}: We need this live by September 30; that is a hard date for us.",
    "Sam Seller: Are you looking at other vendors?",
    "{buyer}: We are also looking at Clari, to be honest.",
    "Sam Seller: I will send over a proposal and the security documentation.",
    "{buyer}: Great. Please include the Salesforce integration details.",
    "Sam Seller: Will do. Could we find thirty minutes next week with {boss}?",
    "{buyer}: Yes, I will set it up. I will push for this internally.",
)


def transcript(i: int) -> str:
    account = i % ACCOUNTS
    buyer = f"Buyer{i % 7} Person{account}"
    boss = f"Boss Chief{account}"
    head = (
        f"From: {buyer} <buyer{i % 7}@acct{account}.example>\n"
        f"To: Sam Seller <sam@{SELLER}>\nDate: Mon, {1 + i % 28} Mar 2026 10:00:00 +0000\n"
        f"Subject: Call notes {i}\n\n"
    )
    body: list[str] = []
    k, size = 0, len(head)
    while size < 2000:
        line = LINES[k % len(LINES)]
        body.append(line.format(buyer=buyer, boss=boss, amount=100 + account))
        size += len(body[-1]) + 1
        k += 1
    return head + "\n".join(body) + "\n"


def extraction_only(texts: list[str], extractor: OfflineExtractor) -> float:
    start = time.process_time()
    for text in texts:
        conv = parse(text, seller_domains=(SELLER,))
        out = extractor.extract_sync(conv)
        decide(out.detection, [])
    return len(texts) / max(time.process_time() - start, 1e-9)


async def end_to_end(texts: list[str], extractor: OfflineExtractor, folder: Path) -> float:
    url = f"sqlite+aiosqlite:///{folder / 'bench.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    sessions = make_sessions(engine)
    try:
        tenant = (await SqlTenantDirectory(sessions).create("bench")).tenant.id
        now = datetime(2026, 6, 1, tzinfo=UTC)
        start, wall = time.process_time(), time.perf_counter()
        for text in texts:
            await add_conversation(
                lambda: SqlUnitOfWork(sessions, tenant, writes=True),
                extractor,
                text,
                seller_domains=(SELLER,),
                now=now,
            )
        cpu = time.process_time() - start
        print(
            f"end to end: {len(texts)} in {cpu:.2f} s CPU, {time.perf_counter() - wall:.2f} s wall"
        )
        return len(texts) / max(cpu, 1e-9)
    finally:
        await engine.dispose()


def main() -> None:
    texts = [transcript(i) for i in range(N)]
    print(f"{N} transcripts of ~{sum(map(len, texts)) // N} characters, {ACCOUNTS} accounts")
    extractor = OfflineExtractor(ExtractorConfig(seller_domains=(SELLER,)))
    extraction_only(texts[:10], extractor)  # warm up the lexicons
    base = extraction_only(texts, extractor)
    print(f"baseline, extraction only: {base:.1f} conversations/s (CPU)")
    with tempfile.TemporaryDirectory() as folder:
        rate = asyncio.run(end_to_end(texts, extractor, Path(folder)))
    print(f"end to end with the store: {rate:.1f} conversations/s (CPU)")
    print("(the machine is shared: absolute numbers are noisy, the ratio less so)")
    target = 50.0
    line = {
        "bench": "intelligence_store",
        "value": round(rate, 1),
        "unit": "conversations/s",
        "ratio": round(rate / base, 3),
        "target": target,
        "ok": rate >= target,
    }
    sys.stdout.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
