"""Benchmark: PIE's directly-follows discovery (numpy) against pm4py's, on the same log.

The log is a generated sample world (``pie.sample.generate`` without conversations, 100,000
deals by default), read back as deal histories; each stage transition is one event. Both
sides start from their own in-memory input, built before timing: PIE from an ``EventLog``
(built from the histories; that build is timed and printed separately), pm4py from a pandas
DataFrame with the same events. Counts must be identical; durations must agree.

    .venv/bin/python bench/mining_bench.py [--deals 100000] [--seed 7] [--repeat 3]

Ends with one JSON line per bench:
{"bench": NAME, "value": ..., "unit": ..., "ratio": ..., "target": ..., "ok": true|false}.
pm4py is AGPL and is used here only as the reference, never from src/.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import ijson
import numpy as np
import pandas as pd

from pie.domain.history import DealHistory
from pie.domain.model import Deal, EntityKind, StageTransition, derive_id
from pie.domain.stages import Stage, parse_stage
from pie.mining.dfg import DirectlyFollows, discover_dfg
from pie.mining.eventlog_arrays import EventLog
from pie.sample import generate

TENANT = UUID("00000000-0000-4000-8000-00000000be7c")
TARGET_RATIO = 3.0


def _stage(name: str) -> Stage:
    stage = parse_stage(name)
    if stage is None:
        raise ValueError(f"unknown stage {name!r}")
    return stage


def read_histories(path: Path) -> Iterator[DealHistory]:
    """Deals and their stage histories from a PIE JSON file, streamed with ijson."""
    with path.open("rb") as handle:
        for raw in ijson.items(handle, "deals.item", use_float=True):
            deal_id = derive_id(TENANT, EntityKind.DEAL, "sample", raw["id"])
            transitions = tuple(
                StageTransition(
                    id=derive_id(TENANT, EntityKind.STAGE_TRANSITION, "sample", raw["id"], i),
                    tenant_id=TENANT,
                    deal_id=deal_id,
                    from_stage=None if e.get("from") is None else _stage(e["from"]),
                    to_stage=_stage(e["to"]),
                    at=datetime.fromisoformat(e["at"]),
                )
                for i, e in enumerate(raw.get("stage_history", []))
            )
            created = datetime.fromisoformat(raw["created_at"])
            deal = Deal(
                id=deal_id,
                tenant_id=TENANT,
                name=raw["name"],
                account_id=None,
                stage=_stage(raw["stage"]),
                created_at=created,
                updated_at=created,
            )
            yield DealHistory(deal=deal, transitions=transitions)


def to_frame(log: EventLog) -> pd.DataFrame:
    """The same events as pm4py's usual DataFrame columns."""
    case_ids = np.array(log.case_ids, dtype=object)
    activities = np.array(log.activities, dtype=object)
    return pd.DataFrame(
        {
            "case:concept:name": case_ids[log.case],
            "concept:name": activities[log.activity],
            "time:timestamp": pd.to_datetime(log.time_us, unit="us", utc=True),
        }
    )


def best_of(repeat: int, run: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def check_durations(ours: DirectlyFollows, performance: dict[Any, Any]) -> float:
    """The largest relative difference between PIE's and pm4py's mean and median seconds."""
    mean, median = ours.seconds("mean"), ours.seconds("median")
    worst = 0.0
    for pair, stats in performance.items():
        for mine, theirs in ((mean[pair], stats["mean"]), (median[pair], stats["median"])):
            worst = max(worst, abs(mine - float(theirs)) / max(abs(float(theirs)), 1.0))
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pm4py

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "world.json"
        start = time.perf_counter()
        generate(path, deals=args.deals, seed=args.seed, conversations=False)
        print(
            f"generated {args.deals} deals in {time.perf_counter() - start:.1f} s "
            f"({path.stat().st_size / 1e6:.0f} MB of PIE JSON)"
        )
        start = time.perf_counter()
        histories = list(read_histories(path))
        print(f"read {len(histories)} deal histories in {time.perf_counter() - start:.1f} s")

    build_s, log = best_of(args.repeat, lambda: EventLog.from_histories(histories))
    frame_s, frame = best_of(args.repeat, lambda: to_frame(log))
    print(
        f"event log: {len(log)} events, {len(log.case_ids)} cases; "
        f"EventLog.from_histories {build_s * 1e3:.0f} ms, "
        f"DataFrame for pm4py {frame_s * 1e3:.0f} ms"
    )

    pie_s, ours = best_of(args.repeat, lambda: discover_dfg(log))
    pm4py_counts_s, (counts, starts, ends) = best_of(args.repeat, lambda: pm4py.discover_dfg(frame))
    pm4py_perf_s, (performance, _, _) = best_of(
        args.repeat, lambda: pm4py.discover_performance_dfg(frame)
    )
    identical = counts == ours.counts() and starts == ours.starts() and ends == ours.ends()
    worst = check_durations(ours, performance)
    print(f"PIE discover_dfg (counts + sum/mean/median/min/max seconds): {pie_s * 1e3:.0f} ms")
    print(
        f"pm4py discover_dfg (counts):                               {pm4py_counts_s * 1e3:.0f} ms"
    )
    print(f"pm4py discover_performance_dfg (durations):                {pm4py_perf_s * 1e3:.0f} ms")
    print(
        f"{len(counts)} directly-follows pairs; counts, starts and ends identical: {identical}; "
        f"largest relative duration difference: {worst:.2e}"
    )

    # The sample's events arrive sorted by (case, time), which lets PIE skip its sort. Shuffle
    # them (both sides get the same order) to time the general path too.
    shuffle = np.random.default_rng(args.seed).permutation(len(log))
    shuffled = EventLog(
        case_ids=log.case_ids,
        activities=log.activities,
        case=log.case[shuffle],
        activity=log.activity[shuffle],
        time_us=log.time_us[shuffle],
    )
    shuffled_frame = frame.iloc[shuffle].reset_index(drop=True)
    pie_shuffled_s, ours_shuffled = best_of(args.repeat, lambda: discover_dfg(shuffled))
    pm4py_shuffled_s, (counts_shuffled, _, _) = best_of(
        args.repeat,
        lambda: (
            pm4py.discover_dfg(shuffled_frame),
            pm4py.discover_performance_dfg(shuffled_frame),
        )[0],
    )
    identical_shuffled = counts_shuffled == ours_shuffled.counts() == counts
    print(
        f"shuffled events: PIE {pie_shuffled_s * 1e3:.0f} ms, "
        f"pm4py counts + durations {pm4py_shuffled_s * 1e3:.0f} ms; "
        f"counts identical: {identical_shuffled}"
    )

    both = pm4py_counts_s + pm4py_perf_s
    benches = [
        ("dfg_with_durations_vs_pm4py", pie_s, both / pie_s, identical and worst < 1e-9),
        ("dfg_counts_vs_pm4py_counts", pie_s, pm4py_counts_s / pie_s, identical),
        (
            "dfg_with_durations_shuffled_vs_pm4py",
            pie_shuffled_s,
            pm4py_shuffled_s / pie_shuffled_s,
            identical_shuffled,
        ),
        # both sides starting from the deal histories: PIE builds its EventLog, pm4py gets
        # the same events as a DataFrame (built from the EventLog, so its cost is a floor)
        (
            "dfg_from_histories_vs_pm4py",
            build_s + pie_s,
            (build_s + frame_s + both) / (build_s + pie_s),
            identical,
        ),
    ]
    ok_all = True
    for name, seconds, ratio, agree in benches:
        ok = agree and ratio >= TARGET_RATIO
        ok_all = ok_all and ok
        print(
            json.dumps(
                {
                    "bench": name,
                    "value": round(seconds * 1e3, 2),
                    "unit": "ms",
                    "ratio": round(ratio, 2),
                    "target": TARGET_RATIO,
                    "ok": ok,
                }
            )
        )
    if not identical:
        print("counts differ between PIE and pm4py", file=sys.stderr)
    return 0 if ok_all else 1


if __name__ == "__main__":
    raise SystemExit(main())
