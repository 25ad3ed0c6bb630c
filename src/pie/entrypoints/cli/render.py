"""Rich renderings of deals, accounts and summaries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table

from pie.domain.model import Account, Deal
from pie.domain.summary import PipelineSummary
from pie.services.deals import AccountDetail, DealDetail
from pie.simulation import PeriodForecast


def money(value: Decimal | None, currency: str = "USD") -> str:
    return "—" if value is None else f"{value:,.0f} {currency}"


def short_ref(deal: Deal) -> str:
    """The deal's first source id (what people search by), else its PIE id."""
    for source, external in sorted(deal.external_ids.items()):
        return f"{source}:{external}"
    return str(deal.id)


def deals_table(deals: Sequence[Deal], *, title: str | None = None) -> Table:
    table = Table(title=title)
    for col in ("id", "name", "stage", "value", "expected close", "owner"):
        table.add_column(
            col,
            justify="right" if col == "value" else "left",
            no_wrap=col != "name",
            overflow="ellipsis",
        )
    for d in deals:
        table.add_row(
            short_ref(d),
            d.name,
            str(d.stage),
            money(d.value, d.currency),
            str(d.expected_close or "—"),
            d.owner or "—",
        )
    return table


def accounts_table(accounts: Sequence[Account]) -> Table:
    table = Table()
    for col in ("id", "name", "industry", "employees", "country"):
        table.add_column(col)
    for a in accounts:
        table.add_row(
            str(a.id), a.name, a.industry or "—", str(a.employees or "—"), a.country or "—"
        )
    return table


def _fields(title: str, rows: Sequence[tuple[str, object]]) -> Table:
    table = Table(title=title, show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, "—" if value in (None, "", {}) else str(value))
    return table


def deal_detail(detail: DealDetail) -> RenderableType:
    d = detail.deal
    parts: list[RenderableType] = [
        _fields(
            d.name,
            [
                ("id", d.id),
                ("account", detail.account.name if detail.account else None),
                ("stage", f"{d.stage} ({d.outcome})"),
                ("value", money(d.value, d.currency)),
                ("probability", f"{d.probability:.0%}" if d.probability is not None else None),
                ("expected close", d.expected_close),
                ("owner", d.owner),
                ("product line", d.product_line),
                ("source", d.source),
                ("external ids", ", ".join(f"{k}:{v}" for k, v in d.external_ids.items())),
                ("created", d.created_at),
                ("closed", d.closed_at),
                ("lost reason", d.lost_reason),
            ],
        )
    ]
    sh = Table(title="Stakeholders")
    for col in ("name", "title", "roles", "sentiment", "engagement"):
        sh.add_column(col)
    for v in detail.stakeholders:
        s = v.stakeholder
        sh.add_row(
            v.contact.name if v.contact else str(s.contact_id),
            (v.contact.title if v.contact else None) or "—",
            ", ".join(s.roles) or "—",
            "—" if s.sentiment is None else f"{s.sentiment:+.2f}",
            "—" if s.engagement is None else f"{s.engagement:.2f}",
        )
    tr = Table(title="Stage transitions")
    for col in ("at", "from", "to", "days in from", "value"):
        tr.add_column(col)
    for t in detail.transitions:
        tr.add_row(
            t.at.strftime("%Y-%m-%d %H:%M"),
            str(t.from_stage or "—"),
            str(t.to_stage),
            "—" if t.days_in_from_stage is None else f"{t.days_in_from_stage:.1f}",
            money(t.value, d.currency),
        )
    ac = Table(title="Activities")
    for col in ("at", "type", "outcome", "subject", "open objections"):
        ac.add_column(col)
    for a in detail.activities:
        ac.add_row(
            a.occurred_at.strftime("%Y-%m-%d %H:%M"),
            str(a.type),
            str(a.outcome),
            a.subject or a.summary or "—",
            str(sum(1 for o in a.objections if not o.resolved)),
        )
    parts += [sh, tr, ac]
    return Group(*parts)


def account_detail(detail: AccountDetail) -> RenderableType:
    a = detail.account
    head = _fields(
        a.name,
        [
            ("id", a.id),
            ("domain", a.domain),
            ("industry", a.industry),
            ("employees", a.employees),
            ("annual revenue", money(a.annual_revenue) if a.annual_revenue else None),
            ("country", a.country),
            ("external ids", ", ".join(f"{k}:{v}" for k, v in a.external_ids.items())),
        ],
    )
    contacts = Table(title="Contacts")
    for col in ("name", "title", "email"):
        contacts.add_column(col)
    for c in detail.contacts:
        contacts.add_row(c.name, c.title or "—", c.email or "—")
    return Group(head, contacts, deals_table(detail.deals, title="Deals"))


def summary(s: PipelineSummary) -> RenderableType:
    stages = Table(title="Deals by stage")
    stages.add_column("stage")
    stages.add_column("deals", justify="right")
    stages.add_column("value", justify="right")
    for stage, totals in s.by_stage.items():
        stages.add_row(str(stage), f"{totals.count:,}", money(totals.value))
    head = _fields(
        "Pipeline",
        [
            ("deals", f"{s.total:,} ({s.open:,} open, {s.won:,} won, {s.lost:,} lost)"),
            ("win rate", f"{s.win_rate:.1%}" if s.win_rate is not None else None),
            (
                "median cycle time",
                f"{s.median_cycle_days:.0f} days" if s.median_cycle_days is not None else None,
            ),
            ("open pipeline", money(s.open_value)),
        ],
    )
    return Group(head, stages, deals_table(s.largest_open, title="Largest open deals"))


def pipeline_forecast(
    forecasts: Sequence[PeriodForecast], *, as_of: datetime | None = None
) -> Table:
    when = f" as of {as_of:%Y-%m-%d}" if as_of else ""
    table = Table(title=f"Pipeline forecast{when} (won value)")
    for col in ("period", "open deals", "expected wins", "expected", "P10", "P50", "P90"):
        table.add_column(col, justify="left" if col == "period" else "right")
    for f in forecasts:
        table.add_row(
            f.period.label,
            f"{f.open_deals:,}",
            f"{f.expected_wins:.1f}",
            *(f"{v:,.0f}" for v in (f.expected_value, f.p10, f.p50, f.p90)),
        )
    return table


def _scores(name: str, d: dict[str, Any]) -> tuple[str, ...]:
    def f(key: str, fmt: str = ".4f") -> str:
        v = d.get(key)
        return "—" if v is None else format(v, fmt)

    return (
        name,
        f("brier"),
        f("log_loss"),
        f("ece"),
        f("auc", ".3f"),
        f("days_mae", ".1f"),
        f("interval80_coverage", ".2f"),
    )


def backtest(data: dict[str, Any]) -> RenderableType:
    table = Table(
        title=f"Back-test: {data['n_forecast']:,} forecasts, {data['n_censored']:,} censored"
    )
    for col in ("forecaster", "Brier", "log loss", "ECE", "AUC", "days MAE", "80% coverage"):
        table.add_column(col, justify="left" if col == "forecaster" else "right")
    table.add_row(*_scores("PIE model", data))
    for key, base in data["baselines"].items():
        table.add_row(*_scores(key, base))
    lost = [k for k, won in data["beats_baselines_on_brier"].items() if not won]
    verdict = (
        "PIE's model beats every baseline on Brier score."
        if not lost
        else f"PIE's model does NOT beat {', '.join(lost)} on Brier score."
    )
    cutoffs = "cutoffs: " + ", ".join(c[:10] for c in data["cutoffs"])
    parts: list[RenderableType] = [table, verdict, calibration(data)]
    raw = data.get("uncalibrated")
    if raw and raw.get("brier") is not None and data.get("brier") is not None:
        parts.append(
            f"Calibration map (fitted on earlier cutoffs only): Brier {raw['brier']:.4f} -> "
            f"{data['brier']:.4f}, ECE {raw['ece']:.4f} -> {data['ece']:.4f}"
        )
        parts.append(f"Before the map: {raw['verdict']}")
    parts += [f"Calibration: {data['verdict']}", cutoffs]
    return Group(*parts)


def calibration(data: dict[str, Any]) -> RenderableType:
    """The model's calibration per cutoff and per stage: mean forecast against what happened."""
    table = Table(title="Calibration of PIE's model (mean P(win) against the observed win rate)")
    for col in ("", "scored", "mean P(win)", "observed", "Brier", "ECE"):
        table.add_column(col, justify="left" if not col else "right")

    def pct(v: float | None) -> str:
        return "—" if v is None else f"{v:.0%}"

    def num(v: float | None) -> str:
        return "—" if v is None else f"{v:.3f}"

    rows = [(f"cutoff {r['cutoff'][:10]}", r) for r in data.get("per_cutoff", [])]
    rows += [(f"stage {r['stage']}", r) for r in data.get("per_stage", [])]
    for name, r in rows:
        table.add_row(
            name,
            f"{r['n_scored']:,}",
            pct(r["mean_p_win"]),
            pct(r["observed_win_rate"]),
            num(r["brier"]),
            num(r["ece"]),
        )
    return table
