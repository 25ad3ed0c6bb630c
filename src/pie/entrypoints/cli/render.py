"""Rich renderings of deals, accounts and summaries (forecasts: ``render_forecasts``).

Listings fit the console (80 columns when piped): the name column keeps a readable width and
wraps, and the least important columns are dropped when there is no room for them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.console import Group, RenderableType
from rich.table import Table

from pie.domain.model import Account, Deal
from pie.domain.summary import PipelineSummary

if TYPE_CHECKING:
    from pie.ports.repositories import Change
    from pie.services.deals import AccountDetail, DealDetail

CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
#: The name column never gets narrower than this (or than its longest name, if shorter).
NAME_MIN_WIDTH = 20


def money(value: Decimal | None, currency: str = "USD") -> str:
    return "—" if value is None else f"{value:,.0f} {currency}"


def compact_number(value: Decimal | float) -> str:
    """``2.1M``, ``950K``, ``12K``, ``640``: at most five characters and a sign."""
    amount, suffix = abs(float(value)), ""
    for unit, letter in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if round(amount / unit, 1) >= 1:
            amount, suffix = amount / unit, letter
            break
    digits = 1 if suffix and round(amount, 1) < 10 else 0
    return f"{'-' if float(value) < 0 else ''}{amount:.{digits}f}{suffix}"


def compact_money(value: Decimal | float | None, currency: str = "USD") -> str:
    """``$2.1M``, ``$950K``, ``$12K``, ``$640``; another currency's code follows the number."""
    if value is None:
        return "—"
    number = compact_number(value)
    symbol = CURRENCY_SYMBOLS.get(currency)
    return f"{symbol}{number}" if symbol else f"{number} {currency}"


def short_ref(item: Deal | Account) -> str:
    """The record's first source id (what people search by), else its PIE id."""
    for source, external in sorted(item.external_ids.items()):
        return f"{source}:{external}"
    return str(item.id)


@dataclass(frozen=True)
class Column:
    header: str
    drop_order: int = 0  # 0: always shown; otherwise dropped for room, highest first
    justify: str = "left"
    wraps: bool = False  # the name: wraps, and never narrower than NAME_MIN_WIDTH
    folds: bool = False  # an id: folded onto a second line if even then there is no room


FOLDED_MIN_WIDTH = 12


def fitted_table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    width: int,
    *,
    title: str | None = None,
) -> Table:
    """A table of ``rows`` that fits ``width`` cells. Optional columns are dropped (highest
    ``drop_order`` first) until the rest fit at their natural width beside a readable name;
    if even that is too wide, ids fold onto two lines. The name takes the room that is left."""
    natural = [
        max([cell_len(c.header), *(cell_len(r[i]) for r in rows)]) for i, c in enumerate(columns)
    ]
    name = next(i for i, c in enumerate(columns) if c.wraps)
    name_min = min(natural[name], NAME_MIN_WIDTH)
    keep = list(range(len(columns)))

    def room(widths: Sequence[int]) -> int:  # what the others leave for the name
        borders = 3 * len(keep) + 1  # a border and a space either side of every column
        return width - borders - sum(widths[i] for i in keep if i != name)

    for i in sorted(keep, key=lambda i: -columns[i].drop_order):
        if room(natural) >= name_min or columns[i].drop_order == 0:
            break
        keep.remove(i)
    widths = list(natural)
    for i in (i for i in keep if columns[i].folds):
        shortfall = name_min - room(widths)
        if shortfall > 0:
            widths[i] -= min(shortfall, max(widths[i] - FOLDED_MIN_WIDTH, 0))
    widths[name] = max(min(natural[name], room(widths)), 1)
    table = Table(title=title)
    for i in keep:
        c, fixed = columns[i], widths[i] if columns[i].wraps or columns[i].folds else None
        table.add_column(
            c.header,
            justify=c.justify,  # type: ignore[arg-type]
            no_wrap=fixed is None,
            overflow="fold",
            width=fixed,
        )
    for row in rows:
        table.add_row(*(row[i] for i in keep))
    return table


DEAL_COLUMNS = (
    Column("id", folds=True),
    Column("name", wraps=True),
    Column("stage"),
    Column("value", justify="right"),
    Column("expected close", drop_order=2),
    Column("owner", drop_order=3),
)


def deals_table(deals: Sequence[Deal], *, title: str | None = None, width: int = 80) -> Table:
    rows = [
        (
            short_ref(d),
            d.name,
            str(d.stage),
            compact_money(d.value, d.currency),
            str(d.expected_close or "—"),
            d.owner or "—",
        )
        for d in deals
    ]
    return fitted_table(DEAL_COLUMNS, rows, width, title=title)


ACCOUNT_COLUMNS = (
    Column("id", folds=True),
    Column("name", wraps=True),
    Column("industry", drop_order=2),
    Column("employees", drop_order=1, justify="right"),
    Column("country", drop_order=3),
)


def accounts_table(accounts: Sequence[Account], *, width: int = 80) -> Table:
    rows = [
        (
            short_ref(a),
            a.name,
            a.industry or "—",
            f"{a.employees:,}" if a.employees is not None else "—",
            a.country or "—",
        )
        for a in accounts
    ]
    return fitted_table(ACCOUNT_COLUMNS, rows, width)


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


def account_detail(detail: AccountDetail, *, width: int = 80) -> RenderableType:
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
    return Group(head, contacts, deals_table(detail.deals, title="Deals", width=width))


def summary(s: PipelineSummary, *, width: int = 80) -> RenderableType:
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
    largest = deals_table(s.largest_open, title="Largest open deals", width=width)
    return Group(head, stages, largest)


def provenance_table(provenance: dict[str, list[str]]) -> Table:
    """Who wrote each field's current value, and when (``pie deals show --provenance``)."""
    table = Table(title="Provenance", box=None, header_style="bold", pad_edge=False)
    table.add_column("field", no_wrap=True)
    table.add_column("origin", no_wrap=True)
    table.add_column("written", no_wrap=True)
    for name, (origin, at) in sorted(provenance.items()):
        table.add_row(name, origin, at[:19].replace("T", " "))
    if not provenance:
        table.add_row("-", "-", "-")
    return table


def changes_table(changes: Sequence[Change]) -> Table:
    """The change feed: seq, record, op and origin whole; the changed fields wrap."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("seq", "record", "op", "by"):
        table.add_column(name, justify="right" if name == "seq" else "left", no_wrap=True)
    table.add_column("fields", overflow="fold", ratio=1, min_width=12)
    for ch in changes:
        table.add_row(
            str(ch.seq),
            f"{ch.entity.value} {str(ch.entity_id)[:8]} v{ch.version}",
            ch.op,
            ch.origin,
            ", ".join(sorted(ch.fields)) if ch.op != "delete" else "-",
        )
    return table
