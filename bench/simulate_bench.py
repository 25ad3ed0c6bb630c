"""Simulation benchmarks: the vectorised engine against a per-run Python loop.

(a) one deal x 10,000 runs; (b) 1,000 deals x 10,000 runs (the loop is timed on a sample of
deals and extrapolated). The loop has the shape of seed 004's ``DealSimulator``: for each run,
step the same mined model with Python ``random`` draws until the deal closes.

Run: .venv/bin/python bench/simulate_bench.py   (ends with one JSON line per bench)
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from pie.bootstrap import build, ensure_embedded_schema
from pie.config import Settings
from pie.domain.history import DealHistory
from pie.importing import import_file
from pie.mining import ProcessModel, fit
from pie.mining.events import LOST, WON
from pie.sample.generate import generate
from pie.services.histories import load_histories
from pie.simulation import DealState, deal_state, simulate
from pie.simulation.montecarlo import Starts, Tables

RUNS = 10_000


class LoopSimulator:
    """The seed's shape: a Python loop over runs, one Python random draw at a time."""

    def __init__(self, model: ProcessModel) -> None:
        t = Tables.of(model)
        self.left = t.left.tolist()
        self.total = t.total.tolist()
        self.cum = t.cum_dest.tolist()
        self.n_ctx = t.n_contexts

    def run_single(
        self, stage: int, ctx: int, spent: float, rnd: random.Random
    ) -> tuple[bool, float]:
        clock = 0.0
        left, n_bins = self.left, len(self.left)
        for _ in range(512):
            rates = self.total[stage * self.n_ctx + ctx]
            e, acc, exit_at = -math.log(1.0 - rnd.random()), 0.0, spent
            for b in range(n_bins):
                start = max(left[b], spent)
                end = left[b + 1] if b + 1 < n_bins else math.inf
                if end <= start:
                    continue
                h = rates[b] * (end - start)
                if acc + h >= e or b == n_bins - 1:
                    exit_at = start + (e - acc) / rates[b]
                    break
                acc += h
            b = max(i for i in range(n_bins) if left[i] <= exit_at)
            u, cum = rnd.random(), self.cum[stage * self.n_ctx + ctx][b]
            dest = next((j for j, c in enumerate(cum) if u <= c), len(cum) - 1)
            clock += exit_at - spent
            if dest in (WON, LOST):
                return dest == WON, clock
            stage, spent = dest, 0.0
            if clock > 3650.0:
                break
        return False, math.nan

    def simulate(self, stage: int, ctx: int, spent: float, runs: int, seed: int) -> float:
        rnd = random.Random(seed)
        outcomes = [self.run_single(stage, ctx, spent, rnd) for _ in range(runs)]
        return sum(1 for won, _ in outcomes if won) / runs


async def imported(path: Path, data_dir: Path) -> list[DealHistory]:
    """The file imported into a fresh embedded store and read back as the services read it,
    in a stable order (the ids are derived from a random tenant)."""
    settings = Settings(data_dir=data_dir, database_url=None)
    ensure_embedded_schema(settings)
    container = build(settings)
    try:
        tenant = (await container.tenants.create("bench")).tenant.id
        await import_file(container.uow(tenant), path)
        histories = await load_histories(container.uow(tenant))
    finally:
        await container.aclose()
    return sorted(histories, key=lambda h: (h.deal.created_at, h.deal.name))


def world() -> tuple[ProcessModel, list[DealState]]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "world.json"
        generate(out, deals=3000, seed=5, conversations=False)
        histories = asyncio.run(imported(out, Path(tmp)))
    as_of = max(t.at for h in histories for t in h.transitions)
    model = fit(histories, as_of=as_of)
    states = [deal_state(h, model, as_of=as_of) for h in histories if h.deal.is_open]
    return model, states


def timed(fn, repeat: int = 1) -> float:  # type: ignore[no-untyped-def]
    best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    model, states = world()
    print(f"model: {model.sufficiency.message}; {len(states)} open deals")
    loop = LoopSimulator(model)
    starts = Starts.of(model, states)
    lines = []

    # (a) one deal x 10,000 runs
    one = states[:1]
    vec = timed(lambda: simulate(model, one, runs=RUNS, rng=np.random.default_rng(0)), 3)
    py = timed(
        lambda: loop.simulate(
            int(starts.stage[0]), int(starts.context[0]), float(starts.spent[0]), RUNS, 0
        )
    )
    p_vec = simulate(model, one, runs=RUNS, rng=np.random.default_rng(0))[0].p_win
    p_py = loop.simulate(
        int(starts.stage[0]), int(starts.context[0]), float(starts.spent[0]), RUNS, 1
    )
    print(
        f"(a) 1 deal x {RUNS} runs: numpy {vec * 1e3:.1f} ms, python loop {py * 1e3:.1f} ms, "
        f"ratio {py / vec:.1f}x; p_win numpy {p_vec:.3f} vs loop {p_py:.3f}"
    )
    lines.append(
        {
            "bench": "simulate_one_deal_10k_runs",
            "value": round(vec * 1e3, 2),
            "unit": "ms",
            "ratio": round(py / vec, 1),
            "target": 10,
            "ok": py / vec >= 10,
        }
    )

    # (b) 1,000 deals x 10,000 runs, memory measured with tracemalloc
    many = [states[i % len(states)] for i in range(1000)]
    t = time.perf_counter()
    simulate(model, many, runs=RUNS, rng=np.random.default_rng(0))
    vec_b = time.perf_counter() - t  # timed without tracemalloc, which slows numpy down
    tracemalloc.start()  # a second run, for the peak of memory allocated during it
    simulate(model, many, runs=RUNS, rng=np.random.default_rng(0))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    sample = 10
    t = time.perf_counter()
    for i in range(sample):
        k = (i * 1000 // sample) % len(states)  # spread like the 1,000 deals
        loop.simulate(int(starts.stage[k]), int(starts.context[k]), float(starts.spent[k]), RUNS, i)
    py_b = (time.perf_counter() - t) * (1000 / sample)
    ratio = py_b / vec_b
    mb = peak / 2**20
    print(
        f"(b) 1000 deals x {RUNS} runs: numpy {vec_b:.1f} s (peak traced memory {mb:.0f} MB); "
        f"python loop timed on {sample} deals and extrapolated x{1000 // sample}: {py_b:.0f} s; "
        f"ratio {ratio:.1f}x"
    )
    lines.append(
        {
            "bench": "simulate_1000_deals_10k_runs",
            "value": round(vec_b, 2),
            "unit": "s",
            "ratio": round(ratio, 1),
            "target": 15,
            "peak_mb": round(mb, 1),
            "ok": ratio >= 15 and mb <= 200,
        }
    )
    for line in lines:
        print(json.dumps(line))


if __name__ == "__main__":
    main()
