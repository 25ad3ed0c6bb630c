"""The pipeline forecast reuses the C heap for its arrays whatever the process did before
(``pie.simulation.heap``): run again in a fresh process, it takes almost no fresh pages from
the system, where glibc's default thresholds map and unmap every block's arrays."""

from __future__ import annotations

import json
import pickle
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from pie.domain.history import DealHistory
from pie.mining import ProcessModel
from pie.simulation import deal_state
from tests.unit.simulation.synth import AS_OF

_RUN = """
import json, pickle, resource, sys
import numpy as np
from pie.simulation import heap
from pie.simulation.pipeline import parse_period, pipeline_forecast_by_deal

model, states, as_of = pickle.load(open(sys.argv[1], "rb"))
if sys.argv[2] == "off":
    heap.settle = lambda: False
periods = [parse_period("1971")]

def run():
    return pipeline_forecast_by_deal(
        model, states, periods, as_of=as_of, runs=2000, rng=np.random.default_rng(1)
    )

first = run()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
second = run()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"faults": faults, "same": repr(first) == repr(second)}))
"""


def _faults(world: Path, mode: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", _RUN, str(world), mode],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only")
def test_a_second_pipeline_forecast_takes_little_fresh_memory(
    synth: tuple[list[DealHistory], ProcessModel], tmp_path: Path
) -> None:
    histories, model = synth
    states = [deal_state(h, model, as_of=AS_OF) for h in histories if h.deal.is_open][:100]
    assert len(states) == 100
    world = tmp_path / "world.pickle"
    world.write_bytes(pickle.dumps((model, states, AS_OF)))
    default, settled = _faults(world, "off"), _faults(world, "on")
    assert default["same"] and settled["same"]
    # 100 deals x 2,000 runs: blocks of 32,768 paths, 256 KB an array, mapped apart by default
    assert isinstance(default["faults"], int) and default["faults"] > 2_000
    assert isinstance(settled["faults"], int) and settled["faults"] < default["faults"] / 4, (
        default,
        settled,
    )
