"""The sample world on disk: determinism, the pie/v1 format, and agreement with its truth."""

from __future__ import annotations

import io
import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pie.domain.stages import OPEN_PIPELINE, Stage, parse_stage
from pie.sample import GenerationSummary, generate, truth_paths
from pie.sample.writer import PieJsonWriter

AS_OF = "2026-10-01T00:00:00Z"
ROLES = {
    "champion", "blocker", "economic_buyer", "technical_buyer", "influencer", "end_user",
    "legal", "procurement", "decision_maker", "gatekeeper", "user",
}  # fmt: skip
ACTIVITY_TYPES = {
    "email", "call", "meeting", "demo", "proposal", "contract", "objection", "follow_up",
    "internal",
}  # fmt: skip
COMPETITORS = ("Dealcraft", "Forecastly", "PipeSight", "RevenueIQ", "Closewise", "SignalForge",
               "Quotient CRM")  # fmt: skip


class World:
    def __init__(self, out: Path, summary: GenerationSummary) -> None:
        self.out, self.summary = out, summary
        self.doc: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
        gt_path, lines = truth_paths(out)
        self.meta: dict[str, Any] = json.loads(gt_path.read_text(encoding="utf-8"))
        self.truth = {
            t["deal"]: t for t in map(json.loads, lines.read_text(encoding="utf-8").splitlines())
        }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    out = tmp_path_factory.mktemp("world") / "sample.json"
    return World(out, generate(out, deals=3000, seed=11))


def deals(world: World) -> Iterator[dict[str, Any]]:
    yield from world.doc["deals"]


def texts(deal: dict[str, Any]) -> dict[str, str]:
    return {a["id"]: a["content"] for a in deal["activities"] if "content" in a}


def test_same_seed_gives_identical_bytes_and_other_seeds_differ(tmp_path: Path) -> None:
    def files(name: str, seed: int) -> list[bytes]:
        out = tmp_path / f"{name}.json"
        generate(out, deals=200, seed=seed)
        return [p.read_bytes() for p in (out, *truth_paths(out))]

    a, b, c = files("a", 5), files("b", 5), files("c", 6)
    assert a[0] == b[0]
    assert a[2] == b[2]
    assert a[1].replace(b'"a.', b'"x.') == b[1].replace(b'"b.', b'"x.')
    assert a[0] != c[0]
    assert a[2] != c[2]


def test_conversations_do_not_change_the_process(tmp_path: Path) -> None:
    with_text, without = tmp_path / "t.json", tmp_path / "n.json"
    generate(with_text, deals=150, seed=3)
    generate(without, deals=150, seed=3, conversations=False)
    full = json.loads(with_text.read_text(encoding="utf-8"))["deals"]
    bare = json.loads(without.read_text(encoding="utf-8"))["deals"]
    assert [d["stage_history"] for d in full] == [d["stage_history"] for d in bare]
    assert all("content" not in a for d in bare for a in d["activities"])
    assert any("content" in a for d in full for a in d["activities"])


def test_document_follows_the_pie_v1_format(world: World) -> None:
    doc = world.doc
    assert list(doc) == ["format", "source", "accounts", "contacts", "deals"]
    assert (doc["format"], doc["source"]) == ("pie/v1", "sample")
    accounts = {a["id"]: a for a in doc["accounts"]}
    contacts = {c["id"]: c for c in doc["contacts"]}
    assert len(accounts) == world.summary.accounts
    assert len(contacts) == world.summary.contacts
    assert len({a["domain"] for a in accounts.values()}) == len(accounts)
    for a in accounts.values():
        assert a["name"] and a["employees"] > 0 and a["annual_revenue"] >= 0
    for c in contacts.values():
        assert c["name"] and c["account"] in accounts and "@" in c["email"]
    for deal in deals(world):
        assert {"id", "name", "stage", "created_at"} <= set(deal)
        assert parse_stage(deal["stage"]) is not None
        assert deal["account"] in accounts and deal["currency"] == "USD"
        assert deal["value"] >= 0 and 0 <= deal["probability"] <= 1
        for s in deal["stakeholders"]:
            assert contacts[s["contact"]]["account"] == deal["account"]
            assert set(s["roles"]) <= ROLES and -1 <= s["sentiment"] <= 1
        for act in deal["activities"]:
            assert act["type"] in ACTIVITY_TYPES
            assert all(contacts[p]["account"] == deal["account"] for p in act["participants"])


def test_stage_histories_are_consistent_and_end_before_as_of(world: World) -> None:
    for deal in deals(world):
        history = deal["stage_history"]
        assert history[0]["from"] is None and history[0]["at"] == deal["created_at"]
        for prev, cur in itertools.pairwise(history):
            assert cur["from"] == prev["to"]
            assert prev["at"] < cur["at"]
        assert history[-1]["to"] == deal["stage"]
        assert history[-1]["at"] <= AS_OF
        closed = Stage(deal["stage"]).is_closed
        assert (deal["closed_at"] is not None) == closed
        assert (deal["lost_reason"] is not None) == (deal["stage"] == "closed_lost")
        end = deal["closed_at"] or AS_OF
        times = [a["at"] for a in deal["activities"]]
        assert times == sorted(times)
        assert all(deal["created_at"] <= t <= end for t in times)
        by_id = {a["id"]: a for a in deal["activities"]}
        for entry in history:
            if entry["trigger_activity"] is not None:
                assert by_id[entry["trigger_activity"]]["at"] <= entry["at"]


def test_sample_has_won_lost_and_open_deals_with_changing_terms(world: World) -> None:
    stages = [d["stage"] for d in deals(world)]
    assert {"closed_won", "closed_lost"} <= set(stages)
    assert any(Stage(s) in OPEN_PIPELINE or s == "stalled" for s in stages)
    histories = [d["stage_history"] for d in deals(world)]
    assert any(len({h["value"] for h in hist}) > 1 for hist in histories)
    assert any(len({h["expected_close"] for h in hist}) > 1 for hist in histories)
    assert any(h["trigger_activity"] for hist in histories for h in hist)


def test_stakeholders_match_the_truth(world: World) -> None:
    for deal in deals(world):
        truth = world.truth[deal["id"]]
        roles = {s["contact"]: s["roles"] for s in deal["stakeholders"]}
        champions = {c for c, r in roles.items() if "champion" in r}
        blockers = {c for c, r in roles.items() if "blocker" in r}
        assert champions == ({truth["champion"]} if truth["champion"] else set())
        assert blockers == ({truth["blocker"]} if truth["blocker"] else set())
        unresolved = [
            o for a in deal["activities"] for o in a.get("objections", []) if not o["resolved"]
        ]
        blocked = truth["blocker"] is not None and truth["blocker_resolved_at"] is None
        assert bool(unresolved) == blocked


def test_budget_and_competitor_language_is_exactly_where_the_truth_says(world: World) -> None:
    budget = re.compile(r"\bbudget\b", re.IGNORECASE)
    seen_budget = seen_competitor = 0
    for deal in deals(world):
        truth = world.truth[deal["id"]]
        content = texts(deal)
        with_budget = {i for i, t in content.items() if budget.search(t)}
        assert with_budget == set(truth["signals"].get("budget", []))
        named = {i for i, t in content.items() if any(c in t for c in COMPETITORS)}
        assert named == set(truth["signals"].get("competitor", []))
        if named:
            assert truth["competitor"] is not None
            assert all(truth["competitor"] in content[i] for i in named)
        seen_budget += bool(with_budget)
        seen_competitor += bool(named)
    assert seen_budget > 300 and seen_competitor > 300


def test_champion_raises_the_empirical_advance_rate(world: World) -> None:
    counts = {True: [0, 0], False: [0, 0]}
    for truth in world.truth.values():
        for v in truth["visits"]:
            if v["next"] is None or v["stage"] == "stalled":
                continue
            counts[v["champion"]][0] += v["move"] == "advance"
            counts[v["champion"]][1] += 1
    rate = {k: won / n for k, (won, n) in counts.items()}
    assert counts[True][1] > 1000 and counts[False][1] > 1000
    assert rate[True] - rate[False] > 0.08


def test_ground_truth_file_records_parameters_and_counts(world: World) -> None:
    meta = world.meta
    assert meta["seed"] == 11 and meta["as_of"] == AS_OF
    assert meta["icp_industries"] == ["Software", "Financial Services", "Healthcare"]
    assert meta["counts"]["deals"] == 3000 == len(world.truth)
    assert meta["ground_truth"]["champion_effect"] > 0


def test_progress_reports_deals_written(tmp_path: Path) -> None:
    seen: list[int] = []
    generate(tmp_path / "p.json", deals=1200, seed=1, conversations=False, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1200


def test_writer_streams_record_by_record() -> None:
    class Recorder(io.StringIO):
        sizes: list[int]

        def write(self, s: str) -> int:
            self.sizes.append(len(s))
            return super().write(s)

    out = Recorder()
    out.sizes = []
    w = PieJsonWriter(out)
    w.begin("accounts")
    for i in range(100):
        w.write({"id": f"A{i}", "name": "x" * 50})
    w.close()
    assert max(out.sizes) < 100
    assert len(json.loads(out.getvalue())["accounts"]) == 100
    with pytest.raises(ValueError, match="out of order"):
        PieJsonWriter(io.StringIO()).begin("nope")


def test_deals_reach_the_disk_while_generation_runs(tmp_path: Path) -> None:
    out = tmp_path / "big.json"
    sizes: list[int] = []
    generate(
        out,
        deals=20_000,
        seed=2,
        conversations=False,
        progress=lambda n: sizes.append(out.stat().st_size) if n % 2000 == 0 else None,
    )
    final = out.stat().st_size
    assert len(sizes) == 10
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)
    assert 0.35 * final < sizes[4] < 0.65 * final
