"""A pipeline at a glance: deals by stage, win rate, median cycle time, largest open deals."""

from __future__ import annotations

import heapq
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from pie.domain.model import Deal, DealOutcome
from pie.domain.stages import ALL_STAGES, Stage

LARGEST_OPEN = 5


@dataclass(slots=True)
class StageTotals:
    count: int = 0
    value: Decimal = Decimal(0)


@dataclass(slots=True)
class PipelineSummary:
    by_stage: dict[Stage, StageTotals]
    won: int
    lost: int
    open: int
    open_value: Decimal
    median_cycle_days: float | None  # created -> closed, over closed deals
    largest_open: list[Deal] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.won + self.lost + self.open

    @property
    def win_rate(self) -> float | None:
        closed = self.won + self.lost
        return self.won / closed if closed else None


class SummaryBuilder:
    """Accumulates deals one at a time, so a summary never needs every deal in memory."""

    def __init__(self) -> None:
        self._by_stage = {stage: StageTotals() for stage in ALL_STAGES}
        self._counts = dict.fromkeys(DealOutcome, 0)
        self._open_value = Decimal(0)
        self._cycle_days: list[float] = []
        self._largest: list[tuple[Decimal, str, Deal]] = []

    def add(self, deal: Deal) -> None:
        value = deal.value or Decimal(0)
        totals = self._by_stage[deal.stage]
        totals.count += 1
        totals.value += value
        self._counts[deal.outcome] += 1
        if deal.is_open:
            self._open_value += value
            item = (value, str(deal.id), deal)
            if len(self._largest) < LARGEST_OPEN:
                heapq.heappush(self._largest, item)
            else:
                heapq.heappushpop(self._largest, item)
        elif deal.closed_at is not None:
            self._cycle_days.append((deal.closed_at - deal.created_at).total_seconds() / 86400)

    def result(self) -> PipelineSummary:
        return PipelineSummary(
            by_stage={s: t for s, t in self._by_stage.items() if t.count},
            won=self._counts[DealOutcome.WON],
            lost=self._counts[DealOutcome.LOST],
            open=self._counts[DealOutcome.OPEN],
            open_value=self._open_value,
            median_cycle_days=statistics.median(self._cycle_days) if self._cycle_days else None,
            largest_open=[d for _, _, d in sorted(self._largest, reverse=True)],
        )


def summarize(deals: Iterable[Deal]) -> PipelineSummary:
    builder = SummaryBuilder()
    for deal in deals:
        builder.add(deal)
    return builder.result()
