"""The simulation ``Engine`` on Dask: parts of the work (deals) run as tasks on a Dask
cluster, given by its scheduler's address (``tcp://HOST:8786``) or started here as a local
cluster. Dask schedules; PIE only maps a function over the parts and gathers the results in
their order (``pie.simulation.engine``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from distributed import Client, LocalCluster

T = TypeVar("T")
R = TypeVar("R")


class DaskEngine:
    name = "dask"

    def __init__(self, client: Client) -> None:
        self.client = client

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        if not items:
            return []
        futures = self.client.map(fn, list(items), pure=False)
        results: list[R] = self.client.gather(futures)  # type: ignore[no-untyped-call]
        return results


@contextmanager
def dask_engine(
    scheduler: str | None = None, *, workers: int = 2, processes: bool = True
) -> Iterator[DaskEngine]:
    """An engine on the cluster at ``scheduler``, or on a local cluster of ``workers``
    single-threaded workers (``processes`` False: threads of this process) while in use."""
    cluster: Any = None
    if scheduler:
        client = Client(scheduler)  # type: ignore[no-untyped-call]
    else:
        cluster = LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers,
            threads_per_worker=1,
            processes=processes,
            dashboard_address=None,
        )
        client = Client(cluster)  # type: ignore[no-untyped-call]
    try:
        yield DaskEngine(client)
    finally:
        client.close()  # type: ignore[no-untyped-call]
        if cluster is not None:
            cluster.close()
