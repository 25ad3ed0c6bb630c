"""The fitted process model, with its calibration map (``world.fit_model``), cached per tenant
so a forecast does not refit (3-6 s) when nothing changed.

An entry is keyed on the tenant, the fitting options (the mining config, ``as_of`` or "the
latest data") and the layout of the model, and is valid for one change seq: the tenant's
newest change (``uow.changes.latest()``). Any write appends a change, so the next request
finds a newer seq and fits once more.

Two levels: in this process, the fitted model for the most recently used keys (bounded; the
deals' columns are kept only for a small store, so a warm forecast of one deal reads that deal
alone); in the store (``uow.models``), the model as bytes (``model_codec``: JSON and numpy
arrays, no pickle), so a restarted server or the next CLI command loads it instead of
fitting.
"""

from __future__ import annotations

import asyncio
import hashlib
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from pie.domain.history import DealHistory
from pie.mining import MiningConfig, ProcessModel, columns
from pie.mining.calibration_map import CalibrationMap
from pie.mining.columns import DealColumns
from pie.mining.config import DEFAULT_CONFIG
from pie.mining.snapshot import as_of as snapshot_as_of
from pie.mining.snapshot import data_end
from pie.ports.uow import UnitOfWork
from pie.services.model_codec import FINGERPRINT, CodecError, decode_model, encode_model
from pie.services.world import LATEST_GAP, World, aware, fit_model, snapshot

DEFAULT_ENTRIES = 8
#: a tenant's deals (as columns, about 1 KB a deal) are kept in memory beside its model up to
#: this many deals, so repeated pipeline forecasts of a small store do not read it again
KEEP_DEALS = 100_000


def fit_key(config: MiningConfig, as_of: datetime | None) -> str:
    """The fitting options and model layout an entry was fitted with, as one string."""
    options = hashlib.sha256(repr(config).encode()).hexdigest()[:16]
    moment = aware(as_of).isoformat() if as_of else "latest"
    return f"process:{FINGERPRINT}:{options}:{moment}"


@dataclass(frozen=True, slots=True)
class Fitted:
    """A fitted model and what it was fitted on: ``as_of`` (the moment), and ``end``, the
    data's last dated event at the time (None when not known without reading every deal: an
    explicit ``as_of`` answered from the store after a restart)."""

    model: ProcessModel
    end: datetime | None

    @property
    def as_of(self) -> datetime:
        return self.model.as_of

    def known(self, histories: Sequence[DealHistory]) -> Sequence[DealHistory]:
        """``histories`` (one deal read alone) as known at the model's moment (see
        ``world.snapshot``): cut there when the moment falls inside the data, else as is."""
        end = self.end if self.end is not None else data_end(histories)
        if end is None or self.as_of > end:
            return histories
        return snapshot_as_of(histories, self.as_of)

    def known_deals(self, deals: DealColumns) -> DealColumns:
        """``known`` for every deal of the store, as columns."""
        end = self.end if self.end is not None else columns.data_end(deals)
        if end is None or self.as_of > end:
            return deals
        return columns.snapshot(deals, self.as_of)


class ModelCache:
    """Fitted models per (tenant, fit key), valid for one change seq. ``fits`` counts the
    fits this cache made. Only models are kept in memory (and the deals' columns of a small
    store), so a warm forecast of one deal reads that deal alone."""

    def __init__(self, max_entries: int = DEFAULT_ENTRIES, keep_deals: int = KEEP_DEALS) -> None:
        self.max_entries, self.keep_deals = max_entries, keep_deals
        self.fits = 0
        self._models: OrderedDict[tuple[UUID, str], tuple[int, Fitted]] = OrderedDict()
        #: the deals read last, for one tenant and change seq
        self._deals: tuple[UUID, int, DealColumns] | None = None
        self._locks: weakref.WeakValueDictionary[tuple[UUID, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    async def fitted(
        self,
        uow: UnitOfWork,
        *,
        as_of: datetime | None = None,
        config: MiningConfig = DEFAULT_CONFIG,
    ) -> Fitted:
        """The tenant's model as of ``as_of``, fitted at most once per change seq; the
        deals are read only when the model has to be fitted."""
        fitted, _ = await self._get(uow, as_of, config, need_deals=False)
        return fitted

    async def world(
        self,
        uow: UnitOfWork,
        *,
        as_of: datetime | None = None,
        config: MiningConfig = DEFAULT_CONFIG,
    ) -> World:
        """The tenant's deals as of ``as_of`` with the model fitted on them."""
        fitted, deals = await self._get(uow, as_of, config, need_deals=True)
        assert deals is not None
        return World(fitted.known_deals(deals), fitted.as_of, fitted.model)

    async def _get(
        self, uow: UnitOfWork, as_of: datetime | None, config: MiningConfig, *, need_deals: bool
    ) -> tuple[Fitted, DealColumns | None]:
        key = fit_key(config, as_of)
        slot = (uow.tenant_id, key)
        lock = self._locks.get(slot) or self._locks.setdefault(slot, asyncio.Lock())
        async with lock:  # concurrent requests for one tenant fit once
            async with uow:  # before the deals: a write in between only refits later
                seq = await uow.changes.latest()
            deals = await self._read(uow, seq) if need_deals else None
            if (hit := self._models.get(slot)) and hit[0] == seq:
                self._models.move_to_end(slot)
                return hit[1], deals
            model = await _stored(uow, key, seq)
            if model is not None and (as_of is None or aware(as_of) == model.as_of):
                # the data is as it was when the model was fitted: "latest" was 1 s after it
                end = model.as_of - LATEST_GAP if as_of is None else None
                fitted = Fitted(model, end)
            else:
                if deals is None:
                    deals = await self._read(uow, seq)
                known, moment = snapshot(deals, as_of)
                reuse = await _recent_calibration(uow, key, moment)
                model = await asyncio.to_thread(
                    fit_model, known, as_of=moment, config=config, calibration=reuse
                )
                self.fits += 1
                await _store(uow, key, seq, model)
                fitted = Fitted(model, columns.data_end(deals))
            self._remember(slot, seq, fitted)
            return fitted, deals

    async def _read(self, uow: UnitOfWork, seq: int) -> DealColumns:
        kept = self._deals
        if kept is not None and kept[:2] == (uow.tenant_id, seq):
            return kept[2]
        async with uow:
            deals = await uow.columns.read()
        small = len(deals) <= self.keep_deals
        self._deals = (uow.tenant_id, seq, deals) if small else None
        return deals

    def _remember(self, slot: tuple[UUID, str], seq: int, fitted: Fitted) -> None:
        self._models[slot] = (seq, fitted)
        self._models.move_to_end(slot)
        while len(self._models) > self.max_entries:
            self._models.popitem(last=False)


#: a stored model's calibration map is reused by the next fit while the data has moved on by
#: less than this: the map learns from cutoffs 90 days and more in the past, which a few more
#: days barely change, and fitting it costs several fits (``world.fit_model``)
CALIBRATION_REUSE = timedelta(days=7)


async def _recent_calibration(uow: UnitOfWork, key: str, moment: datetime) -> CalibrationMap | None:
    """The calibration map of the model stored under ``key``, whatever its change seq, when
    it was fitted no earlier than ``CALIBRATION_REUSE`` before ``moment`` (nor after it)."""
    async with uow:
        cached = await uow.models.get(key)
    if cached is None:
        return None
    try:
        model = decode_model(cached.payload)
    except CodecError:
        return None
    if model.calibration is None or not timedelta(0) <= moment - model.as_of <= CALIBRATION_REUSE:
        return None
    return model.calibration


async def _stored(uow: UnitOfWork, key: str, seq: int) -> ProcessModel | None:
    async with uow:
        cached = await uow.models.get(key)
    if cached is None or cached.change_seq != seq:
        return None
    try:
        return decode_model(cached.payload)
    except CodecError:
        return None  # written by another PIE: fit again and overwrite it


async def _store(uow: UnitOfWork, key: str, seq: int, model: ProcessModel) -> None:
    payload = await asyncio.to_thread(encode_model, model)
    async with uow:
        await uow.models.put(key, seq, payload)
        await uow.commit()
