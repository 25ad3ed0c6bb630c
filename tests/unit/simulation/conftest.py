from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from pie.domain.history import DealHistory
from pie.mining import ProcessModel, fit
from tests.unit.mining.gt_world import sample_world
from tests.unit.simulation.synth import AS_OF, synthetic_world


def context_held(model: ProcessModel) -> ProcessModel:
    """``model`` with arrivals switched off: the context is held at its ``as_of`` value, the
    chain that ``pie.simulation.exact`` solves."""
    config = dataclasses.replace(model.config, context_arrives=False)
    return dataclasses.replace(model, config=config)


GtWorld = tuple[list[DealHistory], list[dict[str, Any]], datetime, ProcessModel]


@pytest.fixture(scope="session")
def gt_world(tmp_path_factory: pytest.TempPathFactory) -> GtWorld:
    """5,000 deals of the sample world (ground truth known), fitted once per session."""
    tmp: Path = tmp_path_factory.mktemp("gt")
    histories, truth, as_of = sample_world(tmp, deals=5000, seed=3)
    return histories, truth, as_of, fit(histories, as_of=as_of)


@pytest.fixture(scope="session")
def synth() -> tuple[list[DealHistory], ProcessModel]:
    histories = synthetic_world(4000, seed=1)
    return histories, fit(histories, as_of=AS_OF)
