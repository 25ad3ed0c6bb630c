"""The fitted process model, with its calibration map (``world.fit_model``), cached per tenant
so a forecast does not refit (3-6 s) when nothing changed.

An entry is keyed on the tenant, the fitting options (the mining config, ``as_of`` or "the
latest data") and the layout of the model, and is valid for one change seq: the tenant's
newest change (``uow.changes.latest()``). Any write appends a change, so the next request
finds a newer seq and fits once more.

Two levels: in this process, the fitted world (histories and model) for the most recently
used keys (bounded); in the store (``uow.models``), the model as bytes (``model_codec``: JSON
and numpy arrays, no pickle), so a restarted server or the next CLI command loads it instead
of fitting.
"""

from __future__ import annotations

import asyncio
import hashlib
import weakref
from collections import OrderedDict
from datetime import datetime, timedelta
from uuid import UUID

from pie.mining import MiningConfig, ProcessModel
from pie.mining.calibration_map import CalibrationMap
from pie.mining.config import DEFAULT_CONFIG
from pie.ports.uow import UnitOfWork
from pie.services.histories import load_histories
from pie.services.model_codec import FINGERPRINT, CodecError, decode_model, encode_model
from pie.services.world import World, aware, fit_model, snapshot

DEFAULT_ENTRIES = 8


def fit_key(config: MiningConfig, as_of: datetime | None) -> str:
    """The fitting options and model layout an entry was fitted with, as one string."""
    options = hashlib.sha256(repr(config).encode()).hexdigest()[:16]
    moment = aware(as_of).isoformat() if as_of else "latest"
    return f"process:{FINGERPRINT}:{options}:{moment}"


class ModelCache:
    """Fitted worlds per (tenant, fit key), valid for one change seq. ``fits`` counts the
    fits this cache made."""

    def __init__(self, max_entries: int = DEFAULT_ENTRIES) -> None:
        self.max_entries = max_entries
        self.fits = 0
        self._worlds: OrderedDict[tuple[UUID, str], tuple[int, World]] = OrderedDict()
        self._locks: weakref.WeakValueDictionary[tuple[UUID, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    async def world(
        self,
        uow: UnitOfWork,
        *,
        as_of: datetime | None = None,
        config: MiningConfig = DEFAULT_CONFIG,
    ) -> World:
        """The tenant's world as of ``as_of``, fitted at most once per change seq."""
        key = fit_key(config, as_of)
        slot = (uow.tenant_id, key)
        lock = self._locks.get(slot) or self._locks.setdefault(slot, asyncio.Lock())
        async with lock:  # concurrent requests for one tenant fit once
            async with uow:  # before the histories: a write in between only refits later
                seq = await uow.changes.latest()
            if (hit := self._worlds.get(slot)) and hit[0] == seq:
                self._worlds.move_to_end(slot)
                return hit[1]
            known, moment = snapshot(await load_histories(uow), as_of)
            model = await _stored(uow, key, seq)
            if model is None or model.as_of != moment:
                reuse = await _recent_calibration(uow, key, moment)
                model = await asyncio.to_thread(
                    fit_model, known, as_of=moment, config=config, calibration=reuse
                )
                self.fits += 1
                await _store(uow, key, seq, model)
            world = World(known, moment, model)
            self._remember(slot, seq, world)
            return world

    def _remember(self, slot: tuple[UUID, str], seq: int, world: World) -> None:
        self._worlds[slot] = (seq, world)
        self._worlds.move_to_end(slot)
        while len(self._worlds) > self.max_entries:
            self._worlds.popitem(last=False)


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
