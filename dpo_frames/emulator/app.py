"""The ASGI application: every emulated service behind one front door."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import customizer, datastore, deployments, entity, hf, lfs
from .config import EmulatorConfig
from .faults import PlatformMiddleware
from .http import ApiError, error_response
from .jobs import JobSimulator
from .state import EmulatorState

logger = logging.getLogger(__name__)


class Clock:
    """Advances jobs and deployments; called before each request and by a background ticker."""

    def __init__(self, state: EmulatorState, config: EmulatorConfig) -> None:
        self.state = state
        self.config = config
        self.jobs = JobSimulator(state, config)
        self.deployments = deployments.DeploymentSimulator(state, config)

    def advance(self) -> None:
        """Play everything that is due now."""
        now = time.monotonic()
        self.jobs.advance(now)
        self.deployments.advance(now)

    async def run(self) -> None:
        """Tick forever, so jobs progress (and output models appear) without being polled."""
        while True:
            await asyncio.sleep(self.config.tick_seconds)
            try:
                self.advance()
                self.state.save_if_dirty()
            except Exception:  # keep the clock alive; the failure is visible in the log
                logger.exception("emulator: clock tick failed")


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def _health_routes() -> list[Route]:
    async def healthy(request: Request) -> Response:
        return JSONResponse({"status": "healthy"})

    async def live(request: Request) -> Response:
        return JSONResponse({"status": "live"})

    async def ready(request: Request) -> Response:
        return JSONResponse({"status": "ready"})

    return [
        Route("/health", healthy, methods=["GET"]),
        Route("/v1/health/live", live, methods=["GET"]),
        Route("/v1/health/ready", ready, methods=["GET"]),
    ]


def create_app(config: EmulatorConfig | None = None, *, state: EmulatorState | None = None) -> Starlette:
    """The emulator as an ASGI app (Entity Store, Data Store, Customizer, Deployments).

    ``state`` defaults to a fresh :class:`EmulatorState` (loaded from ``config.persist_dir``
    when set); it is also reachable as ``app.state.emulator``.
    """
    config = config or EmulatorConfig()
    state = state or EmulatorState(config.persist_dir, config.request_log_limit)
    state.rebase_clock(config.tick_seconds)
    clock = Clock(state, config)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        with state.lock:  # resume from the saved tick once actually serving, not at construction
            state.rebase_clock(config.tick_seconds)
        ticker = asyncio.create_task(clock.run())
        try:
            yield
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            state.save_if_dirty()

    routes = [
        *_health_routes(),
        *entity.routes(state),
        *datastore.routes(state),
        *hf.routes(state, config),
        *lfs.routes(state),
        *customizer.routes(state, config, clock.jobs),
        *deployments.routes(state),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(PlatformMiddleware, state=state, config=config, advance_clock=clock.advance)],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.emulator = state
    return app
