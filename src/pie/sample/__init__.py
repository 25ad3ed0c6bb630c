"""The sample world: a realistic ``pie/v1`` file drawn from a documented ground-truth process
(docs/sample-world.md), with that truth written beside it."""

from pie.sample.generate import GenerationSummary, generate, truth_paths
from pie.sample.ground_truth import (
    Context,
    GroundTruth,
    Move,
    StageParams,
    dwell_distribution,
    from_json_dict,
    move_probabilities,
    next_stage_probabilities,
    to_json_dict,
)

__all__ = [
    "Context",
    "GenerationSummary",
    "GroundTruth",
    "Move",
    "StageParams",
    "dwell_distribution",
    "from_json_dict",
    "generate",
    "move_probabilities",
    "next_stage_probabilities",
    "to_json_dict",
    "truth_paths",
]
