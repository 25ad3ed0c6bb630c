"""`make test` on a machine where no PostgreSQL answers: the session's fixture code starts a
throwaway server, creates and migrates a database on it, and removes everything afterwards.
Run once with the binaries the fixture finds first and once with the ones the `pgserver`
package ships (what a fresh laptop without PostgreSQL would use)."""

from __future__ import annotations

import asyncio
import socket

import asyncpg  # type: ignore[import-untyped]
import pytest

from pie.adapters.db import migrate
from tests.dbfixtures import APP_ROLE, create_postgres_database, drop_postgres_database
from tests.postgres_server import (
    BIN_VARIABLE,
    URL_VARIABLE,
    ThrowawayPostgres,
    configured_server,
    pgserver_binaries,
    postgres_for_tests,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _is_superuser_of(server_port: int, database: str) -> bool:
    conn = await asyncpg.connect(
        host="127.0.0.1", port=server_port, user="postgres", database=database, timeout=10
    )
    try:
        return bool(await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = 'postgres'"))
    finally:
        await conn.close()


@pytest.mark.parametrize("binaries", ["found", "pgserver"])
def test_starts_its_own_server_when_none_answers(
    binaries: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = unused_port()
    monkeypatch.setenv(URL_VARIABLE, f"postgresql://postgres@127.0.0.1:{port}")
    if binaries == "pgserver":
        packaged = pgserver_binaries()
        assert packaged is not None, "the dev extra's pgserver package ships no binaries"
        monkeypatch.setenv(BIN_VARIABLE, str(packaged))
    assert not configured_server().answers()
    started: list[ThrowawayPostgres] = []
    real_init = ThrowawayPostgres.__init__

    def remember(self: ThrowawayPostgres, *args: object) -> None:
        real_init(self, *args)  # type: ignore[arg-type]
        started.append(self)

    monkeypatch.setattr(ThrowawayPostgres, "__init__", remember)

    with postgres_for_tests() as server:
        assert server.answers()
        assert server.port != port
        database = create_postgres_database(server)
        assert migrate.current_revision(database.admin_url) == migrate.head_revision()
        assert database.app_url == server.url(database.name, APP_ROLE)
        assert asyncio.run(_is_superuser_of(server.port, database.name))
        drop_postgres_database(database)

    [throwaway] = started
    if binaries == "pgserver":
        assert throwaway.binaries == pgserver_binaries()
    assert not throwaway.folder.exists()
    assert not server.answers()


def test_uses_the_server_that_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as listener:  # anything that answers at the URL is "the server"
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = int(listener.getsockname()[1])
        monkeypatch.setenv(URL_VARIABLE, f"postgresql://someone@127.0.0.1:{port}")
        monkeypatch.setattr(
            ThrowawayPostgres, "start", lambda self: pytest.fail("started a server needlessly")
        )
        with postgres_for_tests() as server:
            assert (server.host, server.port, server.user) == ("127.0.0.1", port, "someone")
