"""The tenant's field ownership policy (see pie.domain.ownership)."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pie.domain.errors import InvalidInput
from pie.domain.ownership import OwnershipPolicy
from pie.ports.uow import UnitOfWork


def read_policy_file(path: Path) -> OwnershipPolicy:
    """A policy from a TOML file of ``"deal.stage" = ["salesforce", "human", "pie"]`` lines."""
    try:
        doc: Mapping[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise InvalidInput(f"cannot read it: {err.strerror or err}", source=str(path)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise InvalidInput(f"is not valid TOML: {err}", source=str(path)) from None
    try:
        return OwnershipPolicy.from_document(doc)
    except InvalidInput as err:
        raise InvalidInput(err.problem, source=str(path), field=err.field) from None


async def get_policy(uow: UnitOfWork) -> OwnershipPolicy:
    async with uow:
        return await uow.policy.get()


async def set_policy(uow: UnitOfWork, policy: OwnershipPolicy) -> OwnershipPolicy:
    async with uow:
        await uow.policy.save(policy)
        await uow.commit()
    return policy
