"""Puts conversation text on a few of a deal's activities and records which signals it holds.

A signal appears in the text only if the deal's truth has it (a champion, a blocker's
objection, a competitor) or its latent draw says the buyer talks about it (pain, budget,
timeline, authority), and only in a conversation at a stage where it fits.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pie.domain.stages import Stage
from pie.sample.conversations import Speakers, email_thread, signal_sentence, transcript
from pie.sample.draws import Draws

if TYPE_CHECKING:
    from pie.sample.deals import Clock
    from pie.sample.process import DealPath
    from pie.sample.world import Directory

_EMAIL_KINDS = frozenset({"email", "follow_up", "proposal", "contract"})
_EARLY = frozenset({Stage.LEAD, Stage.QUALIFICATION, Stage.DISCOVERY})
_BUDGET = frozenset(
    {Stage.QUALIFICATION, Stage.DISCOVERY, Stage.DEMO, Stage.PROPOSAL, Stage.NEGOTIATION}
)
_LATER = frozenset({Stage.DISCOVERY, Stage.DEMO, Stage.PROPOSAL, Stage.NEGOTIATION})
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _choose_carriers(text: Draws, path: DealPath, activities: list[dict[str, Any]]) -> list[int]:
    eligible = [
        k
        for k, t in enumerate(path.touches)
        if t.purpose != "internal" and activities[k]["participants"]
    ]
    special = [k for k in eligible if path.touches[k].purpose in ("objection", "champion")]
    others = [k for k in eligible if path.touches[k].purpose not in ("objection", "champion")]
    want = max(0, 2 + text.index(3) - len(special))
    for j in range(min(want, len(others))):
        r = j + text.index(len(others) - j)
        others[j], others[r] = others[r], others[j]
    return sorted(special + others[:want])


def add_conversations(
    text: Draws,
    d: Directory,
    clock: Clock,
    path: DealPath,
    activities: list[dict[str, Any]],
    who: Speakers,
    economic: int | None,
    *,
    account: int,
    competitor: str | None,
    objection: str,
    pain: str,
    icp: bool,
    value: float,
) -> dict[str, list[str]]:
    """Writes ``content`` (and key moments) on the chosen activities; returns, per signal, the
    ids of the activities whose text carries it."""
    carriers = _choose_carriers(text, path, activities)
    said: dict[int, list[tuple[str, str]]] = {k: [] for k in carriers}
    deadline = clock.as_of + timedelta(days=path.created + 60 + 120 * text.uniform())
    slots = {
        "pain": pain,
        "amount": f"{round(value * (0.8 + 0.5 * text.uniform()), -3):,.0f}",
        "deadline": f"{_MONTHS[deadline.month - 1]} {deadline.year}",
        "competitor": competitor or "",
        "objection": objection,
        "eb_name": d.contact_name(economic) if economic is not None else "",
        "eb_title": d.contact_title(economic) if economic is not None else "",
    }
    for k in carriers:
        purpose = path.touches[k].purpose
        if purpose in ("objection", "champion"):
            said[k].append((purpose, signal_sentence(text, purpose, slots)))
    latent = (
        ("pain", 0.85, _EARLY),
        ("budget", 0.5 + 0.15 * icp, _BUDGET),
        ("timeline", 0.5, _BUDGET),
        ("authority", 0.6 if economic is not None else 0.0, _LATER),
        ("competitor", 1.0 if competitor else 0.0, _LATER | _EARLY),
    )
    for signal, p, stages in latent:
        if text.chance(p):
            fits = [k for k in carriers if path.touches[k].stage in stages]
            if fits:
                k = fits[text.index(len(fits))]
                said[k].append((signal, signal_sentence(text, signal, slots)))
    signals: dict[str, list[str]] = {}
    for k in carriers:
        a = activities[k]
        buyer = int(a["participants"][0][1:]) - 1
        speakers = replace(
            who, buyer=d.contact_name(buyer), buyer_email=d.contact_email(buyer, account)
        )
        sentences = [s for _, s in said[k]]
        if a["type"] in _EMAIL_KINDS:
            a["content"] = email_thread(text, speakers, a["subject"], a["at"], sentences)
        else:
            a["content"], at = transcript(text, speakers, sentences)
            a["key_moments"] = [
                {
                    "text": s,
                    "at_seconds": sec,
                    "sentiment": -0.5 if sig == "objection" or sig == "competitor" else 0.5,
                }
                for (sig, s), sec in zip(said[k], at, strict=True)
            ]
        for signal, _ in said[k]:
            signals.setdefault(signal, []).append(a["id"])
    return {s: signals[s] for s in sorted(signals)}
