"""`mine`, `forecast`, `simulate`, `backtest` and `changes` read at 80 columns (a pipe): no
name, stage or number is cut, money is compact, and a table never gets wider than the console.
The shapes are real `--json` answers of the sample world (forecasts.json, trimmed)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console, RenderableType

from pie.entrypoints.cli import render_forecasts as render
from pie.entrypoints.cli.render import compact_number
from pie.services.schemas import (
    BacktestRead,
    DealForecastRead,
    PipelineForecastRead,
    ProcessRead,
    ScenarioResultRead,
)

SHAPES: dict[str, Any] = json.loads((Path(__file__).parent / "forecasts.json").read_text())


def rendered(thing: RenderableType, width: int = 80) -> str:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None, legacy_windows=False).print(thing)
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= width
    assert "…" not in text, text
    return text


def process() -> ProcessRead:
    return ProcessRead.model_validate(SHAPES["process"])


def test_pipeline_forecast_money_is_compact_and_whole() -> None:
    p = PipelineForecastRead.model_validate(SHAPES["pipeline"])
    text = rendered(render.pipeline_forecast(p.periods, as_of=p.as_of))
    row = next(line for line in text.splitlines() if "2026Q4" in line)
    assert [cell.strip() for cell in row.split("│")[4:8]] == ["2.1M", "1.8M", "2.1M", "2.5M"]


def test_pipeline_deals_keep_name_ref_and_numbers() -> None:
    p = PipelineForecastRead.model_validate(SHAPES["pipeline"])
    text = rendered(render.pipeline_deals(p))
    assert "Northwind Traders:" in text and "2026" in text
    for d in p.deals or []:
        assert d.ref in text
        assert compact_number(d.value) in text


@pytest.mark.parametrize("width", [80, 100])
def test_mine_shows_every_stage_and_count_whole(width: int) -> None:
    p = process()
    text = rendered(render.process(p, width=width), width)
    for t in p.transitions:
        assert t.from_stage in text and t.to_stage in text
    for s in p.stages:
        assert f"{s.exits:,}" in text


def test_mine_is_a_matrix_where_it_fits() -> None:
    assert "from \\ to" in rendered(render.transitions(process(), width=200), 200)
    assert "from \\ to" not in rendered(render.transitions(process(), width=80))


def test_deal_forecast_and_scenario_fit() -> None:
    f = DealForecastRead.model_validate(SHAPES["deal_forecast"])
    text = rendered(render.deal_forecast(f))
    assert "current_trajectory" in text and "worst_case" in text
    s = ScenarioResultRead.model_validate(SHAPES["scenario"])
    text = rendered(render.scenario(s))
    assert "baseline" in text and "modified" in text and "delta" in text


def test_backtest_names_every_forecaster_and_stage() -> None:
    b = BacktestRead.model_validate(SHAPES["backtest"])
    text = rendered(render.backtest(b))
    for name in b.baselines:
        assert name in text
    for s in b.per_stage:
        assert f"stage {s.stage}" in text
