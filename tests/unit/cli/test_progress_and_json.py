"""Long commands show what they are doing (a spinner on stderr, on a terminal only), print
their data with --json, and speak of percentage points as points."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from rich.console import Console
from typer.testing import CliRunner

from pie.entrypoints.cli import progress, simulation
from pie.entrypoints.cli.main import app
from pie.simulation.forecast import impact_text
from pie.simulation.scenarios import ScenarioResult

SHAPES: dict[str, Any] = json.loads((Path(__file__).parent / "forecasts.json").read_text())


def result(dp: float, ci: tuple[float, float], days: float) -> ScenarioResult:
    delta = SimpleNamespace(p_win=dp, p_win_ci=ci, days=days)
    return cast(ScenarioResult, SimpleNamespace(delta=delta))


def test_impact_is_in_percentage_points() -> None:
    assert impact_text(result(0.18, (0.12, 0.24), -9.2)) == (
        "+18 points win rate [+12, +24], -9 days cycle time"
    )
    assert impact_text(result(0.01, (0.0, 0.02), 0.1)) == "+1 point win rate [+0, +2]"


@pytest.mark.parametrize("terminal", [True, False])
def test_the_spinner_says_what_runs_on_a_terminal_only(
    monkeypatch: pytest.MonkeyPatch, terminal: bool
) -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal, width=80)
    monkeypatch.setattr(progress, "err_console", console)
    with progress.working("mining the stage [process]"):
        pass
    assert ("mining the stage [process]" in out.getvalue()) is terminal


def shapes() -> dict[str, Any]:
    from pie.services.schemas import (
        BacktestRead,
        DealForecastRead,
        PipelineForecastRead,
        ProcessRead,
        ScenarioResultRead,
    )

    return {
        "mine": ProcessRead.model_validate(SHAPES["process"]),
        "pipeline": PipelineForecastRead.model_validate(SHAPES["pipeline"]),
        "deal": DealForecastRead.model_validate(SHAPES["deal_forecast"]),
        "simulate": ScenarioResultRead.model_validate(SHAPES["scenario"]),
        "backtest": BacktestRead.model_validate(SHAPES["backtest"]),
    }


COMMANDS = {
    "mine": ["mine"],
    "pipeline": ["forecast", "pipeline", "--deals"],
    "deal": ["forecast", "sample:D1"],
    "simulate": ["simulate", "sample:D1", "--scenario", "add_champion"],
    "backtest": ["backtest"],
}


@pytest.mark.parametrize("name", list(COMMANDS))
@pytest.mark.parametrize("as_json", [False, True])
def test_long_commands_show_progress_and_print_json(
    monkeypatch: pytest.MonkeyPatch, name: str, as_json: bool
) -> None:
    shown: list[str] = []
    answer = shapes()[name]

    class Working:
        def __init__(self, description: str) -> None:
            shown.append(description)

        def __enter__(self) -> None:
            return None

        def __exit__(self, *exc: object) -> None:
            return None

    monkeypatch.setattr(simulation, "working", Working)
    monkeypatch.setattr(simulation, "run", lambda st, work, **kw: answer)
    args = COMMANDS[name] + (["--json"] if as_json else [])
    got = CliRunner().invoke(app, args, catch_exceptions=False)
    assert got.exit_code == 0, got.output
    assert len(shown) == 1 and shown[0]
    if as_json:
        assert json.loads(got.stdout) == json.loads(answer.model_dump_json())
    else:
        assert "…" not in got.stdout
