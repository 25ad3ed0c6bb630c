"""Plan narratives written by the configured LLM, against a local OpenAI-compatible server:
written from the facts, cached until the facts change, and the offline text on failure."""

from __future__ import annotations

import json

from pie.intelligence.llm import LlmSettings
from pie.services.plans_intel import LlmNarrative
from tests.intelligence.llm_server import RecordedLlm


def narrator(server: RecordedLlm) -> LlmNarrative:
    return LlmNarrative(
        LlmSettings(model="openai/recorded-model", api_base=server.base_url, api_key="k")
    )


async def test_the_llm_writes_from_the_facts_and_failures_fall_back_to_them() -> None:
    facts = "Globex: new opportunity is in lead, worth 120,000 USD."
    with RecordedLlm([{"text": "A lead worth 120,000 USD."}, {"status": 500}]) as server:
        writer = narrator(server)
        assert writer.name == "llm:openai/recorded-model"
        written = await writer.write("deal", facts)
        assert json.loads(written) == {"text": "A lead worth 120,000 USD."}
        sent = server.requests[0]["messages"]
        assert sent[-1]["content"] == facts and "nothing else" in sent[0]["content"]
        assert await writer.write("deal", facts) == facts  # HTTP 500: the offline text
