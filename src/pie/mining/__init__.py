"""Process mining: stage-transition hazards and dwell times from deal histories (numpy only)."""

from pie.mining.config import DEFAULT_CONFIG, MiningConfig
from pie.mining.context import Context
from pie.mining.fit import fit
from pie.mining.model import Estimate, ProcessModel, Sufficiency, SufficiencyLevel

__all__ = [
    "DEFAULT_CONFIG",
    "Context",
    "Estimate",
    "MiningConfig",
    "ProcessModel",
    "Sufficiency",
    "SufficiencyLevel",
    "fit",
]
