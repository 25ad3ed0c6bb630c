"""Templated email threads and call transcripts that carry exactly the signals they are given.

Signal sentences are the only place signal language appears: every budget sentence says
"budget", every competitor sentence names the competitor, and no filler sentence does either.
"""

from __future__ import annotations

from dataclasses import dataclass

from pie.sample.draws import Draws

SIGNALS = ("pain", "budget", "timeline", "authority", "competitor", "objection", "champion")

SIGNAL_TEMPLATES: dict[str, tuple[str, ...]] = {
    "pain": (
        "Right now {pain}, and it is hurting us.",
        "The real problem is that {pain}.",
        "Honestly, {pain} and the team is frustrated.",
        "What keeps coming up internally is that {pain}.",
    ),
    "budget": (
        "We have budget of roughly ${amount} set aside for this.",
        "Our budget for this project is around ${amount}, and it is approved.",
        "Finance has earmarked a budget of about ${amount} for this.",
        "Realistically the budget tops out around ${amount} this year.",
    ),
    "timeline": (
        "We need this live by {deadline}; that is a hard date for us.",
        "Our target go-live is {deadline}.",
        "We want a signed agreement before {deadline} so we can roll out on time.",
    ),
    "authority": (
        "{eb_name}, our {eb_title}, has final sign-off on this.",
        "I can recommend it, but {eb_name} ({eb_title}) signs the contract.",
        "The decision sits with {eb_name}, our {eb_title}.",
    ),
    "competitor": (
        "We are also looking at {competitor}.",
        "{competitor} came in cheaper, to be honest.",
        "We ran a trial of {competitor} last quarter.",
        "Part of the team prefers {competitor} at the moment.",
    ),
    "objection": ("{objection}",),
    "champion": (
        "I will push for this internally; it is exactly what we need.",
        "Count me in, I will make the case to the leadership team.",
        "I am happy to champion this with my team.",
    ),
}
PAINS = (
    "our reps spend hours every week updating spreadsheets by hand",
    "our forecast is off by twenty percent every quarter",
    "we have no visibility into which deals are actually at risk",
    "pipeline reviews take a full day each week",
    "managers find out about slipped deals far too late",
)
OBJECTIONS = (
    (
        "I am not comfortable with the security review findings yet.",
        "Shared the SOC 2 report and the pen-test summary; security signed off.",
    ),
    (
        "Our legal team has concerns about the data processing terms.",
        "Agreed a revised DPA with their counsel.",
    ),
    (
        "I do not see how this fits with our existing stack.",
        "Walked through the integration architecture with their engineers.",
    ),
    (
        "The price is too high for what we would use.",
        "Restructured the package around the modules they need.",
    ),
    (
        "We are worried about the implementation effort for our team.",
        "Offered a guided onboarding with a dedicated engineer.",
    ),
)
_FILLER = (
    "Thanks for the time today.",
    "Good to catch up again.",
    "I have shared the notes with the team.",
    "Let me know if the attached overview is helpful.",
    "Could we find thirty minutes next week to go deeper?",
    "I will send over a calendar invite.",
    "The team liked the walkthrough of the reporting views.",
    "We would like to see how the integration with our CRM works.",
    "Please loop in anyone else who should be part of this.",
    "That makes sense to me.",
    "I will check with the team and come back to you.",
    "Happy to set up a session with our solutions engineer.",
    "Can you share a few customer references in our space?",
    "We are reviewing the material you sent.",
)
_REP_OPENERS = (
    "Following up on our conversation from earlier this week.",
    "Thanks again for the time on the call.",
    "Quick follow-up on where things stand.",
    "Circling back on the points we discussed.",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Speakers:
    rep: str
    rep_email: str
    buyer: str
    buyer_email: str
    account: str


def signal_sentence(draws: Draws, signal: str, slots: dict[str, str]) -> str:
    return draws.pick(SIGNAL_TEMPLATES[signal]).format(**slots)


def email_thread(draws: Draws, who: Speakers, subject: str, date: str, sentences: list[str]) -> str:
    """The rep's message and the buyer's reply; ``sentences`` go into the buyer's reply."""
    rep_first, buyer_first = who.rep.split(" ")[0], who.buyer.split(" ")[0]
    reply = [draws.pick(_FILLER), *sentences, draws.pick(_FILLER)]
    return (
        f"From: {who.buyer} <{who.buyer_email}>\nTo: {who.rep} <{who.rep_email}>\n"
        f"Date: {date}\nSubject: Re: {subject}\n\nHi {rep_first},\n\n"
        + " ".join(reply)
        + f"\n\nBest,\n{buyer_first}\n\n--- Original message ---\n"
        f"From: {who.rep} <{who.rep_email}>\nTo: {who.buyer} <{who.buyer_email}>\n"
        f"Subject: {subject}\n\nHi {buyer_first},\n\n{draws.pick(_REP_OPENERS)} "
        f"{draws.pick(_FILLER)}\n\nThanks,\n{rep_first}\n"
    )


def transcript(draws: Draws, who: Speakers, sentences: list[str]) -> tuple[str, list[float]]:
    """A call transcript; ``sentences`` are spoken by the buyer. Returns the text and the
    second each sentence is said at."""
    second, lines, at = 0, [], []
    turns = [
        (who.rep, f"Hi, thanks for joining. {draws.pick(_REP_OPENERS)}", False),
        (who.buyer, draws.pick(_FILLER), False),
    ]
    for s in sentences:
        turns.append((who.rep, draws.pick(_FILLER), False))
        turns.append((who.buyer, s, True))
    turns.append((who.rep, draws.pick(_FILLER), False))
    for speaker, text, is_signal in turns:
        if is_signal:
            at.append(float(second))
        lines.append(f"[{second // 60:02d}:{second % 60:02d}] {speaker}: {text}")
        second += 15 + int(draws.uniform() * 90)
    return "\n".join(lines) + "\n", at
