"""Request bodies, bounded at the edge: a scenario's parameters are finite numbers in their
documented ranges, booleans, or (for add_champion) descriptive text; nothing else reaches the
scenario parser."""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from pie.entrypoints.api.params import (
    AS_OF,
    DEAL_REF,
    MAX_SEED,
    MAX_SIMULATE_RUNS,
    MAX_TEXT,
    MIN_RUNS,
    CleanText,
    Moment,
    clean_text,
)
from pie.simulation.scenarios import NAMES

#: Scenario parameters that take a number, and the range each accepts (inclusive).
NUMBERS: dict[str, tuple[float, float]] = {
    "days": (0.0, 365.0),  # accelerate_demo
    "factor": (0.0, 100.0),  # increase_touchpoints
    "size_ratio": (0.0, 1000.0),  # custom
    "days_since_activity": (0.0, 3650.0),  # custom
}
#: Scenario parameters that take true or false (custom).
BOOLEANS = ("has_champion", "unresolved_blocker", "icp_match", "engaged_recently")
#: Parameters that describe a scenario for people and do not change the simulation.
DESCRIPTIVE = {"add_champion": ("name", "title")}
_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0")

Key = Annotated[str, Field(pattern=r"^[A-Za-z_]{1,40}$")]
Value = float | bool | Annotated[str, Field(max_length=MAX_TEXT)]


def _ranges() -> str:
    return ", ".join(f"{k} {lo:g} to {hi:g}" for k, (lo, hi) in NUMBERS.items())


class ScenarioIn(BaseModel):
    type: str = Field(
        min_length=1,
        max_length=40,
        pattern=r"^[A-Za-z_]+$",
        description=f"One of {', '.join(NAMES)}",
        examples=["add_champion"],
    )
    params: dict[Key, Value] = Field(
        default_factory=dict,
        max_length=16,
        description=(
            f"Finite numbers in range ({_ranges()}); true or false "
            f"({', '.join(BOOLEANS)}); add_champion also takes a name and a title"
        ),
    )

    @model_validator(mode="after")
    def _bounded(self) -> ScenarioIn:
        descriptive = DESCRIPTIVE.get(self.type.lower(), ())
        for key, value in self.params.items():
            if key.lower() in descriptive:
                clean_text(str(value))
            else:
                _normal(key.lower(), value)
        return self

    def spec(self) -> str:
        """The scenario as the parser reads it: ``NAME[:KEY=VALUE,...]``."""
        descriptive = DESCRIPTIVE.get(self.type.lower(), ())
        kept = [
            f"{k.lower()}={_normal(k.lower(), v)}"
            for k, v in self.params.items()
            if k.lower() not in descriptive
        ]
        return self.type + (":" + ",".join(kept) if kept else "")


def _normal(key: str, value: float | bool | str) -> str:
    """A parameter's value as the parser reads it; ValueError when it is out of bounds."""
    if key in NUMBERS:
        lo, hi = NUMBERS[key]
        number = _number(key, value)
        if not (math.isfinite(number) and lo <= number <= hi):
            raise ValueError(f"{key} must be a finite number from {lo:g} to {hi:g}, not {value}")
        return repr(number)
    if key in BOOLEANS:
        text = str(value).strip().lower()
        if text not in _TRUE + _FALSE:
            raise ValueError(f"{key} must be true or false, not {value!r}")
        return "true" if text in _TRUE else "false"
    known = ", ".join([*NUMBERS, *BOOLEANS])
    raise ValueError(f"unknown scenario parameter {key!r}; the parameters are {known}")


def _number(key: str, value: float | bool | str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{key} must be a number, not {str(value).lower()}")
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{key} must be a number, not {value!r}") from None


class SimulateIn(BaseModel):
    deal_id: CleanText = Field(min_length=1, max_length=MAX_TEXT, description=DEAL_REF)
    scenario: ScenarioIn
    n_simulations: int = Field(
        default=10_000,
        ge=MIN_RUNS,
        le=MAX_SIMULATE_RUNS,
        description=f"Monte Carlo runs, {MIN_RUNS:,} to {MAX_SIMULATE_RUNS:,}",
    )
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    as_of: Moment = Field(default=None, description=AS_OF)
