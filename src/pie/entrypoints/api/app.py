"""The HTTP API. `create_app()` builds the container from Settings at start-up unless one is
given (tests pass their own). Its limits (body size, simulations at once and waiting) come
from the same Settings: the given ones, else the container's, else the environment's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline
from sqlalchemy import text

import pie
from pie.bootstrap import Container, build
from pie.config import Settings
from pie.entrypoints.api import errors
from pie.entrypoints.api.deps import ContainerDep
from pie.entrypoints.api.limits import BodyLimit, SimulationGate
from pie.entrypoints.api.params import no_repeated_scalars
from pie.entrypoints.api.routes_changes import router as changes_router
from pie.entrypoints.api.routes_deals import router as deals_router
from pie.entrypoints.api.routes_import import router as import_router
from pie.entrypoints.api.routes_intelligence import router as intelligence_router
from pie.entrypoints.api.routes_simulation import router as simulation_router
from pie.entrypoints.api.routes_stage_rules import router as stage_rules_router
from pie.entrypoints.api.routes_sync import router as sync_router
from pie.services.schemas import Health

#: Worker threads beyond the simulation slots, for the rest of the blocking work (encoding,
#: name resolution): the server's thread pool is bounded.
SPARE_THREADS = 4


def create_app(container: Container | None = None, settings: Settings | None = None) -> FastAPI:
    settings = settings or (container.settings if container else Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = container is None
        app.state.container = container or build(settings)
        pool = ThreadPoolExecutor(
            settings.max_concurrent_simulations + SPARE_THREADS, thread_name_prefix="pie-work"
        )
        asyncio.get_running_loop().set_default_executor(pool)
        try:
            yield
        finally:
            if owned:
                await app.state.container.aclose()
            pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPIOffline(  # /docs and /redoc with their assets served locally, not from a CDN
        title="PIE Sales Intelligence",
        version=pie.__version__,
        description="One truthful model of your deals. Authenticate with a tenant API key.",
        lifespan=lifespan,
        responses=errors.responses(413),
        dependencies=[Depends(no_repeated_scalars)],
    )
    if container is not None:
        app.state.container = container
    app.state.gate = SimulationGate(settings.max_concurrent_simulations, settings.simulation_queue)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    errors.install(app)

    @app.get("/api/health", response_model=Health, tags=["health"])
    async def health(c: ContainerDep) -> Health:
        try:
            async with c.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            database = "ok"
        except Exception:  # reported, not raised: health must answer
            database = "unreachable"
        return Health(
            status="ok" if database == "ok" else "degraded",
            version=pie.__version__,
            database=database,
        )

    app.include_router(deals_router)
    app.include_router(simulation_router)
    app.include_router(changes_router)
    app.include_router(import_router)
    app.include_router(intelligence_router)
    app.include_router(stage_rules_router)
    app.include_router(sync_router)
    return app
