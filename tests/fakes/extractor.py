"""An in-memory extractor: returns the extraction it was given for a text (or an empty one)
and records what it was asked."""

from __future__ import annotations

from pie.domain.intelligence import Conversation, Extraction, enforce_verbatim


class FakeExtractor:
    def __init__(self, answers: dict[str, Extraction] | None = None) -> None:
        self.answers = dict(answers or {})
        self.seen: list[Conversation] = []
        self.closed = False

    async def extract(self, conversation: Conversation) -> Extraction:
        self.seen.append(conversation)
        answer = self.answers.get(conversation.text, Extraction(backend="fake"))
        return enforce_verbatim(conversation.text, answer)

    async def aclose(self) -> None:
        self.closed = True
