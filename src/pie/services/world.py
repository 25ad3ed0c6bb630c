"""A tenant's deal histories as of a moment, with the process model fitted on them.

``as_of`` defaults to just after the newest event in the data (for a CRM that syncs
continuously that is about now; for an export or the sample world it is the moment the data was
taken), so a forecast never counts days that the data cannot have seen.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pie.domain.errors import InvalidInput
from pie.domain.history import DealHistory
from pie.mining import MiningConfig, ProcessModel, SufficiencyLevel, fit
from pie.mining.calibration_map import CalibrationMap
from pie.mining.config import DEFAULT_CONFIG
from pie.mining.snapshot import as_of as snapshot_as_of
from pie.mining.snapshot import data_end
from pie.simulation.calibration import fit_calibration

#: "the latest data" is this long after the newest event
LATEST_GAP = timedelta(seconds=1)


@dataclass(frozen=True)
class World:
    """A tenant's histories as of a moment, with the model fitted on them."""

    histories: Sequence[DealHistory]
    as_of: datetime
    model: ProcessModel

    def open_deals(self) -> list[DealHistory]:
        return [h for h in self.histories if h.deal.is_open]


def aware(moment: datetime) -> datetime:
    """A moment without a time zone is taken as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def snapshot(
    histories: Sequence[DealHistory], as_of: datetime | None
) -> tuple[Sequence[DealHistory], datetime]:
    """The histories as known at ``as_of`` (default: just after the newest event)."""
    end = data_end(histories)
    if end is None:
        raise InvalidInput(
            "the tenant has no deals yet: import some first (pie import FILE, or pie demo)",
            field="deals",
        )
    moment = aware(as_of) if as_of else end + LATEST_GAP
    return (snapshot_as_of(histories, moment) if moment <= end else histories), moment


async def world_of(
    histories: Sequence[DealHistory],
    *,
    as_of: datetime | None = None,
    config: MiningConfig = DEFAULT_CONFIG,
) -> World:
    """The histories as of ``as_of``, with the model fitted on them."""
    known, moment = snapshot(histories, as_of)
    # CPU-bound work runs in a worker thread so an API server stays responsive meanwhile
    model = await asyncio.to_thread(fit_model, known, as_of=moment, config=config)
    return World(known, moment, model)


def fit_model(
    histories: Sequence[DealHistory],
    *,
    as_of: datetime,
    config: MiningConfig = DEFAULT_CONFIG,
    calibration: CalibrationMap | None = None,
) -> ProcessModel:
    """The process model fitted at ``as_of`` with its calibration map, where the data allows
    one: the full model, and past cutoffs with known outcomes; the map is the identity unless
    it is shown to help (``pie.simulation.calibration``). ``calibration``: a map fitted
    shortly before, to reuse instead of fitting one (which costs about five fits)."""
    model = fit(histories, as_of=as_of, config=config)
    if model.sufficiency.level is not SufficiencyLevel.FULL:
        return model
    if calibration is None:
        calibration = fit_calibration(histories, as_of=as_of, config=config)
    return dataclasses.replace(model, calibration=calibration)
