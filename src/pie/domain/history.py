"""A deal with everything that happened to it: the unit process mining, simulation and
back-tests work on. Loading histories is the store's job; what is in here is pure data."""

from __future__ import annotations

from dataclasses import dataclass

from pie.domain.model import Account, Activity, Deal, StageTransition, Stakeholder


@dataclass(frozen=True, slots=True, kw_only=True)
class DealHistory:
    deal: Deal
    account: Account | None = None
    transitions: tuple[StageTransition, ...] = ()  # oldest first
    stakeholders: tuple[Stakeholder, ...] = ()
    activities: tuple[Activity, ...] = ()  # oldest first
