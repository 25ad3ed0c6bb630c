"""A `pie worker` with the fake vendor registered, in a process of its own (the crash test
kills it): ``python -m tests.integration.connect.worker_main DATABASE_URL DATA_DIR STALL``."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from pie import bootstrap
from pie.config import Settings
from pie.sources import registry
from tests.fakes.connector import FakeApi, FakeConnector

SECRET = "tests-worker-secret-key-0123456789"
ROOT = Path(__file__).resolve().parents[3]


def command(url: str, data_dir: Path, stall: float) -> list[str]:
    """The command line that starts this worker, and its environment."""
    module = "tests.integration.connect.worker_main"
    return [sys.executable, "-m", module, url, str(data_dir), str(stall)]


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}


def settings(url: str, data_dir: Path) -> Settings:
    return Settings(database_url=url, data_dir=data_dir, secret_key=SECRET)


async def main(url: str, data_dir: str, stall: float) -> None:
    api = FakeApi(stall_seconds=stall)
    api.seed(10)
    registry.register(FakeConnector(api))
    container = bootstrap.build(settings(url, Path(data_dir)))
    print("worker starting", flush=True)
    await container.run_worker(heartbeat_every=0.5, install_signal_handlers=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
