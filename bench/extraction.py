"""Deal intelligence: how good and how fast the offline extractor is.

1. Quality on the labelled set (tests/data/conversations), and separately on the held-out set
   (tests/data/conversations_heldout, written before the rules were tuned on it): precision
   and recall per BANT/MEDDIC field, per opportunity signal and for the create-a-deal
   decision, and the share of quotes that are verbatim. Targets: create precision >= 0.9
   with recall >= 0.7, 100% verbatim.
2. Quality on the sample world's conversations, scored against the generator's truth (which
   signals each activity's text holds).
3. Speed: parse + extract + decide on ~2,000-character call transcripts, on one core, with the
   per-stage split; target >= 50 conversations per second. Time is the process's CPU time
   (``time.process_time``): what one core spends, whatever else the shared machine runs;
   wall-clock time is printed beside it. The baseline measured in the same
   run is the naive approach the offline extractor avoids: ``dateparser.search.search_dates``
   over every transcript (dates found by dateparser alone); the ratio is our rate over it.
   Storing is not measured here (it belongs to the intelligence store).

The machine is shared: absolute numbers are noisy, the ratio less so.

Ends with the JSON line convention:
{"bench": "extraction", "value": ..., "unit": "conversations/s", "ratio": ...,
 "target": 50, "ok": ...}
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from pie.domain.intelligence import decide
from pie.intelligence.evaluation import (
    Counts,
    Report,
    evaluate_labelled,
    evaluate_sample,
    load_labelled,
)
from pie.intelligence.lexicon import ExtractorConfig
from pie.intelligence.offline import OfflineExtractor
from pie.intelligence.parse import parse
from pie.sample import generate, truth_paths, vocab

ROOT = Path(__file__).resolve().parents[1]
LABELLED = ROOT / "tests" / "data" / "conversations"
#: Written (with labels) before the rules they score were last changed; never tuned on.
HELDOUT = ROOT / "tests" / "data" / "conversations_heldout"
TARGET_RATE = 50.0
TARGET_CHARS = 2000
SAMPLE_DEALS = 400


def one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def micro(counts: dict[str, Counts]) -> str:
    tp = sum(c.tp for c in counts.values())
    fp = sum(c.fp for c in counts.values())
    fn = sum(c.fn for c in counts.values())
    p = f"{tp / (tp + fp):.2f}" if tp + fp else "-"
    r = f"{tp / (tp + fn):.2f}" if tp + fn else "-"
    return f"P {p} R {r}"


def table(report: Report, title: str | None = None) -> None:
    d = report.as_dict()
    print(f"\n== {title or d['set']}: {d['conversations']} conversations")
    for group in ("fields", "signals"):
        for name, c in d[group].items():
            p = "  -  " if c["precision"] is None else f"{c['precision']:.2f}"
            r = "  -  " if c["recall"] is None else f"{c['recall']:.2f}"
            counts = f"(tp {c['tp']}, fp {c['fp']}, fn {c['fn']})"
            print(f"  {group[:-1]:<6} {name:<24} P {p:>5}  R {r:>5}  {counts}")
    if d["create"]["tp"] + d["create"]["fp"] + d["create"]["fn"]:
        c = d["create"]
        print(
            f"  create decision: P {c['precision']}  R {c['recall']}; decision accuracy "
            f"{d['decision_accuracy']}; values right "
            f"{d['values']['right']}/{d['values']['checked']}"
        )
    print(f"  micro: fields {micro(report.fields)}; signals {micro(report.signals)}")
    print(f"  quotes verbatim: {report.verbatim}/{report.evidence} ({report.verbatim_share:.2%})")


def transcripts() -> list[tuple[bytes, datetime]]:
    """~2,000-character call transcripts: each labelled call, its lines repeated to length."""
    out = []
    for item in load_labelled(LABELLED).items:
        if not item.path.name.startswith("call_"):
            continue
        lines = item.path.read_text(encoding="utf-8").splitlines(keepends=True)
        text = ""
        while len(text) < TARGET_CHARS:
            text += lines[len(text.splitlines()) % len(lines)]
        at = datetime(item.day.year, item.day.month, item.day.day, 12, tzinfo=UTC)
        out.append((text.encode("utf-8"), at))
    return out


def speed() -> tuple[float, dict[str, float], float, int, float]:
    ls = load_labelled(LABELLED)
    extractor = OfflineExtractor(ls.config)
    corpus = transcripts()
    # warm up: lazy imports, dateparser's data, caches of the first conversations
    for data, at in corpus[:3]:
        extractor.extract_sync(parse(data, occurred_at=at, sellers=ls.sellers))
    stages = {"parse": 0.0, "extract": 0.0, "decide": 0.0}
    n = 0
    rounds = 4
    clock = time.process_time
    wall0 = time.perf_counter()
    for r in range(rounds):
        for data, at in corpus:
            # a different date each round, so no cache sees the same (span, anchor) twice
            at = at.replace(day=1 + (at.day + r * 7) % 28)
            t0 = clock()
            conv = parse(data, occurred_at=at, sellers=ls.sellers)
            t1 = clock()
            x = extractor.extract_sync(conv)
            t2 = clock()
            decide(x.detection, [])
            t3 = clock()
            stages["parse"] += t1 - t0
            stages["extract"] += t2 - t1
            stages["decide"] += t3 - t2
            n += 1
    wall_rate = n / (time.perf_counter() - wall0)
    rate = n / sum(stages.values())
    # baseline: dateparser's own search over every transcript
    from dateparser.search import search_dates

    sample = corpus[:8]
    t0 = clock()
    for data, at in sample:
        search_dates(
            data.decode("utf-8"),
            languages=["en"],
            settings={"RELATIVE_BASE": at.replace(tzinfo=None), "PREFER_DATES_FROM": "future"},
        )
    base_rate = len(sample) / (clock() - t0)
    return rate, stages, base_rate, n, wall_rate


def main() -> None:
    one_core()
    labelled = evaluate_labelled(LABELLED)
    table(labelled)
    heldout = evaluate_labelled(HELDOUT)
    table(heldout, "held-out, written before tuning (tests/data/conversations_heldout)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "sample.json"
        generate(out, deals=SAMPLE_DEALS, seed=11)
        _, lines = truth_paths(out)
        config = ExtractorConfig(
            competitors=vocab.COMPETITORS,
            products={p: () for p, _ in vocab.PRODUCT_LINES},
        )
        sample = evaluate_sample(
            out, lines, config=config, sellers=vocab.OWNERS, seller_domains=("pie-demo.example",)
        )
    table(sample)
    rate, stages, base_rate, n, wall_rate = speed()
    total = sum(stages.values())
    split = ", ".join(f"{k} {v / n * 1000:.2f} ms ({v / total:.0%})" for k, v in stages.items())
    print(f"\n== speed: {n} transcripts of ~{TARGET_CHARS} chars on one core")
    print(
        f"  {rate:.0f} conversations per CPU second ({wall_rate:.0f}/s wall clock on the shared "
        f"machine); per conversation: {split}"
    )
    print(f"  baseline (dateparser.search over the text): {base_rate:.1f} conversations/s")
    c = labelled.create
    quality_ok = (
        (c.precision or 0.0) >= 0.9
        and (c.recall or 0.0) >= 0.7
        and labelled.verbatim_share == 1.0
        and heldout.verbatim_share == 1.0
        and sample.verbatim_share == 1.0
    )
    print(
        f"  quality targets (create P >= 0.9, R >= 0.7, 100% verbatim): "
        f"{'met' if quality_ok else 'MISSED'}"
    )
    line = {
        "bench": "extraction",
        "value": round(rate, 1),
        "unit": "conversations/s",
        "ratio": round(rate / base_rate, 1),
        "target": TARGET_RATE,
        "ok": rate >= TARGET_RATE and quality_ok,
    }
    print(json.dumps(line))
    if not line["ok"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
