"""Scoring an extractor against labelled conversations and against the sample world's truth.

The labelled set (``tests/data/conversations``) is a folder of conversation files and a
``labels.json`` naming, per file, the qualification fields and signals a careful reader finds
in it, the create/update/none decision given the open deals listed, and some expected values
(budget amount, timeline month). ``evaluate_labelled`` runs parse -> extract -> decide on each
and counts true and false positives per field, per signal and for the create decision, and
checks that every quote is verbatim. ``evaluate_sample`` does the same for the sample world's
activities, whose truth names the signals each activity's text holds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from pie.domain.intelligence import (
    QUALIFICATION_FIELDS,
    Conversation,
    DecisionAction,
    Extraction,
    SignalKind,
    decide,
    evidence_items,
)
from pie.domain.model import Deal
from pie.domain.stages import Stage
from pie.intelligence.lexicon import ExtractorConfig
from pie.intelligence.offline import OfflineExtractor
from pie.intelligence.parse import parse

Extract = Callable[[Conversation], Extraction]


@dataclass(slots=True)
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, predicted: bool, actual: bool) -> None:
        if predicted and actual:
            self.tp += 1
        elif predicted:
            self.fp += 1
        elif actual:
            self.fn += 1
        else:
            self.tn += 1

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    def as_dict(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 3)

        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": r(self.precision),
            "recall": r(self.recall),
        }


@dataclass(slots=True)
class Report:
    name: str
    conversations: int = 0
    fields: dict[str, Counts] = field(default_factory=dict)
    signals: dict[str, Counts] = field(default_factory=dict)
    create: Counts = field(default_factory=Counts)
    decisions_right: int = 0
    values_checked: int = 0
    values_right: int = 0
    evidence: int = 0
    verbatim: int = 0
    mistakes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(
        default_factory=lambda: {"parse": 0.0, "extract": 0.0, "decide": 0.0}
    )

    def count(self, table: dict[str, Counts], name: str) -> Counts:
        return table.setdefault(name, Counts())

    @property
    def verbatim_share(self) -> float:
        return self.verbatim / self.evidence if self.evidence else 1.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "set": self.name,
            "conversations": self.conversations,
            "fields": {k: v.as_dict() for k, v in sorted(self.fields.items())},
            "signals": {k: v.as_dict() for k, v in sorted(self.signals.items())},
            "create": self.create.as_dict(),
            "decision_accuracy": round(self.decisions_right / self.conversations, 3)
            if self.conversations
            else None,
            "values": {"checked": self.values_checked, "right": self.values_right},
            "evidence": self.evidence,
            "verbatim_share": round(self.verbatim_share, 4),
            "seconds": {k: round(v, 4) for k, v in self.seconds.items()},
        }


def check_verbatim(report: Report, source: str, extraction: Extraction) -> None:
    for ev in evidence_items(extraction):
        report.evidence += 1
        if source[ev.start : ev.end] == ev.quote and ev.quote:
            report.verbatim += 1
        else:
            report.mistakes.append(f"not verbatim: {ev.quote!r}")


# --------------------------------------------------------------------------------------------
# The labelled set


@dataclass(frozen=True, slots=True)
class Labelled:
    path: Path
    day: date
    decision: DecisionAction
    fields: frozenset[str]
    signals: frozenset[str]
    open_deals: tuple[Deal, ...]
    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class LabelledSet:
    config: ExtractorConfig
    sellers: tuple[str, ...]
    items: tuple[Labelled, ...]


def _deal(spec: dict[str, Any], n: int, day: date) -> Deal:
    at = datetime(day.year, day.month, day.day, tzinfo=UTC)
    close = spec.get("expected_close")
    tenant = uuid5(NAMESPACE_URL, "pie-eval")
    return Deal(
        id=uuid5(NAMESPACE_URL, f"pie-eval-deal-{n}"),
        tenant_id=tenant,
        name=f"open deal {n}",
        account_id=uuid5(NAMESPACE_URL, "pie-eval-account"),
        stage=Stage.DISCOVERY,
        product_line=spec.get("product_line"),
        expected_close=date.fromisoformat(close) if close else None,
        created_at=at,
        updated_at=at,
    )


def load_labelled(folder: Path) -> LabelledSet:
    data = json.loads((folder / "labels.json").read_text(encoding="utf-8"))
    cfg = data.get("config", {})
    config = ExtractorConfig(
        competitors=tuple(cfg.get("competitors", ())),
        products={k: tuple(v) for k, v in cfg.get("products", {}).items()},
        seller_domains=tuple(cfg.get("seller_domains", ())),
    )
    items = []
    for n, c in enumerate(data["conversations"]):
        day = date.fromisoformat(c["date"])
        unknown = set(c.get("fields", ())) - set(QUALIFICATION_FIELDS)
        unknown |= set(c.get("signals", ())) - {k.value for k in SignalKind}
        if unknown:
            raise ValueError(f"{c['file']}: unknown labels {sorted(unknown)}")
        items.append(
            Labelled(
                path=folder / c["file"],
                day=day,
                decision=DecisionAction(c.get("decision", "none")),
                fields=frozenset(c.get("fields", ())),
                signals=frozenset(c.get("signals", ())),
                open_deals=tuple(
                    _deal(d, n * 10 + i, day) for i, d in enumerate(c.get("open_deals", ()))
                ),
                values=dict(c.get("values", {})),
            )
        )
    return LabelledSet(config=config, sellers=tuple(cfg.get("sellers", ())), items=tuple(items))


def _value_right(name: str, want: Any, x: Extraction) -> bool:
    q = x.qualification
    if name == "budget":
        got = q.budget.amount if q.budget is not None else None
        return got is not None and abs(got - Decimal(str(want))) <= Decimal(str(want)) * Decimal(
            "0.01"
        )
    if name == "timeline":
        due = q.timeline.due if q.timeline is not None else None
        return due is not None and due.isoformat()[:7] == str(want)
    return False


def evaluate_labelled(folder: Path, extract: Extract | None = None, *, repeat: int = 1) -> Report:
    """Scores ``extract`` (the offline extractor by default) on the labelled set."""
    ls = load_labelled(folder)
    run = extract or OfflineExtractor(ls.config).extract_sync
    report = Report(name=folder.name)
    for item in ls.items:
        data = item.path.read_bytes()
        anchor = datetime(item.day.year, item.day.month, item.day.day, 12, tzinfo=UTC)
        for _ in range(repeat):
            t0 = time.perf_counter()
            conv = parse(
                data,
                source=item.path.name,
                occurred_at=anchor,
                seller_domains=ls.config.seller_domains,
                sellers=ls.sellers,
            )
            t1 = time.perf_counter()
            x = run(conv)
            t2 = time.perf_counter()
            d = decide(x.detection, item.open_deals)
            t3 = time.perf_counter()
            report.seconds["parse"] += t1 - t0
            report.seconds["extract"] += t2 - t1
            report.seconds["decide"] += t3 - t2
        report.conversations += 1
        check_verbatim(report, conv.text, x)
        got_fields = {n for n, _ in x.qualification.items()}
        for name in QUALIFICATION_FIELDS:
            report.count(report.fields, name).add(name in got_fields, name in item.fields)
        got_signals = {s.kind.value for s in x.detection.signals}
        for kind in SignalKind:
            report.count(report.signals, kind.value).add(
                kind.value in got_signals, kind.value in item.signals
            )
        report.create.add(d.action is DecisionAction.CREATE, item.decision is DecisionAction.CREATE)
        if d.action is item.decision:
            report.decisions_right += 1
        else:
            report.mistakes.append(
                f"{item.path.name}: decided {d.action.value}, labelled {item.decision.value} "
                f"(confidence {x.detection.confidence:.2f})"
            )
        for name, want in item.values.items():
            report.values_checked += 1
            if _value_right(name, want, x):
                report.values_right += 1
            else:
                report.mistakes.append(f"{item.path.name}: {name} value, want {want}")
        for name in sorted(got_fields ^ item.fields):
            what = "extra" if name in got_fields else "missed"
            report.mistakes.append(f"{item.path.name}: {what} field {name}")
        for name in sorted(got_signals ^ item.signals):
            what = "extra" if name in got_signals else "missed"
            report.mistakes.append(f"{item.path.name}: {what} signal {name}")
    return report


# --------------------------------------------------------------------------------------------
# The sample world

#: The sample world's signal names -> what the extractor reports for them.
SAMPLE_SIGNALS = {
    "pain": "identify_pain",
    "budget": "budget",
    "timeline": "timeline",
    "authority": "authority",
    "champion": "champion",
    "competitor": "competitive_evaluation",
    "objection": "objection",
}


def sample_predictions(x: Extraction) -> set[str]:
    got = {n for n, _ in x.qualification.items()}
    got |= {s.kind.value for s in x.detection.signals}
    if x.enrichment.objections:
        got.add("objection")
    return got


def sample_activities(sample: Path, truth_lines: Path) -> Iterable[tuple[dict[str, Any], set[str]]]:
    """(activity, the signals its text holds) for every sample activity with text."""
    truth: dict[str, set[str]] = {}
    with truth_lines.open(encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            for signal, ids in row.get("signals", {}).items():
                for i in ids:
                    truth.setdefault(i, set()).add(signal)
    doc = json.loads(sample.read_text(encoding="utf-8"))
    for d in doc.get("deals", []):
        for a in d.get("activities", []):
            if a.get("content"):
                yield a, truth.get(a["id"], set())


def evaluate_sample(
    sample: Path,
    truth_lines: Path,
    *,
    extract: Extract | None = None,
    config: ExtractorConfig | None = None,
    sellers: Iterable[str] = (),
    seller_domains: Iterable[str] = (),
    limit: int | None = None,
) -> Report:
    """Scores the extractor on the sample world's conversations."""
    run = extract or OfflineExtractor(config).extract_sync
    report = Report(name="sample-world")
    names = tuple(sellers)
    domains = tuple(seller_domains)
    for n, (a, signals) in enumerate(sample_activities(sample, truth_lines)):
        if limit is not None and n >= limit:
            break
        at = datetime.fromisoformat(str(a["at"]).replace("Z", "+00:00"))
        t0 = time.perf_counter()
        conv = parse(
            a["content"], source=a["id"], occurred_at=at, seller_domains=domains, sellers=names
        )
        t1 = time.perf_counter()
        x = run(conv)
        report.seconds["parse"] += t1 - t0
        report.seconds["extract"] += time.perf_counter() - t1
        report.conversations += 1
        check_verbatim(report, conv.text, x)
        got = sample_predictions(x)
        for signal, ours in SAMPLE_SIGNALS.items():
            report.count(report.fields, signal).add(ours in got, signal in signals)
            if (ours in got) != (signal in signals):
                kind = "extra" if ours in got else "missed"
                report.mistakes.append(f"{a['id']}: {kind} {signal}")
    return report
