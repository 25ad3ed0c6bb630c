"""Reading a tenant's deal histories as columns (``pie.mining.columns.DealColumns``): one
streamed query per table, only the columns mining, forecasting and back-testing need."""

from __future__ import annotations

from typing import Protocol

from pie.mining.columns import DealColumns


class ColumnReader(Protocol):
    async def read(self) -> DealColumns:
        """Every deal of the tenant with its transitions, deal stakeholders and activities
        (and, for deals with objections, participants and objections), in store order."""
        ...
