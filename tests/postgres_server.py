"""The PostgreSQL server the tests use.

The server at ``PIE_TEST_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432``, trust auth,
a superuser) when something answers there. Otherwise the tests start a throwaway server of
their own in a temporary folder on a free port and remove it afterwards, from the PostgreSQL
binaries found in ``PIE_TEST_PG_BIN``, under ``/usr/lib/postgresql/*/bin``, on ``PATH``, or in
the ``pgserver`` package (a dev dependency that ships them). So ``make test`` needs no running
database server, and PostgreSQL tests are never skipped.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

URL_VARIABLE = "PIE_TEST_PG_URL"
BIN_VARIABLE = "PIE_TEST_PG_BIN"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432"
SUPERUSER = "postgres"


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str = SUPERUSER

    def url(self, database: str, user: str | None = None) -> str:
        """The SQLAlchemy URL of ``database`` as ``user`` (default: the superuser)."""
        return f"postgresql+asyncpg://{user or self.user}@{self.host}:{self.port}/{database}"

    def answers(self, timeout: float = 2.0) -> bool:
        with (
            contextlib.suppress(OSError),
            socket.create_connection((self.host, self.port), timeout),
        ):
            return True
        return False


def configured_server() -> PostgresServer:
    parts = urlsplit(os.environ.get(URL_VARIABLE) or DEFAULT_URL)
    return PostgresServer(
        parts.hostname or "127.0.0.1", parts.port or 5432, parts.username or SUPERUSER
    )


def _version(initdb: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", initdb.parent.parent.name)) or (0,)


def find_binaries() -> Path:
    """The folder holding ``initdb`` and ``pg_ctl``."""
    if forced := os.environ.get(BIN_VARIABLE):
        return Path(forced)
    installed = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=_version)
    if installed:
        return installed[-1].parent
    if on_path := shutil.which("initdb"):
        return Path(on_path).parent
    if packaged := pgserver_binaries():
        return packaged
    raise RuntimeError(
        "no PostgreSQL answers at the test URL and no PostgreSQL binaries were found: "
        "install the dev extra (it brings pgserver) or PostgreSQL itself"
    )


def pgserver_binaries() -> Path | None:
    """The binaries the ``pgserver`` package ships (found without importing it: its import
    warns about XDG folders)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "pginstall" / "bin"
    return folder if (folder / "initdb").exists() else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThrowawayPostgres:
    """A PostgreSQL cluster in a temporary folder, listening on 127.0.0.1 on a free port, with
    trust auth and durability off (fast, disposable). As root it runs as an unprivileged
    account (PostgreSQL refuses to run as root)."""

    def __init__(self, binaries: Path) -> None:
        self.binaries = binaries  # where the binaries were found
        self._bin = binaries  # where they run from (a copy, if the account cannot reach them)
        self.folder = Path(tempfile.mkdtemp(prefix="pie-test-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self._account = _unprivileged_account()

    def _run(self, *args: str) -> None:
        kwargs: dict[str, Any] = {}
        if self._account is not None:
            kwargs = {"user": self._account.pw_uid, "group": self._account.pw_gid}
        done = subprocess.run(
            [str(self._bin / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            check=False,
            cwd=self.folder,
            **kwargs,
        )
        if done.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {done.stderr.strip()}\n{tail}")

    def start(self) -> PostgresServer:
        if self._account is not None:
            os.chown(self.folder, self._account.pw_uid, self._account.pw_gid)
            if not _reachable_by_others(self.binaries):
                # e.g. pgserver inside a virtualenv in a private (0700) checkout: the
                # unprivileged account could not run it there, so it runs a copy
                self._bin = _copy_install(self.binaries, self.folder / "pg")
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
                  "--no-sync", "--locale=C")  # fmt: skip
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"),
                  "-o", options, "-w", "-t", "60", "start")  # fmt: skip
        return PostgresServer("127.0.0.1", self.port)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError):
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)


def _copy_install(binaries: Path, dest: Path) -> Path:
    """Copy the installation of ``binaries`` (``.../pkg/pginstall/bin``) under ``dest`` with
    the same layout, and the wheel's vendored libraries beside it (``.../pkg.libs``, which the
    binaries find by a relative rpath); the copied ``bin`` folder."""
    install = binaries.parent
    package = install.parent
    target = dest / package.name / install.name
    shutil.copytree(install, target, symlinks=True)
    libs = package.parent / f"{package.name}.libs"
    if libs.is_dir():
        shutil.copytree(libs, dest / libs.name, symlinks=True)
    for path in (dest, *dest.rglob("*")):
        path.chmod(path.stat().st_mode | stat.S_IROTH | stat.S_IXOTH)
    return target / binaries.name


def _reachable_by_others(folder: Path) -> bool:
    """Whether an account other than the owner may enter ``folder`` and every folder above it."""
    path = folder.resolve()
    return all(p.stat().st_mode & stat.S_IXOTH for p in (path, *path.parents))


def _unprivileged_account() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root and no 'postgres' or 'nobody' account to run PostgreSQL")


@contextlib.contextmanager
def postgres_for_tests() -> Iterator[PostgresServer]:
    """The configured server if it answers, else a throwaway one, stopped and deleted on exit."""
    server = configured_server()
    if server.answers():
        yield server
        return
    throwaway = ThrowawayPostgres(find_binaries())
    try:
        yield throwaway.start()
    finally:
        throwaway.stop()
