"""Mining, simulation, forecasts, back-tests and event-log round trips from the command line,
on a generated world imported into the embedded store."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pie.entrypoints.cli.main import app

runner = CliRunner()


@dataclass(frozen=True)
class World:
    args: tuple[str, ...]  # --data-dir D --tenant T
    data_dir: Path
    open_deal: str
    closed_deal: str


def pie(*args: str | Path) -> Any:
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def ok(*args: str | Path) -> Any:
    result = pie(*args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if "--json" in args else result


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    data = tmp_path_factory.mktemp("world")
    sample = data / "sample.json"
    ok("generate", "--deals", "900", "--seed", "11", "--no-conversations", sample)
    base = ("--data-dir", str(data))
    ok(*base, "tenant", "create", "sim")
    ok(*base, "--tenant", "sim", "import", sample, "--json")
    args = (*base, "--tenant", "sim")
    deals = ok(*args, "deals", "list", "--limit", "2000", "--json")["items"]
    open_ = next(d for d in deals if d["outcome"] == "open" and d["stage"] != "stalled")
    closed = next(d for d in deals if d["outcome"] == "lost")
    return World(args, data, open_["id"], closed["id"])


def test_mine_reports_transitions_context_effects_and_sufficiency(world: World) -> None:
    mined = ok(*world.args, "mine", "--json")
    assert mined["sufficiency"]["level"] == "full"
    shares: dict[str, float] = {}
    for t in mined["transitions"]:
        shares[t["from_stage"]] = shares.get(t["from_stage"], 0.0) + t["share"]
    assert all(s == pytest.approx(1.0) for s in shares.values())
    by_stage = {s["stage"]: s for s in mined["stages"]}
    # the generator's truth: a champion raises the odds of advancing
    assert by_stage["discovery"]["p_advance_with_champion"] > by_stage["discovery"]["p_advance"]
    # a blocker's effect is shown only where the data's evidence excludes no effect
    blocked = by_stage["demo"]["p_advance_with_blocker"]
    assert blocked is None or blocked < by_stage["demo"]["p_advance"]
    evidence = {e["factor"]: e for e in mined["evidence"]}
    assert evidence["has_champion"]["supported"]
    assert (blocked is None) is not evidence["unresolved_blocker"]["supported"]
    assert "lead" in ok(*world.args, "mine").stdout


def test_simulate_a_deal_and_a_scenario_reproducibly(world: World) -> None:
    base = ok(*world.args, "simulate", world.open_deal, "--runs", "4000", "--json")
    assert 0.0 < base["p_win"] < 1.0
    lo, hi = base["p_win_ci"]
    assert lo <= base["p_win"] <= hi
    again = ok(*world.args, "simulate", world.open_deal, "--runs", "4000", "--json")
    assert again == base
    scenario = "custom:has_champion=true"
    sc = ok(*world.args, "simulate", world.open_deal, "--scenario", scenario, "--json")
    assert set(sc) >= {"baseline", "modified", "delta", "confidence"}
    assert sc["modified"]["p_win"] >= sc["baseline"]["p_win"]
    assert sc["delta"]["p_win"] == pytest.approx(
        sc["modified"]["p_win"] - sc["baseline"]["p_win"], abs=1e-3
    )


def test_simulation_errors_say_what_to_do(world: World) -> None:
    closed = pie(*world.args, "simulate", world.closed_deal)
    assert closed.exit_code == 1
    assert "only open deals can be simulated" in closed.output
    bad = pie(*world.args, "simulate", world.open_deal, "--scenario", "teleport")
    assert bad.exit_code == 1
    assert "unknown scenario" in bad.output
    assert "Traceback" not in bad.output + closed.output


def test_forecast_deal_and_pipeline(world: World) -> None:
    f = ok(*world.args, "forecast", world.open_deal, "--runs", "3000", "--json")
    names = [s["name"] for s in f["scenarios"]]
    assert names == ["current_trajectory", "best_case", "worst_case"]
    p = {s["name"]: s["p_win"] for s in f["scenarios"]}
    assert p["worst_case"] <= p["current_trajectory"] <= p["best_case"]
    gains = [r["delta"]["p_win"] for r in f["recommendations"]]
    assert gains == sorted(gains, reverse=True)

    pipe = ok(*world.args, "forecast", "pipeline", "--period", "2026Q4", "--json")
    (q4,) = pipe["periods"]
    assert q4["period"] == "2026Q4"
    assert q4["p10"] <= q4["p50"] <= q4["p90"]
    assert q4["expected_wins"] <= q4["open_deals"]
    bad = pie(*world.args, "forecast", "pipeline", "--period", "next spring")
    assert bad.exit_code == 1
    assert "2026Q1" in bad.output


def test_forecast_pipeline_lists_every_open_deal(world: World) -> None:
    args = (*world.args, "forecast", "pipeline", "-p", "2026Q4", "--runs", "500", "--deals")
    out = ok(*args, "--json")
    (q4,) = out["periods"]
    deals = out["deals"]
    assert len(deals) == q4["open_deals"]
    contributions = [d["periods"][0]["expected_value"] for d in deals]
    assert contributions == sorted(contributions, reverse=True)
    assert sum(contributions) == pytest.approx(q4["expected_value"], rel=1e-9)
    assert {"deal_id", "ref", "p_win", "expected_close", "expected_value"} <= set(deals[0])
    text = ok(*args).stdout
    assert "Open deals by expected won value in 2026Q4" in text
    assert deals[0]["ref"] in text


def test_backtest_json_has_the_model_and_three_baselines(world: World) -> None:
    report = ok(*world.args, "backtest", "--runs", "1000", "--json")
    for key in ("brier", "log_loss", "ece", "n_forecast", "n_censored"):
        assert key in report
    assert report["n_forecast"] > 50
    for name in ("stage_default", "stage_win_rate", "markov"):
        assert report["baselines"][name]["brier"] is not None
    assert len(report["reliability"]) == 10
    outside = pie(*world.args, "backtest", "--cutoff", "1999-01-01")
    assert outside.exit_code == 1
    assert "cutoff" in outside.output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("backtest", "--cutoff", "2011/12/01"), "'2011/12/01' is not a date or time"),
        (("forecast", "pipeline", "--as-of", "2011/12/01"), "'2011/12/01' is not a date"),
        (("mine", "--as-of", "yesterday"), "'yesterday' is not a date or time"),
        (("simulate", "sample:NOPE"), "deal sample:NOPE not found"),
        (("simulate", "x", "--seed", "-1"), "pie simulate: Invalid value for '--seed'"),
        (("forecast",), "pie forecast: Missing argument"),
        (("forecast", "pipeline", "--engine", "spark"), "unknown --engine 'spark'"),
        (("backtest", "--scheduler", "tcp://h:8786"), "--scheduler needs --engine dask"),
    ],
)
def test_bad_input_is_one_line(world: World, args: tuple[str, ...], says: str) -> None:
    result = pie(*world.args, *args)
    assert result.exit_code == 1
    assert says in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert "Traceback" not in result.output


def test_exported_event_log_imports_back_with_the_same_transitions(
    world: World, tmp_path: Path
) -> None:
    xes = tmp_path / "log.xes"
    ok(*world.args, "export", "eventlog", xes, "--format", "xes")
    ocel = tmp_path / "log.ocel.json"
    ok(*world.args, "export", "eventlog", ocel, "--format", "ocel")
    assert json.loads(ocel.read_text())["objectTypes"]
    base = ("--data-dir", str(world.data_dir))
    ok(*base, "tenant", "create", "from-xes")
    first = ok(*base, "--tenant", "from-xes", "import", xes, "--json")["counts"]
    original = ok(*world.args, "mine", "--json")["transitions"]
    again = ok(*base, "--tenant", "from-xes", "mine", "--json")["transitions"]
    assert {(t["from_stage"], t["to_stage"]): t["count"] for t in again} == {
        (t["from_stage"], t["to_stage"]): t["count"] for t in original
    }
    assert first["deal"]["created"] == 900
    second = ok(*base, "--tenant", "from-xes", "import", xes, "--json")["counts"]
    assert second["deal"]["unchanged"] == 900
    assert second["stage_transition"]["created"] == 0


def test_errors_print_brackets_as_text(world: World, tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_text(
        "case_id,activity,timestamp\nc1,Create Lead,2024-01-01T10:00:00\n"
        "c1,Send Quote,2024-01-05T10:00:00\n",
        encoding="utf-8",
    )
    mapping = tmp_path / "map.toml"
    mapping.write_text('[activities]\n"Create Lead" = "lead"\n', encoding="utf-8")
    result = pie(*world.args, "import", log, "--mapping", mapping)
    assert result.exit_code == 1
    assert "add each to the [activities] section of" in result.output
