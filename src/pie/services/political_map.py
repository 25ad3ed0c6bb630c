"""An account's political map: its stakeholders with roles, scores and their provenance, and
the relationships between them; human overrides; the map as Graphviz DOT and as SVG.

SVG is drawn here from a simple layered layout (decision makers on top, then influencers and
champions, then users and gatekeepers), so no Graphviz binary is needed.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from uuid import UUID, uuid4

from pie.domain.errors import AccountNotFound, InvalidInput, NotFound
from pie.domain.model import Account, Contact, Stakeholder, StakeholderRole
from pie.domain.ownership import HUMAN
from pie.domain.political import (
    ENGAGEMENT,
    SENTIMENT,
    Relationship,
    RelationshipKind,
    ScoreRecord,
    ScoreSource,
    StakeholderProfile,
    check_score,
    heuristic_scores,
    main_roles,
    merge_roles,
    propose,
    settle_stances,
    sub_roles,
)
from pie.ports.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class MapEntry:
    stakeholder: Stakeholder
    contact: Contact
    profile: StakeholderProfile

    @property
    def label(self) -> str:
        c = self.contact
        return c.name + (f" ({c.title})" if c.title else "")


@dataclass(frozen=True, slots=True)
class PoliticalMap:
    account: Account
    entries: Sequence[MapEntry]
    relationships: Sequence[Relationship] = field(default_factory=tuple)

    def entry(self, stakeholder_id: UUID) -> MapEntry | None:
        return next((e for e in self.entries if e.stakeholder.id == stakeholder_id), None)


def one_per_contact(holders: Sequence[Stakeholder]) -> list[Stakeholder]:
    """One stakeholder per contact: the account's own record (deal_id None) when there is one,
    else the contact's deal record, with the roles of all its records."""
    by_contact: dict[UUID, list[Stakeholder]] = {}
    for s in holders:
        by_contact.setdefault(s.contact_id, []).append(s)
    out = []
    for records in by_contact.values():
        records.sort(key=lambda s: (s.deal_id is not None, s.created_at, s.id))
        roles = merge_roles((), [r for s in records for r in s.roles])
        drop, note = settle_stances((s.roles, s.updated_at) for s in records)
        first = records[0]
        out.append(
            replace(
                first,
                roles=tuple(r for r in roles if r is not drop),
                notes=note if note and (len(records) > 1 or not first.notes) else first.notes,
            )
        )
    return out


async def political_map(uow: UnitOfWork, account_id: UUID) -> PoliticalMap:
    account = await uow.accounts.get(account_id)
    if account is None:
        raise AccountNotFound(account_id)
    holders = one_per_contact(await uow.stakeholders.for_account(account_id))
    profiles = await uow.intel.profiles([s.id for s in holders])
    entries = []
    contacts = {c.id: c for c in await uow.contacts.for_account(account_id)}
    for s in holders:
        contact = contacts.get(s.contact_id) or await uow.contacts.get(s.contact_id)
        if contact is None:
            continue
        profile = profiles.get(s.id) or StakeholderProfile(stakeholder_id=s.id)
        for name, rec in heuristic_scores(contact.title, s.created_at).items():
            profile = propose(profile, name, rec)  # the title's guess fills what is unknown
        entries.append(MapEntry(s, contact, profile))

    def weight(e: MapEntry) -> tuple[float, str]:
        return (-(e.profile.value("decision_power") or 0.0), e.contact.name.lower())

    entries.sort(key=weight)
    rels = await uow.intel.relationships([e.stakeholder.id for e in entries])
    return PoliticalMap(account, entries, rels)


async def find_stakeholder(uow: UnitOfWork, account_id: UUID, who: str) -> Stakeholder:
    """An account stakeholder by stakeholder id, contact id, email or (unique) name."""
    holders = one_per_contact(await uow.stakeholders.for_account(account_id))
    key = who.strip().lower()
    matches: list[Stakeholder] = []
    for s in holders:
        if key in (str(s.id), str(s.contact_id)):
            return s
        contact = await uow.contacts.get(s.contact_id)
        if contact and key in ((contact.email or "").lower(), contact.name.lower()):
            matches.append(s)
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise InvalidInput(f"{who!r} names {len(matches)} stakeholders: use the id or email")
    raise NotFound(f"stakeholder {who!r} of account {account_id}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Override:
    """A person's word on a stakeholder: scores, roles to add or remove, a relationship."""

    scores: dict[str, float] = field(default_factory=dict)
    add_roles: tuple[StakeholderRole, ...] = ()
    remove_roles: tuple[StakeholderRole, ...] = ()
    communication_style: str | None = None
    relationship: RelationshipKind | None = None
    other: str | None = None  # the other stakeholder of the relationship
    note: str = ""
    by: str | None = None


async def set_override(
    uow: UnitOfWork, account_id: UUID, who: str, change: Override, *, now: datetime
) -> Stakeholder:
    """Record a human override. Scores become ``human_override`` (never replaced by a later
    conversation); roles and scores are written to the stakeholder with origin ``human``."""
    if not (
        change.scores
        or change.add_roles
        or change.remove_roles
        or change.relationship
        or change.communication_style
    ):
        raise InvalidInput("nothing to set: give a score, a role or a relationship")
    for name, value in change.scores.items():
        check_score(name, value)
    holder = await find_stakeholder(uow, account_id, who)
    profile = (await uow.intel.profiles([holder.id])).get(holder.id) or StakeholderProfile(
        stakeholder_id=holder.id
    )
    why = change.note or "set by a person"
    for name, value in change.scores.items():
        profile = propose(
            profile,
            name,
            ScoreRecord(
                value=float(value),
                source=ScoreSource.HUMAN_OVERRIDE,
                evidence=why,
                at=now,
                by=change.by,
            ),
        )
    if change.communication_style:
        profile = replace(
            profile,
            communication_style=change.communication_style,
            style_evidence=why,
            updated_at=now,
        )
    await uow.intel.save_profile(profile)
    fields: set[str] = {"updated_at"}
    roles = holder.roles
    if change.add_roles or change.remove_roles:
        roles = tuple(
            r for r in merge_roles(holder.roles, change.add_roles) if r not in change.remove_roles
        )
        fields.add("roles")
    scores, sources = profile.flat()
    if any(n not in (SENTIMENT, ENGAGEMENT) for n in change.scores):
        fields |= {"scores", "score_sources"}
    if SENTIMENT in change.scores:
        fields.add("sentiment")
    if ENGAGEMENT in change.scores:
        fields.add("engagement")
    updated = replace(
        holder,
        roles=roles,
        scores=scores,
        score_sources=sources,
        sentiment=profile.value(SENTIMENT),
        engagement=profile.value(ENGAGEMENT),
        updated_at=now,
    )
    await uow.stakeholders.update(updated, origin=HUMAN, fields=frozenset(fields))
    if change.relationship is not None:
        if not change.other:
            raise InvalidInput("a relationship needs the other stakeholder", field="to")
        other = await find_stakeholder(uow, account_id, change.other)
        await uow.intel.save_relationship(
            Relationship(
                id=uuid4(),
                from_id=holder.id,
                to_id=other.id,
                kind=change.relationship,
                source=ScoreSource.HUMAN_OVERRIDE,
                evidence=why,
                at=now,
            )
        )
    got = await uow.stakeholders.get(holder.id)
    assert got is not None
    return got


# --- DOT and SVG -------------------------------------------------------------------------------

_ROLE_COLOURS = {
    StakeholderRole.DECISION_MAKER: "#1f4e79",
    StakeholderRole.CHAMPION: "#2e7d32",
    StakeholderRole.BLOCKER: "#c62828",
    StakeholderRole.INFLUENCER: "#6a1b9a",
    StakeholderRole.GATEKEEPER: "#ef6c00",
    StakeholderRole.USER: "#546e7a",
}
_EDGE_STYLE = {
    RelationshipKind.REPORTS_TO: ("solid", "#333333"),
    RelationshipKind.INFLUENCES: ("dashed", "#6a1b9a"),
    RelationshipKind.ALLIED_WITH: ("solid", "#2e7d32"),
    RelationshipKind.OPPOSED_TO: ("dotted", "#c62828"),
}


def _colour(e: MapEntry) -> str:
    for role in (
        StakeholderRole.BLOCKER,
        StakeholderRole.CHAMPION,
        StakeholderRole.DECISION_MAKER,
        StakeholderRole.INFLUENCER,
        StakeholderRole.GATEKEEPER,
        StakeholderRole.USER,
    ):
        if role in main_roles(e.stakeholder.roles):
            return _ROLE_COLOURS[role]
    return "#9e9e9e"


def _score_text(e: MapEntry) -> str:
    def f(name: str, short: str) -> str:
        v = e.profile.value(name)
        return f"{short} {v:g}" if v is not None else f"{short} -"

    return ", ".join(
        (f("decision_power", "power"), f("influence", "infl"), f("relationship_strength", "rel"))
    )


def _roles_text(e: MapEntry) -> str:
    roles = [str(r) for r in main_roles(e.stakeholder.roles)]
    subs = [str(r) for r in sub_roles(e.stakeholder.roles)]
    return ", ".join(roles) + (f" [{', '.join(subs)}]" if subs else "") or "no role yet"


def _dot_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(pm: PoliticalMap) -> str:
    lines = [
        f"digraph {_dot_str('political map: ' + pm.account.name)} {{",
        "  rankdir=TB;",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontcolor=white];',
    ]
    for e in pm.entries:
        label = "\\n".join(_dot_str(p)[1:-1] for p in (e.label, _roles_text(e), _score_text(e)))
        lines.append(
            f'  {_dot_str(str(e.stakeholder.id))} [label="{label}", '
            f"fillcolor={_dot_str(_colour(e))}];"
        )
    for r in pm.relationships:
        style, colour = _EDGE_STYLE[r.kind]
        lines.append(
            f"  {_dot_str(str(r.from_id))} -> {_dot_str(str(r.to_id))} "
            f"[label={_dot_str(r.kind.value.replace('_', ' '))}, style={style}, "
            f"color={_dot_str(colour)}];"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def _layer(e: MapEntry) -> int:
    roles = set(main_roles(e.stakeholder.roles))
    if StakeholderRole.DECISION_MAKER in roles:
        return 0
    if roles & {StakeholderRole.INFLUENCER, StakeholderRole.CHAMPION, StakeholderRole.BLOCKER}:
        return 1
    return 2


def to_svg(pm: PoliticalMap) -> str:
    box_w, box_h, gap_x, gap_y, margin = 230, 64, 30, 70, 20
    layers: dict[int, list[MapEntry]] = {0: [], 1: [], 2: []}
    for e in pm.entries:
        layers[_layer(e)].append(e)
    rows = [layers[k] for k in sorted(layers) if layers[k]]
    widest = max((len(r) for r in rows), default=1)
    width = margin * 2 + widest * box_w + (widest - 1) * gap_x
    height = margin * 2 + 30 + max(len(rows), 1) * (box_h + gap_y)
    pos: dict[UUID, tuple[float, float]] = {}
    body: list[str] = []
    for i, row in enumerate(rows):
        row_w = len(row) * box_w + (len(row) - 1) * gap_x
        x0 = (width - row_w) / 2
        y = margin + 30 + i * (box_h + gap_y)
        for j, e in enumerate(row):
            x = x0 + j * (box_w + gap_x)
            pos[e.stakeholder.id] = (x, y)
    for r in pm.relationships:
        if r.from_id not in pos or r.to_id not in pos:
            continue
        (x1, y1), (x2, y2) = pos[r.from_id], pos[r.to_id]
        style, colour = _EDGE_STYLE[r.kind]
        dash = {"dashed": ' stroke-dasharray="6,4"', "dotted": ' stroke-dasharray="2,3"'}.get(
            style, ""
        )
        ax, ay, bx, by = x1 + box_w / 2, y1 + box_h / 2, x2 + box_w / 2, y2 + box_h / 2
        body.append(
            f'<line x1="{ax:.0f}" y1="{ay:.0f}" x2="{bx:.0f}" y2="{by:.0f}" stroke="{colour}"'
            f' stroke-width="2"{dash} marker-end="url(#arrow)"/>'
        )
        body.append(
            f'<text x="{(ax + bx) / 2:.0f}" y="{(ay + by) / 2 - 4:.0f}" font-size="11"'
            f' text-anchor="middle" fill="{colour}">{html.escape(r.kind.value.replace("_", " "))}'
            "</text>"
        )
    for e in pm.entries:
        left, top = pos[e.stakeholder.id]
        body.append(
            f'<rect x="{left:.0f}" y="{top:.0f}" width="{box_w}" height="{box_h}" rx="8"'
            f' fill="{_colour(e)}"/>'
        )
        for k, line in enumerate((e.label, _roles_text(e), _score_text(e))):
            weight = ' font-weight="bold"' if k == 0 else ""
            body.append(
                f'<text x="{left + box_w / 2:.0f}" y="{top + 19 + k * 17:.0f}" font-size="12"'
                f' text-anchor="middle" fill="white"{weight}>{html.escape(line[:36])}</text>'
            )
    title = html.escape(f"Political map: {pm.account.name}")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}"'
        f' viewBox="0 0 {width:.0f} {height:.0f}" font-family="Helvetica, Arial, sans-serif">\n'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8"'
        ' markerHeight="8" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z"'
        ' fill="#555"/></marker></defs>\n'
        f'<rect width="100%" height="100%" fill="white"/>\n'
        f'<text x="{margin}" y="{margin + 8}" font-size="15" font-weight="bold">{title}</text>\n'
        + "\n".join(body)
        + "\n</svg>\n"
    )
