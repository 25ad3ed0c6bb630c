"""`pie conversations`, `pie stakeholders`, `pie plans` and `pie deals explain`: deal
intelligence from conversations (docs/intelligence-workflow.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from textwrap import shorten
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from pie.domain.errors import InvalidInput
from pie.domain.model import EntityKind
from pie.entrypoints.cli.common import console, err_console, print_json, run, state, tenant_id

if TYPE_CHECKING:
    from pie.bootstrap import Container
    from pie.services.conversations import Processed, ReprocessReport
    from pie.services.intel_reads import DealIntelligence, PlanView
    from pie.services.political_map import PoliticalMap
    from pie.services.progression import Explanation

conversations_app = typer.Typer(help="Add conversations and run the intelligence pipeline.")
stakeholders_app = typer.Typer(help="The political map of an account.")
plans_app = typer.Typer(help="Account and opportunity plans.")

_SELLER = typer.Option(
    [], "--seller-domain", help="An email domain of your own people (repeatable)"
)


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


@conversations_app.command("add")
def add(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="Text, Markdown or JSON conversation; - for stdin"),
    account: str | None = typer.Option(None, help="Account: id, SOURCE:ID or email domain"),
    deal: str | None = typer.Option(None, help="Deal: id or SOURCE:ID"),
    fmt: str = typer.Option("auto", "--format", help="auto, text, markdown or json"),
    seller_domain: list[str] = _SELLER,
    as_json: bool = typer.Option(False, "--json", help="Print everything extracted as JSON"),
) -> None:
    """Store a conversation as an activity and update deal, stakeholders and plans from it."""
    from pie.services.conversations import add_conversation
    from pie.services.intel_reads import resolve_account
    from pie.services.refs import resolve_id

    st = state(ctx)
    if str(file) == "-":
        data = sys.stdin.buffer.read()
    else:
        if not file.is_file():
            raise InvalidInput(f"{file}: no such file")
        data = file.read_bytes()

    async def work(c: Container) -> Processed:
        tid = await tenant_id(st, c)
        acc = await resolve_account(c.uow(tid), account) if account else None
        dl = await resolve_id(c.uow(tid), EntityKind.DEAL, deal) if deal else None
        return await add_conversation(
            lambda: c.uow(tid, writes=True),
            c.extractor(seller_domains=tuple(seller_domain)),
            data,
            fmt=fmt,
            source=str(file),
            account_id=acc,
            deal_id=dl,
            seller_domains=tuple(seller_domain),
            narrator=c.narrator(),
        )

    done = run(st, work)
    from pie.services.schemas.intelligence import ConversationRead

    read = ConversationRead.of(done)
    if as_json:
        print_json(read)
        return
    _print_processed(done)


def _print_processed(p: Processed) -> None:
    from pie.services.schemas.intelligence import QualificationRead

    a = p.applied
    if a.skipped:
        console.print(f"activity {a.activity_id}: processed before, nothing changed")
        return
    console.print(f"activity [bold]{a.activity_id}[/]")
    console.print(f"account: {a.account_id or 'none matched'}")
    verb = {"create": "created", "update": "updated", "none": "no deal"}[a.decision.action]
    console.print(f"deal: {verb} {a.deal_id or ''} ({a.decision.reason})")
    if a.stage_to is not None:
        console.print(f"stage: {a.stage_from} -> {a.stage_to} ({a.stage_reason})")
    q = QualificationRead.of(p.extraction.qualification)
    console.print(_qualification_table(q, "Extracted qualification"))
    en = p.extraction.enrichment
    if en.summary:
        console.print(f"summary: {en.summary}")
    for n in en.next_steps[:5]:
        console.print(f"next step: {n.text}" + (f" (owner: {n.owner})" if n.owner else ""))
    for o in en.objections[:5]:
        console.print(f"objection: {o.text} ({'resolved' if o.resolved else 'open'})")
    if a.kept:
        console.print(f"kept {len(a.kept)} value(s) a person or CRM set")
    for w in a.warnings:
        err_console.print(f"[yellow]warning:[/] {w}")


def _qualification_table(q: Any, title: str) -> Table:
    t = Table(title=f"{title}: BANT {q.bant_completion:.0%}, MEDDIC {q.meddic_completion:.0%}")
    for col in ("field", "value", "conf", "evidence"):
        t.add_column(col, overflow="fold")
    for f in q.fields:
        quote = f'"{f.evidence.quote}"' if f.evidence else ("(a person)" if f.by_human else "—")
        value = shorten(f.value, 60, placeholder=" …")  # at a word, not mid-word
        t.add_row(f.name, value, f"{f.confidence:.2f}", shorten(quote, 120, placeholder=" …"))
    if q.missing:
        t.caption = "missing: " + ", ".join(q.missing)
    return t


@conversations_app.command("reprocess")
def reprocess(
    ctx: typer.Context,
    pending: bool = typer.Option(
        False, "--pending", help="Only activity versions not processed yet (the import hook)"
    ),
    seller_domain: list[str] = _SELLER,
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Replay every conversation through the pipeline (after a rule change); idempotent."""
    from pie.entrypoints.cli.progress import progress_bar
    from pie.services.conversations import process_activities

    st = state(ctx)

    async def work(c: Container) -> ReprocessReport:
        tid = await tenant_id(st, c)
        with progress_bar("conversations", None) as advance_to:
            return await process_activities(
                lambda: c.uow(tid, writes=True),
                c.extractor(seller_domains=tuple(seller_domain)),
                force=not pending,
                seller_domains=tuple(seller_domain),
                narrator=c.narrator(),
                progress=advance_to,
            )

    report = run(st, work)
    from pie.services.schemas.intelligence import ReprocessRead

    if as_json:
        print_json(ReprocessRead.of(report))
        return
    console.print(
        f"{report.processed:,} processed, {report.skipped:,} skipped of {report.seen:,}; "
        f"{report.deals_created:,} deals created, {report.stage_moves:,} stage moves, "
        f"{len(report.stalled):,} stalled"
    )


@stakeholders_app.command("map")
def stakeholder_map(
    ctx: typer.Context,
    account: str = typer.Argument(..., help="Account: id, SOURCE:ID or email domain"),
    out: Path | None = typer.Option(
        None, "--out", help="Write the graph: FILE.dot (Graphviz) or FILE.svg (both written)"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Print an account's political map; --out also writes it as DOT and SVG."""
    from pie.services.intel_reads import resolve_account
    from pie.services.political_map import political_map, to_dot, to_svg

    st = state(ctx)

    async def work(c: Container) -> PoliticalMap:
        tid = await tenant_id(st, c)
        acc = await resolve_account(c.uow(tid), account)
        async with c.uow(tid) as uow:
            return await political_map(uow, acc)

    pm = run(st, work)
    written: list[Path] = []
    if out is not None:
        base = out.with_suffix("") if out.suffix.lower() in (".dot", ".svg", ".gv") else out
        dot, svg = base.with_suffix(".dot"), base.with_suffix(".svg")
        dot.write_text(to_dot(pm), encoding="utf-8")
        svg.write_text(to_svg(pm), encoding="utf-8")
        written = [dot, svg]
    if as_json:
        from pie.services.schemas.intelligence import PoliticalMapRead

        print_json(PoliticalMapRead.of(pm))
        return
    console.print(map_table(pm))
    for r in pm.relationships:
        a, b = pm.entry(r.from_id), pm.entry(r.to_id)
        if a and b:
            console.print(f"{a.contact.name} {r.kind.value.replace('_', ' ')} {b.contact.name}")
    for path in written:
        console.print(f"wrote {path}")


def map_table(pm: PoliticalMap) -> Table:
    from pie.domain.political import main_roles, sub_roles

    t = Table(title=f"Political map: {pm.account.name}")
    for col in ("stakeholder", "roles", "power", "infl", "rel", "sent"):
        t.add_column(col, overflow="fold")

    def score(e: Any, name: str, fmt: str) -> str:
        rec = e.profile.scores.get(name)
        if rec is None:
            return "—"
        mark = {"heuristic": "h", "conversation_signal": "c", "human_override": "!"}
        return format(rec.value, fmt) + mark[rec.source.value]

    for e in pm.entries:
        roles = [str(r) for r in main_roles(e.stakeholder.roles)]
        subs = [str(r) for r in sub_roles(e.stakeholder.roles)]
        t.add_row(
            e.label,
            ", ".join(roles + [f"({s})" for s in subs]) or "—",
            score(e, "decision_power", "g"),
            score(e, "influence", "g"),
            score(e, "relationship_strength", "g"),
            score(e, "sentiment", "+.1f"),
        )
    notes = [f"{e.contact.name}: {e.stakeholder.notes}" for e in pm.entries if e.stakeholder.notes]
    t.caption = "h: from the title, c: from a conversation, !: set by a person" + "".join(
        f"\n{n}" for n in notes
    )
    return t


@stakeholders_app.command("set")
def stakeholder_set(
    ctx: typer.Context,
    account: str = typer.Argument(..., help="Account: id, SOURCE:ID or email domain"),
    who: str = typer.Argument(..., help="Stakeholder: id, contact id, email or name"),
    score: list[str] = typer.Option(
        [], "--score", help="NAME=VALUE, e.g. decision_power=8 (repeatable)"
    ),
    role: list[str] = typer.Option([], "--role", help="Add a role (repeatable)"),
    remove_role: list[str] = typer.Option([], "--remove-role", help="Remove a role"),
    reports_to: str | None = typer.Option(None, "--reports-to", help="Stakeholder they report to"),
    influences: str | None = typer.Option(None, "--influences", help="Stakeholder they influence"),
    allied_with: str | None = typer.Option(None, "--allied-with", help="An ally"),
    opposed_to: str | None = typer.Option(None, "--opposed-to", help="An opponent"),
    style: str | None = typer.Option(None, "--style", help="Communication style"),
    note: str = typer.Option("", "--note", help="Why (kept as the evidence)"),
    as_json: bool = typer.Option(False, "--json", help="Print the map as JSON"),
) -> None:
    """Record a human override: it always wins and no conversation reverts it."""
    from pie.domain.model import StakeholderRole
    from pie.domain.political import RelationshipKind
    from pie.services.intel_reads import resolve_account
    from pie.services.political_map import Override, political_map, set_override

    scores: dict[str, float] = {}
    for item in score:
        name, sep, value = item.partition("=")
        try:
            scores[name.strip()] = float(value)
        except ValueError:
            raise InvalidInput(f"{item!r}: expected NAME=NUMBER", field="--score") from None
        if not sep:
            raise InvalidInput(f"{item!r}: expected NAME=NUMBER", field="--score")

    def roles(names: list[str]) -> tuple[StakeholderRole, ...]:
        try:
            return tuple(StakeholderRole(n.strip().lower().replace(" ", "_")) for n in names)
        except ValueError:
            raise InvalidInput(
                f"unknown role in {names}; roles: {', '.join(StakeholderRole)}", field="--role"
            ) from None

    rels = [
        (k, v)
        for k, v in (
            (RelationshipKind.REPORTS_TO, reports_to),
            (RelationshipKind.INFLUENCES, influences),
            (RelationshipKind.ALLIED_WITH, allied_with),
            (RelationshipKind.OPPOSED_TO, opposed_to),
        )
        if v
    ]
    if len(rels) > 1:
        raise InvalidInput("give one relationship at a time")
    change = Override(
        scores=scores,
        add_roles=roles(role),
        remove_roles=roles(remove_role),
        relationship=rels[0][0] if rels else None,
        other=rels[0][1] if rels else None,
        communication_style=style,
        note=note,
        by="cli",
    )
    st = state(ctx)

    async def work(c: Container) -> PoliticalMap:
        tid = await tenant_id(st, c)
        acc = await resolve_account(c.uow(tid), account)
        async with c.uow(tid, writes=True) as uow:
            await set_override(uow, acc, who, change, now=_now())
            await uow.commit()
        async with c.uow(tid) as uow:
            return await political_map(uow, acc)

    pm = run(st, work)
    if as_json:
        from pie.services.schemas.intelligence import PoliticalMapRead

        print_json(PoliticalMapRead.of(pm))
        return
    console.print(map_table(pm))


@plans_app.command("show")
def show_plan(
    ctx: typer.Context,
    ident: str = typer.Argument(..., metavar="DEAL|ACCOUNT", help="Deal or account"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """An opportunity plan (for a deal) or an account plan, as Markdown."""
    from pie.services.intel_reads import plan_view

    st = state(ctx)

    async def work(c: Container) -> PlanView:
        tid = await tenant_id(st, c)
        return await plan_view(c.uow(tid, writes=True), ident, now=_now())

    view = run(st, work)
    if as_json:
        from pie.services.schemas.intelligence import PlanRead

        print_json(
            PlanRead(
                kind=view.kind,
                owner_id=view.owner_id,
                version=view.version,
                markdown=view.markdown,
                data=view.data,
            )
        )
        return
    sys.stdout.write(view.markdown)


def explain_command(
    ctx: typer.Context,
    ident: str = typer.Argument(..., metavar="ID", help="PIE id or SOURCE:EXTERNAL_ID"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Why a deal is in its stage, and what the next stage still needs."""
    from pie.services.intel_reads import explain_deal
    from pie.services.refs import resolve_id
    from pie.services.schemas.intelligence import ExplainRead

    st = state(ctx)

    async def work(c: Container) -> Explanation:
        tid = await tenant_id(st, c)
        deal_id = await resolve_id(c.uow(tid), EntityKind.DEAL, ident)
        return await explain_deal(c.uow(tid), deal_id, now=_now())

    x = ExplainRead.of(run(st, work))
    if as_json:
        print_json(x)
        return
    console.print(f"[bold]{x.name}[/] is in [bold]{x.stage}[/]", highlight=False)
    owner = x.stage_set_by or "nobody yet"
    console.print(
        f"stage set by {owner}; PIE {'may' if x.pie_may_move else 'may not'} move it",
        highlight=False,
    )
    console.print(
        f"BANT {x.bant_completion:.0%}, MEDDIC {x.meddic_completion:.0%}, "
        f"{x.interactions} interactions",
        highlight=False,
    )
    console.print("evidence: " + (", ".join(x.signals) or "none"), highlight=False)
    p = x.proposal
    console.print(f"now: {p.reason}", highlight=False)
    if p.next_stage:
        console.print(f"for {p.next_stage}, still missing:", highlight=False)
        for m in p.missing or ["nothing: it moves on the next conversation"]:
            console.print(f"  - {m}", highlight=False)
    if x.stalls_on:
        console.print(f"stalls on {x.stalls_on} without new activity", highlight=False)
    for t in x.transitions:
        why = f" ({t.reason})" if t.reason else ""
        console.print(
            f"{t.at:%Y-%m-%d} {t.from_stage or 'start'} -> {t.to_stage}{why}", highlight=False
        )
        for e in t.evidence[:3]:
            if "quote" in e:
                console.print(f'    {e.get("field")}: "{e["quote"]}"', highlight=False)


def deal_intelligence_renderables(di: DealIntelligence) -> list[Any]:
    """What `pie deals show` adds: the typed qualification and each activity's enrichment."""
    from pie.services.schemas.intelligence import QualificationRead

    out: list[Any] = [_qualification_table(QualificationRead.of(di.qualification), "Qualification")]
    if di.activities:
        t = Table(title="Activity enrichment")
        for col in ("activity", "summary", "objections", "next steps"):
            t.add_column(col, overflow="fold")
        for a in di.activities:
            en = a.enrichment
            objections = "; ".join(
                f"{o.get('text', '')[:50]} ({'resolved' if o.get('resolved') else 'open'})"
                for o in en.get("objections") or []
            )
            steps = "; ".join(str(n.get("text", ""))[:50] for n in en.get("next_steps") or [])
            t.add_row(
                str(a.activity_id)[:8],
                str(en.get("summary") or "")[:160],
                objections or "—",
                steps or "—",
            )
        out.append(t)
    return out
