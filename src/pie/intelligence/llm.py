"""The LLM extractor backend: instructor + litellm, with the offline extractor as its fallback.

The model is chosen by ``PIE_LLM_MODEL`` in litellm's ``provider/model`` form
(``openai/gpt-4o-mini``, ``anthropic/claude-3-5-haiku-latest``, ``ollama/llama3.1``); the
provider's key comes from its usual variable (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``) or
``PIE_LLM_API_KEY``; ``PIE_LLM_API_BASE`` points at another endpoint (a proxy, a local
server). instructor validates the answer against ``LlmExtraction`` and re-asks when it does not
fit (``max_retries``). Calls run concurrently up to ``concurrency``.

The model answers with quotes only; PIE finds each quote in the conversation text to get its
span and speaker, and drops what it cannot find (``enforce_verbatim``). Any failure (network,
timeout, an answer that never validates) falls back to the offline extractor, and the
extraction says so in a warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from pie.domain.errors import InvalidInput
from pie.domain.intelligence import (
    BANT_FIELDS,
    MEDDIC_FIELDS,
    Conversation,
    Detection,
    Enrichment,
    Evidence,
    Extraction,
    InferredStakeholder,
    KeyMoment,
    NextStep,
    Objection,
    Qualification,
    QualificationField,
    RoleHint,
    Side,
    Signal,
    SignalKind,
    enforce_verbatim,
)
from pie.domain.model import StakeholderRole
from pie.intelligence.lexicon import ExtractorConfig
from pie.intelligence.offline import OfflineExtractor, vague_deferral

# --------------------------------------------------------------------------------------------
# What the model must answer (validated by instructor; a failed validation is re-asked)


class LlmField(BaseModel):
    value: str = Field(description="A short normalised statement of the field's value.")
    quote: str = Field(description="The exact words from the conversation, copied verbatim.")
    confidence: float = Field(ge=0.0, le=1.0)

    @field_validator("quote")
    @classmethod
    def _quote_not_empty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("quote must be the exact words from the conversation")
        return v


class LlmQualification(BaseModel):
    budget: LlmField | None = None
    authority: LlmField | None = None
    need: LlmField | None = None
    timeline: LlmField | None = None
    metrics: LlmField | None = None
    economic_buyer: LlmField | None = None
    decision_criteria: LlmField | None = None
    decision_process: LlmField | None = None
    identify_pain: LlmField | None = None
    champion: LlmField | None = None


class LlmSignal(BaseModel):
    kind: SignalKind
    confidence: float = Field(ge=0.0, le=1.0)
    quotes: list[str] = Field(min_length=1)
    value: str | None = None


class LlmObjection(BaseModel):
    text: str
    quote: str
    category: str = "other"
    resolved: bool = False
    resolution: str | None = None
    resolution_quote: str | None = None


class LlmNextStep(BaseModel):
    text: str
    quote: str
    owner: str | None = None
    due: date | None = None


class LlmMoment(BaseModel):
    text: str
    quote: str
    sentiment: float = Field(default=0.0, ge=-1.0, le=1.0)
    kind: str = "moment"


class LlmStakeholder(BaseModel):
    name: str | None = None
    email: str | None = None
    title: str | None = None
    roles: list[StakeholderRole] = Field(default_factory=list)
    role_quote: str | None = None
    sentiment: float | None = Field(default=None, ge=-1.0, le=1.0)
    communication_style: str | None = None


class LlmExtraction(BaseModel):
    """Everything the model extracts from one conversation; every claim quotes the text."""

    qualification: LlmQualification = Field(default_factory=LlmQualification)
    signals: list[LlmSignal] = Field(default_factory=list)
    opportunity_confidence: float = Field(ge=0.0, le=1.0)
    product_line: str | None = None
    timeline: date | None = None
    budget_amount: float | None = Field(default=None, ge=0)
    currency: str | None = None
    competitors: list[str] = Field(default_factory=list)
    summary: str = ""
    key_moments: list[LlmMoment] = Field(default_factory=list)
    objections: list[LlmObjection] = Field(default_factory=list)
    next_steps: list[LlmNextStep] = Field(default_factory=list)
    stakeholders: list[LlmStakeholder] = Field(default_factory=list)
    communication_style: str | None = None


SYSTEM_PROMPT = f"""You extract sales intelligence from one conversation between a seller and a \
buyer. Rules:
- Only claims the BUYER makes count for qualification and signals; ignore what the seller \
says about the buyer, hypotheticals ("if we had budget"), negations ("no budget") and small talk.
- Every claim carries a quote: the exact words from the conversation, copied character for \
character (no paraphrase, no ellipsis). A claim you cannot quote must be left out.
- Qualification fields: BANT ({", ".join(BANT_FIELDS)}) and MEDDIC ({", ".join(MEDDIC_FIELDS)}).
- Signals: {", ".join(k.value for k in SignalKind)}; opportunity_confidence is how sure you are \
(0-1) that the conversation shows a real buying opportunity.
- Dates are ISO dates, resolved against the conversation's date."""


def _prompt(conv: Conversation, config: ExtractorConfig) -> list[dict[str, str]]:
    meta = [f"Kind: {conv.kind.value}"]
    if conv.occurred_at is not None:
        meta.append(f"Date: {conv.occurred_at.date().isoformat()}")
    if conv.subject:
        meta.append(f"Subject: {conv.subject}")
    people = [
        f"- {p.name or p.email} ({p.side.value}{', ' + p.title if p.title else ''})"
        for p in conv.participants
    ]
    if people:
        meta.append("Participants:\n" + "\n".join(people))
    if config.competitors:
        meta.append("Known competitors: " + ", ".join(config.competitors))
    if config.products:
        meta.append("Our product lines: " + ", ".join(config.products))
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "\n".join(meta) + "\n\nConversation:\n" + conv.text},
    ]


# --------------------------------------------------------------------------------------------
# From the model's answer to PIE's models


def _locate(conv: Conversation, quote: str | None) -> Evidence | None:
    """The quote's span in the text (exact, else ignoring case and runs of spaces) with the
    speaker of the turn it falls in; None when the text does not hold it."""
    if not quote or not quote.strip():
        return None
    text = conv.text
    q = quote.strip()
    at = text.find(q)
    if at < 0:
        # the same words with different case or spacing: take the source's own characters
        import re

        words = [re.escape(w) for w in q.split()]
        m = re.search(r"\s+".join(words), text, re.I) if words else None
        if m is None:
            return None
        at, q = m.start(), m.group(0)
    end = at + len(q)
    turn = next((t for t in conv.turns if t.start <= at < t.end), None)
    return Evidence(
        quote=q,
        start=at,
        end=end,
        activity_id=conv.activity_id,
        speaker=turn.speaker if turn else None,
        side=turn.side if turn else Side.UNKNOWN,
        at=(turn.at if turn and turn.at else conv.occurred_at),
    )


def _amount(v: float | None) -> Decimal | None:
    if v is None:
        return None
    try:
        return Decimal(str(v))
    except InvalidOperation:
        return None


def to_extraction(conv: Conversation, answer: LlmExtraction, model: str) -> Extraction:
    """``answer`` as PIE's models; claims whose quote is not in the text are dropped (and
    counted in a warning by ``enforce_verbatim``)."""
    missing: list[str] = []

    def ev(quote: str | None, what: str) -> Evidence | None:
        got = _locate(conv, quote)
        if got is None and quote:
            missing.append(what)
        return got

    fields: dict[str, QualificationField] = {}
    for name, f in answer.qualification:
        if f is None:
            continue
        e = ev(f.quote, f"qualification.{name}")
        if e is None or e.side is Side.SELLER:
            continue
        if name in ("authority", "economic_buyer") and vague_deferral(e.quote):
            continue  # "I will check with the team": someone else decides, nobody named
        fields[name] = QualificationField(
            value=f.value,
            evidence=e,
            confidence=f.confidence,
            amount=_amount(answer.budget_amount) if name == "budget" else None,
            currency=answer.currency if name == "budget" else None,
            due=answer.timeline if name == "timeline" else None,
        )
    signals = []
    for s in answer.signals:
        evs = tuple(e for e in (ev(q, f"signal.{s.kind.value}") for q in s.quotes) if e)
        evs = tuple(e for e in evs if e.side is not Side.SELLER)
        if evs:
            signals.append(
                Signal(kind=s.kind, confidence=s.confidence, evidence=evs, value=s.value)
            )
    confidence = answer.opportunity_confidence
    if not signals:
        confidence = min(confidence, 0.3)  # no quotable buyer signal: no opportunity
    detection = Detection(
        signals=tuple(signals),
        confidence=confidence,
        product_line=answer.product_line,
        timeline=answer.timeline,
        amount=_amount(answer.budget_amount),
        currency=answer.currency,
        competitors=tuple(answer.competitors),
    )
    moments = []
    for m in answer.key_moments:
        e = ev(m.quote, "key_moment")
        if e is not None:
            turn = next((t for t in conv.turns if t.start <= e.start < t.end), None)
            moments.append(
                KeyMoment(
                    text=m.text,
                    evidence=e,
                    sentiment=m.sentiment,
                    kind=m.kind,
                    at_seconds=turn.offset_seconds if turn else None,
                    at=turn.at if turn else None,
                )
            )
    objections = []
    for o in answer.objections:
        e = ev(o.quote, "objection")
        if e is None:
            continue
        r = ev(o.resolution_quote, "objection.resolution") if o.resolution_quote else None
        objections.append(
            Objection(
                text=o.text,
                evidence=e,
                category=o.category,
                resolved=o.resolved and (r is not None or not o.resolution_quote),
                resolution=o.resolution,
                resolution_evidence=r,
            )
        )
    steps = []
    for n in answer.next_steps:
        e = ev(n.quote, "next_step")
        if e is not None:
            steps.append(NextStep(text=n.text, evidence=e, owner=n.owner, due=n.due))
    people = []
    for p in answer.stakeholders:
        e = ev(p.role_quote, "stakeholder.role") if p.role_quote else None
        side = next(
            (
                x.side
                for x in conv.participants
                if (p.email and x.email == p.email) or (p.name and x.name == p.name)
            ),
            Side.BUYER,
        )
        if side is Side.SELLER:
            continue
        people.append(
            InferredStakeholder(
                name=p.name,
                email=p.email,
                title=p.title,
                side=side,
                roles=tuple(
                    RoleHint(role=r, confidence=0.7 if e else 0.5, evidence=e) for r in p.roles
                ),
                sentiment=p.sentiment,
                communication_style=p.communication_style,
                mentioned_only=not any(
                    (p.email and x.email == p.email) or (p.name and x.name == p.name)
                    for x in conv.participants
                ),
            )
        )
    warnings: tuple[str, ...] = ()
    if missing:
        warnings = (
            f"dropped {len(missing)} LLM claim(s) whose quote is not in the text: "
            + ", ".join(sorted(set(missing))),
        )
    out = Extraction(
        qualification=Qualification.model_validate(fields),
        detection=detection,
        enrichment=Enrichment(
            summary=answer.summary,
            key_moments=tuple(moments),
            objections=tuple(objections),
            next_steps=tuple(steps),
            stakeholders=tuple(people),
            communication_style=answer.communication_style,
        ),
        warnings=warnings,
        backend=f"llm:{model}",
    )
    return enforce_verbatim(conv.text, out)


# --------------------------------------------------------------------------------------------
# The backend

Mode = Literal["tools", "json", "md_json"]


@dataclass(frozen=True, slots=True)
class LlmSettings:
    model: str
    api_base: str | None = None
    api_key: str | None = None
    concurrency: int = 4
    timeout: float = 60.0
    max_retries: int = 2
    mode: Mode = "tools"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LlmSettings | None:
        """The settings ``PIE_LLM_*`` name, or None when ``PIE_LLM_MODEL`` is unset (then PIE
        uses the offline extractor)."""
        e = os.environ if env is None else env
        model = (e.get("PIE_LLM_MODEL") or "").strip()
        if not model:
            return None
        try:
            concurrency = int(e.get("PIE_LLM_CONCURRENCY", "4"))
            timeout = float(e.get("PIE_LLM_TIMEOUT", "60"))
            retries = int(e.get("PIE_LLM_MAX_RETRIES", "2"))
        except ValueError as err:
            raise InvalidInput(str(err), source="environment", field="PIE_LLM_*") from None
        mode = e.get("PIE_LLM_MODE", "tools")
        if mode not in ("tools", "json", "md_json"):
            raise InvalidInput(
                f"{mode!r} is not tools, json or md_json",
                source="environment",
                field="PIE_LLM_MODE",
            )
        if concurrency < 1:
            raise InvalidInput(
                "must be at least 1", source="environment", field="PIE_LLM_CONCURRENCY"
            )
        return cls(
            model=model,
            api_base=e.get("PIE_LLM_API_BASE") or None,
            api_key=e.get("PIE_LLM_API_KEY") or None,
            concurrency=concurrency,
            timeout=timeout,
            max_retries=retries,
            mode=mode,  # type: ignore[arg-type]
        )


class LlmExtractor:
    """An ``Extractor`` that asks an LLM, and the offline extractor when that fails."""

    def __init__(
        self,
        settings: LlmSettings,
        config: ExtractorConfig | None = None,
        *,
        fallback: OfflineExtractor | None = None,
    ) -> None:
        self.settings = settings
        self.config = config or ExtractorConfig()
        self.fallback = fallback or OfflineExtractor(self.config)
        self._limit = asyncio.Semaphore(settings.concurrency)
        self._client: Any = None

    def _instructor(self) -> Any:
        if self._client is None:
            # litellm fetches a price list from the internet on import unless told not to
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            import instructor
            import litellm

            mode = {
                "tools": instructor.Mode.TOOLS,
                "json": instructor.Mode.JSON,
                "md_json": instructor.Mode.MD_JSON,
            }[self.settings.mode]
            self._client = instructor.from_litellm(litellm.acompletion, mode=mode)
        return self._client

    async def _ask(self, conv: Conversation) -> LlmExtraction:
        s = self.settings
        # instructor re-asks on an invalid answer; litellm itself does not retry (num_retries 0)
        kwargs: dict[str, Any] = {"temperature": 0, "timeout": s.timeout, "num_retries": 0}
        if s.api_base:
            kwargs["api_base"] = s.api_base
        if s.api_key:
            kwargs["api_key"] = s.api_key
        answer: LlmExtraction = await self._instructor().chat.completions.create(
            model=s.model,
            response_model=LlmExtraction,
            messages=_prompt(conv, self.config),
            max_retries=s.max_retries,
            **kwargs,
        )
        return answer

    async def extract(self, conversation: Conversation) -> Extraction:
        async with self._limit:
            try:
                answer = await self._ask(conversation)
                return to_extraction(conversation, answer, self.settings.model)
            except Exception as err:  # any failure: the offline answer, with a warning
                reason = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
                out = self.fallback.extract_sync(conversation)
                return out.model_copy(
                    update={
                        "warnings": (
                            f"LLM extraction with {self.settings.model} failed ({reason[:200]}); "
                            "used the offline extractor",
                            *out.warnings,
                        )
                    }
                )

    async def extract_many(self, conversations: Sequence[Conversation]) -> list[Extraction]:
        """All of them, at most ``concurrency`` at a time, in order."""
        return list(await asyncio.gather(*(self.extract(c) for c in conversations)))

    async def aclose(self) -> None:
        """Release what this backend opened (``close_llm_clients``): call before the event
        loop ends, at the end of a command or a server's lifespan."""
        if self._client is not None:
            self._client = None
            await close_llm_clients()

    async def __aenter__(self) -> LlmExtractor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def close_llm_clients() -> None:
    """Let litellm finish the logging work it queued on this event loop, then close the HTTP
    clients it cached (its own and the provider SDKs', e.g. ``openai.AsyncOpenAI``) and forget
    them, so nothing is left open when the loop ends and a later loop makes new ones. A no-op
    when litellm was never imported."""
    if "litellm" not in sys.modules:
        return
    import litellm
    from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER

    worker = GLOBAL_LOGGING_WORKER
    for _ in range(2):
        for _ in range(5):  # litellm schedules its logging helper as a task: let it run
            await asyncio.sleep(0)
        await worker.clear_queue()  # type: ignore[no-untyped-call]  # runs what is queued
        running = list(getattr(worker, "_running_tasks", ()))
        if running:  # and lets what the worker already started finish
            await asyncio.gather(*running, return_exceptions=True)
    await worker.stop()
    await litellm.close_litellm_async_clients()  # type: ignore[attr-defined,no-untyped-call]
    cache = litellm.in_memory_llm_clients_cache
    for client in list(getattr(cache, "cache_dict", {}).values()):
        close = getattr(client, "close", None)
        is_closed = getattr(client, "is_closed", None)
        if close is None or not inspect.iscoroutinefunction(close):
            continue
        if callable(is_closed) and is_closed():
            continue
        with contextlib.suppress(Exception):  # closing what may be closed already
            await close()
    cache.flush_cache()  # type: ignore[no-untyped-call]


def build_extractor(
    config: ExtractorConfig | None = None, env: Mapping[str, str] | None = None
) -> OfflineExtractor | LlmExtractor:
    """The extractor the environment asks for: the LLM backend when ``PIE_LLM_MODEL`` is set,
    else the offline one."""
    settings = LlmSettings.from_env(env)
    if settings is None:
        return OfflineExtractor(config)
    return LlmExtractor(settings, config)
