"""Rich renderings of the mined process, simulations, forecasts and back-tests, from the same
typed shapes the --json output prints.

They read at 80 columns (the width of a pipe): names and numbers are never cut (key columns do
not wrap, money is compact, e.g. ``2.1M``), headers wrap instead, and the stage-transition
matrix becomes a list when it is wider than the console."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich import box
from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table

from pie.domain.stages import ALL_STAGES
from pie.entrypoints.cli.render import compact_number
from pie.services.schemas import (
    BacktestRead,
    DealForecastRead,
    DealSimulationRead,
    PeriodForecastRead,
    PipelineForecastRead,
    ProcessRead,
    ScenarioResultRead,
    ScoresRead,
)


def _pct(p: float | None) -> str:
    return "—" if p is None else f"{p:.0%}"


def _num(x: float | None, fmt: str = ".0f") -> str:
    return "—" if x is None else format(x, fmt)


def _interval(ci: Sequence[float | None], pct: bool = False) -> str:
    return f"[{_pct(ci[0])}, {_pct(ci[1])}]" if pct else f"[{_num(ci[0])}, {_num(ci[1])}]"


def process(p: ProcessRead, *, width: int = 80) -> RenderableType:
    eff = Table(
        title="Odds of advancing (mined, per stage visit)",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    eff.add_column("stage", no_wrap=True)
    eff.add_column("advances to", no_wrap=True)
    for col in ("exits", "mean\ndays", "P(advance)", "+\nchampion", "+\nblocker"):
        eff.add_column(col, justify="right")
    for r in p.stages:
        eff.add_row(
            r.stage,
            r.advance_to,
            f"{r.exits:,}",
            _num(r.mean_dwell_days),
            _pct(r.p_advance),
            _pct(r.p_advance_with_champion),
            _pct(r.p_advance_with_blocker),
        )
    facts = [escape(e.message) for e in p.evidence]
    facts.append(f"as of {p.as_of:%Y-%m-%d %H:%M} UTC. {escape(p.sufficiency.message)}")
    if p.icp_industries:
        facts.append(f"ideal-customer industries: {escape(', '.join(p.icp_industries))}")
    return Group(transitions(p, width=width), eff, *facts)


def transitions(p: ProcessRead, *, width: int = 80) -> Table:
    """Share of each stage's exits going to each stage: a matrix if it fits ``width``, else
    one row per transition."""
    exits: dict[str, int] = {}
    share: dict[tuple[str, str], float] = {}
    for t in p.transitions:
        exits[t.from_stage] = exits.get(t.from_stage, 0) + t.count
        share[(t.from_stage, t.to_stage)] = t.share
    names = [str(s) for s in ALL_STAGES]
    present = [n for n in names if any(t.to_stage == n for t in p.transitions)]
    froms = [n for n in names if n in exits]
    title = f"Stage transitions (share of exits), {p.deals:,} deals"
    counts = [f"{exits[f]:,}" for f in froms]
    needed = (
        max(map(len, ["from \\ to", *froms]))
        + sum(max(len(n), 4) for n in present)
        + max(map(len, ["exits", *counts]))
        + 3 * (len(present) + 2)
        + 1
    )
    if needed <= width:
        table = Table(title=title)
        table.add_column("from \\ to", no_wrap=True)
        for name in present:
            table.add_column(name, justify="right", no_wrap=True)
        table.add_column("exits", justify="right", no_wrap=True)
        for frm, count in zip(froms, counts, strict=True):
            cells = (f"{share[(frm, n)]:.0%}" if (frm, n) in share else "" for n in present)
            table.add_row(frm, *cells, count)
        return table
    table = Table(title=title, box=box.SIMPLE_HEAD)
    for col in ("from", "to", "share", "deals", "median days"):
        table.add_column(col, justify="left" if col in ("from", "to") else "right", no_wrap=True)
    order = {n: i for i, n in enumerate(names)}
    rows = sorted(p.transitions, key=lambda t: (order[t.from_stage], -t.share))
    for i, t in enumerate(rows):
        first = i == 0 or rows[i - 1].from_stage != t.from_stage
        table.add_row(
            t.from_stage if first else "",
            t.to_stage,
            f"{t.share:.0%}",
            f"{t.count:,}",
            _num(t.median_days, ".1f"),
            end_section=i + 1 < len(rows) and rows[i + 1].from_stage != t.from_stage,
        )
    return table


def simulation(s: DealSimulationRead) -> str:
    return (
        f"P(win) {s.p_win:.1%} {_interval(s.p_win_ci, pct=True)}, "
        f"expected {_num(s.expected_days)} days to close {_interval(s.expected_days_ci)} "
        f"(P10/P50/P90 {'/'.join(_num(d) for d in s.days_p10_p50_p90)}), "
        f"expected value {s.expected_value:,.0f} ({s.runs:,} runs, 95% intervals, "
        f"as of {s.as_of:%Y-%m-%d})"
    )


def scenario(r: ScenarioResultRead) -> Table:
    table = Table(title=f"Scenario {r.scenario} ({r.runs:,} runs, common numbers)")
    for col in ("", "P(win)", "95% CI", "days to close", "95% CI"):
        table.add_column(col, justify="right", no_wrap=col != "days to close")
    for name, arm, ci in (
        ("baseline", r.baseline, r.intervals.baseline),
        ("modified", r.modified, r.intervals.modified),
        ("delta", r.delta, r.intervals.delta),
    ):
        sign = "+" if name == "delta" else ""
        table.add_row(
            name,
            f"{arm.p_win:{sign}.1%}",
            _interval(ci.p_win, pct=True),
            "—" if arm.days is None else f"{arm.days:{sign}.1f}",
            _interval(ci.days),
        )
    return table


def deal_forecast(f: DealForecastRead) -> RenderableType:
    table = Table(title=f"Forecast as of {f.as_of:%Y-%m-%d}")
    for col in ("scenario", "P(win)", "days to close"):
        table.add_column(col, justify="left" if col == "scenario" else "right", no_wrap=True)
    for t in f.scenarios:
        table.add_row(t.name, f"{t.p_win:.1%}", _num(t.days))
    recs = Table(title="Recommendations (ranked by simulated impact)")
    recs.add_column("action")
    recs.add_column("impact")
    recs.add_column("deals behind it", justify="right", min_width=5)
    for r in f.recommendations:
        recs.add_row(escape(r.action), escape(r.impact), f"{r.evidence_count:,}")
    found = recs if f.recommendations else "No recommendation the data supports."
    return Group(table, found, *(escape(note) for note in f.notes))


def pipeline_forecast(
    periods: Sequence[PeriodForecastRead], *, as_of: datetime | None = None
) -> Table:
    when = f" as of {as_of:%Y-%m-%d}" if as_of else ""
    table = Table(title=f"Pipeline forecast{when} (won value)")
    for col in ("period", "open deals", "expected wins", "expected", "P10", "P50", "P90"):
        table.add_column(col, justify="left" if col == "period" else "right")
    table.columns[0].no_wrap = True
    for f in periods:
        table.add_row(
            f.period,
            f"{f.open_deals:,}",
            f"{f.expected_wins:.1f}",
            *(compact_number(v) for v in (f.expected_value, f.p10, f.p50, f.p90)),
        )
    return table


def pipeline_deals(p: PipelineForecastRead) -> Table:
    """Every open deal, the largest expected value in the first period first (fits in 80
    columns: the name gives way first)."""
    first = p.periods[0].period if p.periods else ""
    deals = p.deals or []
    table = Table(title=f"Open deals by expected won value in {first}", box=box.SIMPLE_HEAD)
    table.add_column("deal", overflow="fold", min_width=12)
    table.add_column("stage", no_wrap=True, min_width=11)
    for col in ("P(win)", "close", "value", f"in {first}"):
        table.add_column(col, justify="right", no_wrap=True, min_width=len(col))
    for d in deals:
        table.add_row(
            f"{escape(d.name)}\n[dim]{escape(d.ref)}[/]",
            d.stage,
            f"{d.p_win:.0%}",
            f"{d.expected_close:%Y-%m-%d}" if d.expected_close else "—",
            compact_number(d.value),
            compact_number(d.periods[0].expected_value) if d.periods else "—",
        )
    return table


def _scores(name: str, s: ScoresRead) -> tuple[str, ...]:
    return (
        name,
        _num(s.brier, ".4f"),
        _num(s.log_loss, ".4f"),
        _num(s.ece, ".4f"),
        _num(s.auc, ".3f"),
        _num(s.days_mae, ".1f"),
        _num(s.interval80_coverage, ".2f"),
    )


def backtest(b: BacktestRead) -> RenderableType:
    table = Table(title=f"Back-test: {b.n_forecast:,} forecasts, {b.n_censored:,} censored")
    for col in ("forecaster", "Brier", "log loss", "ECE", "AUC", "days MAE", "80% coverage"):
        table.add_column(col, justify="left" if col == "forecaster" else "right")
    table.columns[0].no_wrap = True
    table.add_row(*_scores("PIE model", b))
    for key, base in b.baselines.items():
        table.add_row(*_scores(key, base))
    lost = [k for k, won in b.beats_baselines_on_brier.items() if not won]
    verdict = (
        "PIE's model beats every baseline on Brier score."
        if not lost
        else f"PIE's model does NOT beat {', '.join(lost)} on Brier score."
    )
    cutoffs = "cutoffs: " + ", ".join(f"{c:%Y-%m-%d}" for c in b.cutoffs)
    parts: list[RenderableType] = [table, verdict, calibration(b)]
    raw = b.uncalibrated
    if raw is not None and raw.brier is not None and b.brier is not None:
        parts.append(
            f"Calibration map (fitted on earlier cutoffs only): Brier {raw.brier:.4f} -> "
            f"{b.brier:.4f}, ECE {_num(raw.ece, '.4f')} -> {_num(b.ece, '.4f')}"
        )
        parts.append(f"Before the map: {escape(raw.verdict)}")
    parts += [f"Calibration: {escape(b.verdict)}", cutoffs]
    return Group(*parts)


def calibration(b: BacktestRead) -> Table:
    """The model's calibration per cutoff and per stage: mean forecast against what happened."""
    table = Table(title="Calibration (mean P(win) against the observed win rate)")
    for col in ("", "scored", "mean P(win)", "observed", "Brier", "ECE"):
        table.add_column(col, justify="left" if not col else "right", no_wrap=not col)
    rows: list[tuple[str, ScoresRead]] = [(f"cutoff {c.cutoff:%Y-%m-%d}", c) for c in b.per_cutoff]
    rows += [(f"stage {s.stage}", s) for s in b.per_stage]
    for name, r in rows:
        table.add_row(
            name,
            f"{r.n_scored:,}",
            _pct(r.mean_p_win),
            _pct(r.observed_win_rate),
            _num(r.brier, ".3f"),
            _num(r.ece, ".3f"),
        )
    return table
