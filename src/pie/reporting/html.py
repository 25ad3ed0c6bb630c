"""A self-contained HTML report a person can open: the stage flow, the pipeline forecast and the
calibration of the model's back-test. Inline SVG, no scripts, no network."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pie.domain.stages import ALL_STAGES, Stage

WIDTH = 860


@dataclass(frozen=True, slots=True)
class FlowEdge:
    source: str  # a stage name
    target: str
    count: int
    median_days: float | None = None


@dataclass(frozen=True, slots=True)
class ForecastView:
    period: str
    histogram_edges: Sequence[float]  # won value bin edges
    histogram_counts: Sequence[int]  # runs per bin
    p10: float
    p50: float
    p90: float
    expected_value: float
    expected_wins: float
    open_deals: int


@dataclass(frozen=True, slots=True)
class CalibrationBin:
    mean_predicted: float
    observed_rate: float
    count: int


@dataclass(frozen=True, slots=True)
class ScoreRow:
    name: str
    brier: float
    log_loss: float
    ece: float


@dataclass(frozen=True, slots=True)
class ReportInput:
    title: str
    flow: Sequence[FlowEdge]
    forecast: ForecastView | None = None
    calibration: Sequence[CalibrationBin] = ()
    #: the model's calibration before its calibration map, when the back-test used one
    calibration_before: Sequence[CalibrationBin] = ()
    scores: Sequence[ScoreRow] = ()
    notes: Sequence[str] = field(default_factory=tuple)
    facts: Mapping[str, str] = field(default_factory=dict)


def _esc(text: object) -> str:
    return html.escape(str(text))


def _money(v: float) -> str:
    if abs(v) >= 1e6:
        return f"${v / 1e6:,.2f}M"
    if abs(v) >= 1e3:
        return f"${v / 1e3:,.0f}k"
    return f"${v:,.0f}"


# ---------------------------------------------------------------- stage flow (a process map)


def _stage_positions(stages: Sequence[str]) -> dict[str, tuple[float, float]]:
    """Open stages left to right on one row, closed stages and stalled on a second row."""
    order = [str(s) for s in ALL_STAGES if str(s) in stages] + sorted(
        s for s in stages if s not in {str(x) for x in ALL_STAGES}
    )
    top = [s for s in order if s not in {Stage.CLOSED_WON, Stage.CLOSED_LOST, Stage.STALLED}]
    bottom = [s for s in order if s in {Stage.CLOSED_WON, Stage.STALLED, Stage.CLOSED_LOST}]
    pos: dict[str, tuple[float, float]] = {}
    for row, names, y in ((0, top, 70.0), (1, bottom, 300.0)):
        step = (WIDTH - 120) / max(len(names) - 1, 1)
        for i, name in enumerate(names):
            x = 60 + i * step if len(names) > 1 else WIDTH / 2
            if row == 1 and len(names) < len(top):
                x = 60 + (i + 0.5) * (WIDTH - 120) / len(names)
            pos[name] = (x, y)
    return pos


BOX_HALF_W, BOX_HALF_H = 52.0, 17.0


def _to_box_edge(fx: float, fy: float, cx: float, cy: float) -> tuple[float, float]:
    """Where the line from (fx, fy) to a box's centre (cx, cy) meets the box's border."""
    dx, dy = cx - fx, cy - fy
    if dx == 0 and dy == 0:
        return cx, cy
    scale = min(BOX_HALF_W / abs(dx) if dx else math.inf, BOX_HALF_H / abs(dy) if dy else math.inf)
    return cx - dx * scale, cy - dy * scale


def flow_svg(edges: Sequence[FlowEdge]) -> str:
    if not edges:
        return "<p>No stage transitions yet.</p>"
    stages = sorted({e.source for e in edges} | {e.target for e in edges})
    pos = _stage_positions(stages)
    biggest = max(e.count for e in edges)
    parts = [f'<svg viewBox="0 0 {WIDTH} 370" width="100%" role="img" aria-label="stage flow">']
    parts.append(
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" '
        'markerHeight="9" markerUnits="userSpaceOnUse" orient="auto">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#455a64"/></marker></defs>'
    )
    for e in sorted(edges, key=lambda e: e.count):
        (x1, y1), (x2, y2) = pos[e.source], pos[e.target]
        width = 1 + 13 * math.sqrt(e.count / biggest)
        forward = x2 > x1 and y1 == y2
        bend = -40 if forward else 55
        if y1 != y2:
            bend = 0
        mx, my = (x1 + x2) / 2, (y1 + y2) / 2 + (bend if y1 == y2 else 0)
        x1, y1 = _to_box_edge(mx, my, x1, y1)
        x2, y2 = _to_box_edge(mx, my, x2, y2)
        color = (
            "#2e7d32"
            if e.target == Stage.CLOSED_WON
            else "#c62828"
            if e.target == Stage.CLOSED_LOST
            else "#1565c0"
        )
        if e.target == Stage.STALLED or e.source == Stage.STALLED:
            color = "#9e9e9e"
        label = f"{e.source} → {e.target}: {e.count:,}"
        if e.median_days is not None:
            label += f", median {e.median_days:.0f} days"
        parts.append(
            f'<path d="M{x1:.0f},{y1:.0f} Q{mx:.0f},{my:.0f} {x2:.0f},{y2:.0f}" fill="none" '
            f'stroke="{color}" stroke-opacity="0.45" stroke-width="{width:.1f}" '
            f'marker-end="url(#arrow)"><title>{_esc(label)}</title></path>'
        )
    for name, (x, y) in pos.items():
        fill = {"closed_won": "#e8f5e9", "closed_lost": "#ffebee", "stalled": "#f5f5f5"}.get(
            name, "#e3f2fd"
        )
        parts.append(
            f'<rect x="{x - BOX_HALF_W:.0f}" y="{y - BOX_HALF_H:.0f}" width="{2 * BOX_HALF_W:.0f}" '
            f'height="{2 * BOX_HALF_H:.0f}" rx="8" '
            f'fill="{fill}" stroke="#37474f"/><text x="{x:.0f}" y="{y + 5:.0f}" '
            f'text-anchor="middle" font-size="13">{_esc(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


# ---------------------------------------------------------------- forecast distribution


def forecast_svg(f: ForecastView) -> str:
    counts, edges = list(f.histogram_counts), list(f.histogram_edges)
    if not counts or sum(counts) == 0:
        return "<p>No open deals to forecast.</p>"
    h, left, bottom = 260.0, 60.0, 230.0
    lo, hi = edges[0], edges[-1] if edges[-1] > edges[0] else edges[0] + 1
    top = max(counts)

    def x(v: float) -> float:
        return left + (v - lo) / (hi - lo) * (WIDTH - left - 20)

    parts = [f'<svg viewBox="0 0 {WIDTH} {h:.0f}" width="100%" role="img" aria-label="forecast">']
    for c, a, b in zip(counts, edges[:-1], edges[1:], strict=True):
        bar = (bottom - 20) * c / top
        parts.append(
            f'<rect x="{x(a):.1f}" y="{bottom - bar:.1f}" width="{max(x(b) - x(a) - 1, 1):.1f}" '
            f'height="{bar:.1f}" fill="#90caf9">'
            f"<title>{_money(a)}–{_money(b)}: {c} runs</title></rect>"
        )
    for label, v, color in (
        ("P10", f.p10, "#c62828"),
        ("P50", f.p50, "#263238"),
        ("P90", f.p90, "#2e7d32"),
    ):
        parts.append(
            f'<line x1="{x(v):.1f}" x2="{x(v):.1f}" y1="14" y2="{bottom}" stroke="{color}" '
            f'stroke-dasharray="4 3"/><text x="{x(v) + 4:.1f}" y="26" font-size="12" '
            f'fill="{color}">{label} {_money(v)}</text>'
        )
    parts.append(
        f'<line x1="{left}" x2="{WIDTH - 20}" y1="{bottom}" y2="{bottom}" stroke="#37474f"/>'
        f'<text x="{left}" y="{bottom + 20}" font-size="12">{_money(lo)}</text>'
        f'<text x="{WIDTH - 20}" y="{bottom + 20}" font-size="12" text-anchor="end">'
        f"{_money(hi)}</text></svg>"
    )
    return "".join(parts)


# ---------------------------------------------------------------- calibration


def calibration_svg(bins: Sequence[CalibrationBin], before: Sequence[CalibrationBin] = ()) -> str:
    used = [b for b in bins if b.count > 0]
    earlier = [b for b in before if b.count > 0]
    if not used:
        return "<p>No back-test yet.</p>"
    size, pad = 320.0, 40.0
    span = size - 2 * pad

    def px(v: float) -> float:
        return pad + v * span

    def py(v: float) -> float:
        return size - pad - v * span

    biggest = max(b.count for b in used)
    parts = [
        f'<svg viewBox="0 0 {size:.0f} {size:.0f}" width="{size:.0f}" role="img" '
        'aria-label="calibration">',
        f'<rect x="{pad}" y="{pad}" width="{span}" height="{span}" fill="none" stroke="#b0bec5"/>',
        f'<line x1="{px(0)}" y1="{py(0)}" x2="{px(1)}" y2="{py(1)}" stroke="#9e9e9e" '
        'stroke-dasharray="4 3"/>',
    ]
    if earlier:  # before the calibration map: grey, under the calibrated line
        line = " ".join(f"{px(b.mean_predicted):.1f},{py(b.observed_rate):.1f}" for b in earlier)
        parts.append(
            f'<polyline points="{line}" fill="none" stroke="#9e9e9e" stroke-width="2" '
            'stroke-dasharray="6 3"><title>before the calibration map</title></polyline>'
        )
    points = " ".join(f"{px(b.mean_predicted):.1f},{py(b.observed_rate):.1f}" for b in used)
    parts.append(f'<polyline points="{points}" fill="none" stroke="#1565c0" stroke-width="2"/>')
    for b in used:
        r = 3 + 7 * math.sqrt(b.count / biggest)
        parts.append(
            f'<circle cx="{px(b.mean_predicted):.1f}" cy="{py(b.observed_rate):.1f}" r="{r:.1f}" '
            f'fill="#1565c0" fill-opacity="0.6"><title>predicted {b.mean_predicted:.2f}, '
            f"observed {b.observed_rate:.2f}, {b.count} deals</title></circle>"
        )
    parts.append(
        f'<text x="{size / 2}" y="{size - 8}" font-size="12" text-anchor="middle">'
        "predicted win probability</text>"
        f'<text x="12" y="{size / 2}" font-size="12" text-anchor="middle" '
        f'transform="rotate(-90 12 {size / 2})">observed win rate</text></svg>'
    )
    return "".join(parts)


def _scores_table(rows: Sequence[ScoreRow]) -> str:
    if not rows:
        return ""
    body = "".join(
        f"<tr><td>{_esc(r.name)}</td><td>{r.brier:.4f}</td><td>{r.log_loss:.4f}</td>"
        f"<td>{r.ece:.4f}</td></tr>"
        for r in rows
    )
    return (
        "<table><thead><tr><th>forecaster</th><th>Brier</th><th>log loss</th><th>ECE</th>"
        f"</tr></thead><tbody>{body}</tbody></table>"
    )


def render_report(data: ReportInput) -> str:
    facts = "".join(f"<li><b>{_esc(k)}</b>: {_esc(v)}</li>" for k, v in data.facts.items())
    notes = "".join(f"<li>{_esc(n)}</li>" for n in data.notes)
    forecast = ""
    if data.forecast is not None:
        f = data.forecast
        forecast = (
            f"<h2>Pipeline forecast, {_esc(f.period)}</h2><p>{f.open_deals:,} open deals; "
            f"expected won value {_money(f.expected_value)}, expected wins "
            f"{f.expected_wins:.1f}; P10 {_money(f.p10)}, P50 {_money(f.p50)}, "
            f"P90 {_money(f.p90)}.</p>{forecast_svg(f)}"
        )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{_esc(data.title)}</title>
<style>
body{{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:{WIDTH + 40}px;
margin:24px auto;color:#263238;padding:0 12px}}
h1{{font-size:22px}} h2{{font-size:17px;margin-top:28px;border-bottom:1px solid #eceff1}}
table{{border-collapse:collapse}} td,th{{padding:4px 12px;border-bottom:1px solid #eceff1;
text-align:right}} td:first-child,th:first-child{{text-align:left}}
.small{{color:#607d8b;font-size:13px}}
</style></head><body>
<h1>{_esc(data.title)}</h1>
<ul class="small">{facts}</ul>
<h2>Stage flow</h2>
<p class="small">Every observed stage transition; line width grows with the number of deals,
hover for counts and median days in the from-stage.</p>
{flow_svg(data.flow)}
{forecast}
<h2>Calibration (back-test)</h2>
<p class="small">Forecasts made at past cutoffs with only the data known then, scored against
what happened. Points on the dashed diagonal are perfectly calibrated; the grey dashed line,
when shown, is the model before its calibration map.</p>
<div style="display:flex;gap:28px;align-items:center">{
        calibration_svg(data.calibration, data.calibration_before)
    }
{_scores_table(data.scores)}</div>
<ul class="small">{notes}</ul>
</body></html>
"""
