"""A tenant's deals (as columns) as of a moment, with the process model fitted on them.

``as_of`` defaults to just after the newest event in the data (for a CRM that syncs
continuously that is about now; for an export or the sample world it is the moment the data was
taken), so a forecast never counts days that the data cannot have seen.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pie.domain.errors import InvalidInput
from pie.mining import MiningConfig, ProcessModel, SufficiencyLevel, columns
from pie.mining.calibration_map import CalibrationMap
from pie.mining.columns import DealColumns
from pie.mining.config import DEFAULT_CONFIG
from pie.mining.fit import fit_columns
from pie.simulation.calibration import fit_calibration
from pie.simulation.state import DealState, deal_states

#: "the latest data" is this long after the newest event
LATEST_GAP = timedelta(seconds=1)


@dataclass(frozen=True)
class World:
    """A tenant's deals as of a moment, with the model fitted on them."""

    deals: DealColumns
    as_of: datetime
    model: ProcessModel

    def open_states(self) -> list[DealState]:
        """Where each open deal stands at ``as_of`` (in store order)."""
        return deal_states(self.deals, self.model, as_of=self.as_of)


def aware(moment: datetime) -> datetime:
    """A moment without a time zone is taken as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def snapshot(deals: DealColumns, as_of: datetime | None) -> tuple[DealColumns, datetime]:
    """The deals as known at ``as_of`` (default: just after the newest event)."""
    end = columns.data_end(deals)
    if end is None:
        raise InvalidInput(
            "the tenant has no deals yet: import some first (pie import FILE, or pie demo)",
            field="deals",
        )
    moment = aware(as_of) if as_of else end + LATEST_GAP
    return (columns.snapshot(deals, moment) if moment <= end else deals), moment


async def world_of(
    deals: DealColumns,
    *,
    as_of: datetime | None = None,
    config: MiningConfig = DEFAULT_CONFIG,
) -> World:
    """The deals as of ``as_of``, with the model fitted on them."""
    known, moment = snapshot(deals, as_of)
    # CPU-bound work runs in a worker thread so an API server stays responsive meanwhile
    model = await asyncio.to_thread(fit_model, known, as_of=moment, config=config)
    return World(known, moment, model)


def fit_model(
    deals: DealColumns,
    *,
    as_of: datetime,
    config: MiningConfig = DEFAULT_CONFIG,
    calibration: CalibrationMap | None = None,
) -> ProcessModel:
    """The process model fitted at ``as_of`` with its calibration map, where the data allows
    one: the full model, and past cutoffs with known outcomes; the map is the identity unless
    it is shown to help (``pie.simulation.calibration``). ``calibration``: a map fitted
    shortly before, to reuse instead of fitting one (which costs about five fits)."""
    model = fit_columns(deals, as_of=as_of, config=config)
    if model.sufficiency.level is not SufficiencyLevel.FULL:
        return model
    if calibration is None:
        calibration = fit_calibration(deals, as_of=as_of, config=config)
    return dataclasses.replace(model, calibration=calibration)
