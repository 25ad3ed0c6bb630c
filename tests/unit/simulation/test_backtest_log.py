"""`pie backtest --log FILE --mapping MAP.toml`: a real public event log, no store."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from pie.entrypoints.cli.main import app

LOGS = Path(__file__).parent / "logs"


def test_a_real_log_is_back_tested_with_no_store(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "--data-dir", str(tmp_path / "nothing"),
            "backtest",
            "--log", str(LOGS / "bpic2020_rfp_sample.csv"),
            "--mapping", str(LOGS / "bpic2020_rfp.toml"),
            "--cutoff", "2017-11-15", "--cutoff", "2017-12-15",
            "--cutoff", "2018-01-15", "--cutoff", "2018-02-15",
            "--horizon", "60", "--runs", "300", "--json",
        ],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n_scored"] > 80
    assert report["verdict"]
    assert {s["stage"] for s in report["per_stage"]} >= {"lead", "stalled"}
    assert report["uncalibrated"]["n_scored"] == report["n_scored"]
    for baseline in ("stage_default", "stage_win_rate", "markov"):
        assert report["brier"] < report["baselines"][baseline]["brier"], baseline
    assert not (tmp_path / "nothing").exists() or not any((tmp_path / "nothing").iterdir())


def test_log_and_mapping_go_together(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["backtest", "--log", str(LOGS / "bpic2020_rfp_sample.csv")])
    assert result.exit_code == 1
    assert "--log and --mapping go together" in result.output
