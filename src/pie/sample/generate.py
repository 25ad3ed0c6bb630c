"""``generate``: writes the sample world (``OUT.json``) and its ground truth beside it.

Files: ``OUT.json`` (pie/v1, source "sample"), ``OUT.ground_truth.json`` (every parameter, the
ICP industries, as_of, the seed, counts) and ``OUT.truth.jsonl`` (one line per deal: its true
context at every stage visit, champion, blocker, and which signals its text holds).

Everything streams: accounts and contacts are drawn as compact arrays and written, then deals
are drawn in chunks and written one by one. The same seed gives byte-identical files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from pie.domain.stages import Stage
from pie.sample import vocab
from pie.sample.conversations import OBJECTIONS
from pie.sample.deals import Clock, DealFacts, build_deal
from pie.sample.draws import Draws
from pie.sample.ground_truth import GroundTruth, to_json_dict
from pie.sample.process import DealSeed, simulate_deal
from pie.sample.world import Directory, build_directory, write_accounts
from pie.sample.writer import PieJsonWriter, dumps

DEFAULT_GROUND_TRUTH = GroundTruth()
_CHUNK = 4096
_PROGRESS_EVERY = 500


@dataclass(frozen=True, slots=True, kw_only=True)
class GenerationSummary:
    out: Path
    ground_truth: Path
    truth_lines: Path
    accounts: int
    contacts: int
    deals: int
    won: int
    lost: int
    open: int
    activities: int


def truth_paths(out: Path) -> tuple[Path, Path]:
    """(OUT.ground_truth.json, OUT.truth.jsonl) for OUT.json."""
    stem = out.name[:-5] if out.name.endswith(".json") else out.name
    return out.with_name(stem + ".ground_truth.json"), out.with_name(stem + ".truth.jsonl")


def creation_days(
    gt: GroundTruth, first: int, n: int, total: int, rng: np.random.Generator
) -> NDArray[np.float64]:
    """Creation times (days relative to as_of) of deals first .. first+n-1 of ``total``,
    oldest first: stratified uniforms mapped through the inverse CDF of an arrival rate that
    grows linearly by ``arrival_growth`` over the history."""
    u = (np.arange(first, first + n) + rng.random(n)) / total
    g = gt.arrival_growth
    x = u if g == 0 else (np.sqrt(1.0 + 2.0 * g * u * (1.0 + g / 2.0)) - 1.0) / g
    days: NDArray[np.float64] = -gt.history_days + gt.history_days * x
    return days


def _cum(rows: tuple[tuple[object, ...], ...]) -> NDArray[np.float64]:
    w = np.array([float(r[1]) for r in rows])  # type: ignore[arg-type]
    out: NDArray[np.float64] = np.cumsum(w) / w.sum()
    return out


def _deal_inputs(
    gt: GroundTruth, d: Directory, first: int, n: int, total: int, rng: np.random.Generator
) -> list[tuple[DealFacts, DealSeed]]:
    created = creation_days(gt, first, n, total, rng).tolist()
    account = rng.integers(0, d.n_accounts, n)
    product = np.searchsorted(_cum(vocab.PRODUCT_LINES), rng.random(n), side="right")
    source = np.searchsorted(_cum(vocab.LEAD_SOURCES), rng.random(n), side="right")
    own = np.where(rng.random(n) < 0.85, d.owner[account], rng.integers(0, d.owner.max() + 1, n))
    competitor = np.where(
        rng.random(n) < gt.p_competitor, rng.integers(0, len(vocab.COMPETITORS), n), -1
    )
    objection = rng.integers(0, len(OBJECTIONS), n)
    size = (d.employees[account] / 400.0) ** 0.25
    mult = np.array([p[1] for p in vocab.PRODUCT_LINES])[product]
    value = np.maximum(
        np.round(
            gt.reference_median_value * size * mult * rng.lognormal(0.0, gt.value_sigma, n), -2
        ),
        500.0,
    )
    responsiveness = rng.lognormal(-0.125, 0.5, n)
    p_champion = gt.p_champion_at_start * np.array([s[2] for s in vocab.LEAD_SOURCES])[source]
    champion = rng.random(n) < p_champion
    cycle = 30.0 + rng.gamma(2.0, 45.0, n)
    icp = np.isin(
        d.industry[account],
        [i for i, row in enumerate(vocab.INDUSTRIES) if row[0] in gt.icp_industries],
    )
    return [
        (
            DealFacts(
                index=first + j,
                account=int(account[j]),
                product=int(product[j]),
                lead_source=int(source[j]),
                owner=vocab.OWNERS[own[j]],
                competitor=vocab.COMPETITORS[competitor[j]] if competitor[j] >= 0 else None,
                objection=int(objection[j]),
            ),
            DealSeed(
                created=created[j],
                value=float(value[j]),
                icp_match=bool(icp[j]),
                responsiveness=float(responsiveness[j]),
                champion_at_start=bool(champion[j]),
                expected_cycle_days=float(cycle[j]),
            ),
        )
        for j in range(n)
    ]


def generate(
    out: Path,
    *,
    deals: int,
    seed: int,
    gt: GroundTruth = DEFAULT_GROUND_TRUTH,
    conversations: bool = True,
    progress: Callable[[int], None] | None = None,
) -> GenerationSummary:
    """Writes ``out`` and its ground-truth files; ``progress(n)`` is called with the number of
    deals written so far (every few hundred deals and once at the end)."""
    if deals < 0:
        raise ValueError("deals must be >= 0")
    world_ss, deal_ss, text_ss = np.random.SeedSequence(seed).spawn(3)
    world_rng = np.random.Generator(np.random.PCG64(world_ss))
    deal_rng = np.random.Generator(np.random.PCG64(deal_ss))
    draws = Draws(deal_rng)
    text = Draws(np.random.Generator(np.random.PCG64(text_ss))) if conversations else None
    gt_path, lines_path = truth_paths(out)
    directory = build_directory(gt, deals, world_rng)
    clock = Clock(gt.as_of)
    counts = dict.fromkeys(("won", "lost", "open", "activities"), 0)
    with (
        out.open("w", encoding="utf-8", newline="\n", buffering=1 << 20) as f,
        lines_path.open("w", encoding="utf-8", newline="\n", buffering=1 << 20) as truth_file,
    ):
        writer = PieJsonWriter(f, source="sample")
        write_accounts(directory, writer, world_rng)
        writer.begin("deals")
        for first in range(0, deals, _CHUNK):
            for facts, deal_seed in _deal_inputs(
                gt, directory, first, min(_CHUNK, deals - first), deals, deal_rng
            ):
                path = simulate_deal(gt, draws, deal_seed)
                deal, truth = build_deal(gt, directory, clock, draws, text, facts, path)
                writer.write(deal)
                truth_file.write(dumps(truth) + "\n")
                stage = path.stage
                key = (
                    "won"
                    if stage is Stage.CLOSED_WON
                    else "lost"
                    if stage is Stage.CLOSED_LOST
                    else "open"
                )
                counts[key] += 1
                counts["activities"] += len(deal["activities"])
                done = facts.index + 1
                if progress is not None and (done % _PROGRESS_EVERY == 0 or done == deals):
                    progress(done)
        writer.close()
    summary = GenerationSummary(
        out=out,
        ground_truth=gt_path,
        truth_lines=lines_path,
        accounts=directory.n_accounts,
        contacts=directory.n_contacts,
        deals=deals,
        won=counts["won"],
        lost=counts["lost"],
        open=counts["open"],
        activities=counts["activities"],
    )
    document = {
        "seed": seed,
        "deals": deals,
        "conversations": conversations,
        "as_of": clock.ts(0.0),
        "icp_industries": list(gt.icp_industries),
        "files": {"sample": out.name, "truth_lines": lines_path.name},
        "counts": {
            "accounts": summary.accounts,
            "contacts": summary.contacts,
            "deals": deals,
            "won": summary.won,
            "lost": summary.lost,
            "open": summary.open,
            "activities": summary.activities,
        },
        "ground_truth": to_json_dict(gt),
    }
    gt_path.write_text(dumps(document) + "\n", encoding="utf-8", newline="\n")
    return summary
