"""Event logs (XES, CSV with a mapping): each case, read by ``pie.mining.eventlog_import`` as a
``DealHistory``, becomes a deal, its transitions and (the first time it is met) its account.

A deal carries its stage, its times and name, and the case attributes the case has (the
mining reader leaves an empty attribute out, so an absent one is not carried).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pie.domain.history import DealHistory
from pie.domain.model import Deal, EntityKind
from pie.importing.draft import Draft, Ids, Records
from pie.importing.mapping import MapContext
from pie.importing.source import RawRecord

#: Always carried: what the events themselves say.
_ALWAYS = frozenset(
    {"name", "account_id", "stage", "source_stage", "source", "created_at", "updated_at"}
    | {"closed_at"}
)
#: Carried when the case has them (a value other than the Deal's default).
_OPTIONAL = (
    "value",
    "currency",
    "owner",
    "product_line",
    "lead_source",
    "expected_close",
    "probability",
    "lost_reason",
)
_DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(Deal)}
_ACCOUNT = frozenset({"name"})


class EventLogMapper:
    """Maps the records of an ``EventLogSource`` (stream ``deals``: one case each)."""

    def __init__(self, ctx: MapContext) -> None:
        self.ctx = ctx
        self._accounts: set[str] = set()

    def describe(self, raw: RawRecord) -> tuple[EntityKind, str]:
        return EntityKind.DEAL, self._case(raw.data)

    def _case(self, h: DealHistory) -> str:
        return h.deal.external_ids.get(self.ctx.stages.source, str(h.deal.id))

    def draft(self, raw: RawRecord) -> Draft:
        h: DealHistory = raw.data
        source = self.ctx.stages.source
        case = self._case(h)
        key = h.account.external_ids.get(source) if h.account else None
        key = key or (h.account.name if h.account else None)
        first = key is not None and key not in self._accounts
        own = [(EntityKind.DEAL, case)]
        if key is not None:
            self._accounts.add(key)
            own.append((EntityKind.ACCOUNT, key))
        fields = _ALWAYS | {f for f in _OPTIONAL if getattr(h.deal, f) != _DEFAULTS[f]}

        def build(ids: Ids) -> Records:
            deal_id = ids.own(EntityKind.DEAL, case)
            account = h.account
            if account is not None and key is not None:
                account = dataclasses.replace(account, id=ids.own(EntityKind.ACCOUNT, key))
            out = Records()
            if account is not None and first:
                out.accounts.add(account, _ACCOUNT)
            deal = dataclasses.replace(
                h.deal, id=deal_id, account_id=account.id if account else None
            )
            out.deals.add(deal, fields)
            for t in h.transitions:
                out.transitions.add(dataclasses.replace(t, deal_id=deal_id))
            return out

        return Draft(
            kind=EntityKind.DEAL, record=f"case {case}", record_id=case, build=build, own=own
        )
