"""One conversation through the extraction half of the pipeline: extract, then decide.

Detection never writes: this returns the extraction and the create/update/none decision; the
caller (the intelligence service) writes through the unit of work, under its per-account lock,
and merges the qualification with ``pie.domain.intelligence.merge_qualification``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pie.domain.intelligence import Conversation, Decision, Extraction, Thresholds, decide
from pie.domain.model import Deal
from pie.ports.extractor import Extractor


@dataclass(frozen=True, slots=True)
class Outcome:
    extraction: Extraction
    decision: Decision


async def process(
    conversation: Conversation,
    extractor: Extractor,
    open_deals: Sequence[Deal],
    thresholds: Thresholds | None = None,
) -> Outcome:
    """``conversation`` extracted by ``extractor`` and decided against the account's
    ``open_deals``."""
    extraction = await extractor.extract(conversation)
    return Outcome(extraction, decide(extraction.detection, open_deals, thresholds))
