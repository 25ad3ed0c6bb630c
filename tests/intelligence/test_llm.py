"""The LLM backend end to end: instructor + litellm against a local OpenAI-compatible server on
127.0.0.1 that replays recorded answers (tests/data/llm)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pie.domain.errors import InvalidInput
from pie.domain.intelligence import Conversation, SignalKind, evidence_items
from pie.intelligence.lexicon import ExtractorConfig
from pie.intelligence.llm import LlmExtractor, LlmSettings, build_extractor
from pie.intelligence.offline import OfflineExtractor
from pie.intelligence.parse import parse
from tests.intelligence.llm_server import RecordedLlm

DATA = Path(__file__).parents[1] / "data"
CONFIG = ExtractorConfig(competitors=("Clari", "Gong"), products={"Forecasting": ()})


def recorded(name: str) -> dict[str, Any]:
    answer: dict[str, Any] = json.loads((DATA / "llm" / name).read_text(encoding="utf-8"))
    return answer


def conversation() -> Conversation:
    return parse(
        (DATA / "conversations" / "call_002_cfo_signoff.txt").read_bytes(),
        occurred_at=datetime(2026, 4, 2, 12, tzinfo=UTC),
        sellers=("Lumen",),
    )


def extractor(server: RecordedLlm, **kw: Any) -> LlmExtractor:
    settings = LlmSettings(
        model="openai/recorded-model",
        api_base=server.base_url,
        api_key="test-key",
        timeout=10,
        **kw,
    )
    return LlmExtractor(settings, CONFIG)


async def test_llm_answer_keeps_verbatim_quotes_and_drops_invented_ones() -> None:
    conv = conversation()
    with RecordedLlm([recorded("call_002_answer.json")]) as server:
        async with extractor(server) as ex:
            x = await ex.extract(conv)
    assert len(server.requests) == 1
    assert server.requests[0]["model"] == "recorded-model"
    assert conv.text in server.requests[0]["messages"][-1]["content"]
    assert x.backend == "llm:openai/recorded-model"
    q = x.qualification
    assert q.budget is not None and q.budget.amount == 150000
    assert q.authority is not None and q.authority.value == "Laura Benson (CFO)"
    assert q.champion is not None and q.champion.evidence is not None
    assert q.champion.evidence.speaker == "Sam Whitfield"
    # "Our reps waste   roughly": extra spaces in the answer, found by its words
    assert q.metrics is not None and q.metrics.evidence is not None
    assert q.metrics.evidence.quote == "Our reps waste roughly six hours a week"
    # invented quotes are gone, and said to be
    assert q.timeline is None
    assert {s.kind for s in x.detection.signals} == {
        SignalKind.BUDGET_MENTION,
        SignalKind.COMPETITIVE_EVALUATION,
        SignalKind.QUANTIFIED_PAIN,
    }
    # the seller's words are never the buyer's qualification
    assert q.decision_process is None
    assert any("not in the text" in w for w in x.warnings)
    for ev in evidence_items(x):
        assert conv.text[ev.start : ev.end] == ev.quote
    assert x.enrichment.next_steps and x.enrichment.stakeholders[0].name == "Laura Benson"


async def test_an_invalid_answer_is_retried_by_instructor() -> None:
    conv = conversation()
    answers = [recorded("call_002_invalid_answer.json"), recorded("call_002_answer.json")]
    with RecordedLlm(answers) as server:
        async with extractor(server) as ex:
            x = await ex.extract(conv)
    assert len(server.requests) == 2
    retry = json.dumps(server.requests[1]["messages"])
    assert "opportunity_confidence" in retry  # the validation error went back to the model
    assert x.backend.startswith("llm:")
    assert x.detection.confidence == pytest.approx(0.88)
    assert not any("offline" in w for w in x.warnings)


async def test_any_failure_falls_back_to_the_offline_extractor_with_a_warning() -> None:
    conv = conversation()
    with RecordedLlm() as server:  # every request: HTTP 500
        async with extractor(server, max_retries=1) as ex:
            x = await ex.extract(conv)
    assert server.requests
    assert x.backend == "offline"
    assert x.warnings and "used the offline extractor" in x.warnings[0]
    offline = OfflineExtractor(CONFIG).extract_sync(conv)
    assert x.qualification == offline.qualification


async def test_concurrency_is_limited() -> None:
    convs = [conversation() for _ in range(6)]
    with RecordedLlm(delay=0.15) as server:
        server.default = recorded("call_002_answer.json")
        async with extractor(server, concurrency=2) as ex:
            out = await ex.extract_many(convs)
    assert len(out) == 6 and all(x.backend.startswith("llm:") for x in out)
    assert server.max_in_flight == 2


def test_settings_from_the_environment() -> None:
    assert LlmSettings.from_env({}) is None
    assert isinstance(build_extractor(CONFIG, {}), OfflineExtractor)
    s = LlmSettings.from_env(
        {
            "PIE_LLM_MODEL": "ollama/llama3.1",
            "PIE_LLM_CONCURRENCY": "3",
            "PIE_LLM_API_BASE": "http://127.0.0.1:11434",
        }
    )
    assert s is not None and s.concurrency == 3 and s.mode == "tools"
    assert isinstance(
        build_extractor(CONFIG, {"PIE_LLM_MODEL": "openai/gpt-4o-mini"}), LlmExtractor
    )
    with pytest.raises(InvalidInput):
        LlmSettings.from_env({"PIE_LLM_MODEL": "x", "PIE_LLM_CONCURRENCY": "0"})
    with pytest.raises(InvalidInput):
        LlmSettings.from_env({"PIE_LLM_MODEL": "x", "PIE_LLM_MODE": "telepathy"})


def test_an_llm_authority_quoted_from_a_deferral_is_dropped() -> None:
    from pie.intelligence.llm import LlmExtraction, to_extraction
    from pie.intelligence.parse import parse

    conv = parse(
        "Maya (Lumen): Who signs?\nSam Ortiz: I will check with the team and come back to you.\n",
        sellers=("Lumen",),
    )
    quote = "I will check with the team and come back to you."
    answer = LlmExtraction.model_validate(
        {
            "opportunity_confidence": 0.2,
            "qualification": {
                "authority": {"value": "Sam Ortiz", "quote": quote, "confidence": 0.7},
                "decision_process": {"value": "team input", "quote": quote, "confidence": 0.5},
            },
        }
    )
    x = to_extraction(conv, answer, "test")
    assert x.qualification.authority is None
    assert x.qualification.decision_process is not None
