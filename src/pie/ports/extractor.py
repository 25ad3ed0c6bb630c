"""The extractor port: one conversation in, everything PIE can claim about it out.

Two backends implement it with the same output models (``pie.intelligence``): the offline
rule-based extractor (the default) and the LLM extractor (instructor + litellm, chosen by
``PIE_LLM_MODEL``), which falls back to the offline one on any failure. Every implementation
returns evidence that passed ``pie.domain.intelligence.enforce_verbatim``.
"""

from __future__ import annotations

from typing import Protocol

from pie.domain.intelligence import Conversation, Extraction


class Extractor(Protocol):
    async def extract(self, conversation: Conversation) -> Extraction:
        """Qualification, opportunity signals and enrichment for ``conversation``; never
        writes anything."""
        ...

    async def aclose(self) -> None:
        """Release what the backend opened (the LLM backend's HTTP clients); called once
        before the event loop ends (the CLI's container, the API's lifespan)."""
        ...
