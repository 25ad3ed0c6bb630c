"""Alembic environment for PIE. Run through ``pie.adapters.db.migrate``, which passes the
database URL and the app role in ``config.attributes``."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from pie.adapters.db.engine import make_engine
from pie.adapters.db.tables import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = make_engine(config.attributes["url"])
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("PIE migrations run online only (pie.adapters.db.migrate.upgrade)")
asyncio.run(_run_online())
