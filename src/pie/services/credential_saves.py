"""Refreshed tokens saved during a sync without waiting on the sync itself.

A connector that refreshes an access token mid-sync saves it at once (``save_credentials``),
so a crash later loses nothing. But the credential store writes in a transaction of its own,
and on SQLite (one writer at a time) the sync's unit of work holds the write lock for most of
the run: the save would wait on the sync that is waiting for it, until "database is locked".

``DeferredSaves`` stands between the connector and the store for one sync: while one of the
sync's units of work is entered, a save is kept, and it is written as soon as that unit of
work commits, rolls back or is left, the moments its transaction is over (at the latest at the
next batch's commit). Outside them a save is written at once. The same on every engine and
for every connector.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from pie.ports.credentials import Secret
from pie.ports.uow import UnitOfWork
from pie.sources.registry import SaveCredentials


class DeferredSaves:
    """``config.save_credentials`` for one sync (see the module)."""

    def __init__(self, save: SaveCredentials) -> None:
        self._save = save
        self._pending: dict[str, Secret] = {}
        self._entered = 0  # units of work of the sync that are entered

    async def __call__(self, fields: Mapping[str, Secret]) -> None:
        self._pending.update(fields)
        if not self._entered:
            await self.flush()

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    async def flush(self) -> None:
        """Write what was kept (a unit of work's transaction just ended)."""
        if self._pending:
            fields, self._pending = dict(self._pending), {}
            await self._save(fields)

    def around(self, uow: UnitOfWork) -> UnitOfWork:
        """``uow``, telling this object when its transactions end."""
        return _Watched(uow, self)


class _Watched:
    """A unit of work that flushes the kept saves after each commit, rollback and exit; every
    other attribute is the wrapped unit's."""

    def __init__(self, inner: UnitOfWork, saves: DeferredSaves) -> None:
        self._inner, self._saves = inner, saves

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def __aenter__(self) -> Self:
        await self._inner.__aenter__()
        self._saves._entered += 1
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self._inner.__aexit__(*exc)
        finally:
            self._saves._entered -= 1
        await self._saves.flush()

    async def commit(self) -> None:
        await self._inner.commit()
        await self._saves.flush()

    async def rollback(self) -> None:
        await self._inner.rollback()
        await self._saves.flush()
