"""Naming records the way people do: a PIE id, or SOURCE:EXTERNAL_ID."""

from __future__ import annotations

from uuid import UUID

from pie.domain.errors import AccountNotFound, DealNotFound, NotFound
from pie.domain.model import EntityKind
from pie.ports.uow import UnitOfWork

_NOT_FOUND: dict[EntityKind, type[NotFound]] = {
    EntityKind.DEAL: DealNotFound,
    EntityKind.ACCOUNT: AccountNotFound,
}


async def resolve_id(uow: UnitOfWork, kind: EntityKind, ident: str | UUID) -> UUID:
    """A PIE id as is, or the id SOURCE:EXTERNAL_ID (e.g. salesforce:006Ho00000AbCdEIAV)
    names. An unknown source id, or text that is neither, is not found. A PIE id is not
    looked up here: the use case that reads the record says whether it exists."""
    if isinstance(ident, UUID):
        return ident
    try:
        return UUID(ident)
    except ValueError:
        pass
    source, sep, external = ident.partition(":")
    if sep and source and external:
        async with uow:
            found = await uow.refs.resolve(kind, source, [external])
        if external in found:
            return found[external]
    raise _NOT_FOUND.get(kind, NotFound)(ident)
