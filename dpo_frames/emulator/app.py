"""The ASGI application: every emulated service behind one front door."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import cards, customizer, datastore, deployments, entity, hf, lfs
from .clock import ManualClock, clock_for
from .config import EmulatorConfig
from .faults import PlatformMiddleware
from .http import ApiError, error_response
from .jobs import JobSimulator
from .state import EmulatorState

logger = logging.getLogger(__name__)


class Simulation:
    """Plays jobs and deployments up to the clock's time: before each request and, on wall
    time, from a background ticker. With ``clock="request"`` each request is one tick."""

    def __init__(self, state: EmulatorState, config: EmulatorConfig) -> None:
        self.state = state
        self.config = config
        self.jobs = JobSimulator(state, config)
        self.deployments = deployments.DeploymentSimulator(state, config)

    def advance(self) -> None:
        """Play everything that is due now."""
        with self.state.lock:
            now = self.state.clock.now()
            self.jobs.advance(now)
            self.deployments.advance(now)

    def on_request(self) -> None:
        """A request came in: one tick passes on the request clock, then everything due is played."""
        if self.config.clock == "request":
            self.tick(1)
        else:
            self.advance()

    def tick(self, ticks: int) -> None:
        """Move a request or manual clock by ``ticks`` ticks, playing each one in order."""
        clock = self.state.clock
        if not isinstance(clock, ManualClock):
            raise RuntimeError(f"the emulator runs on {self.config.clock} time; only a request or manual clock ticks")
        for _ in range(ticks):
            clock.advance(self.config.tick_seconds)
            self.advance()

    async def run(self) -> None:
        """Tick forever, so jobs progress (and output models appear) without being polled."""
        while True:
            await asyncio.sleep(self.config.tick_seconds)
            try:
                self.advance()
                await self.state.flush()
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
    state = state or EmulatorState(config.persist_dir, config.request_log_limit, clock=clock_for(config.clock))
    state.rebase_clock(config.tick_seconds)
    simulation = Simulation(state, config)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        with state.lock:  # resume from the saved tick once actually serving, not at construction
            state.rebase_clock(config.tick_seconds)
        ticker = asyncio.create_task(simulation.run()) if config.clock == "wall" else None
        try:
            yield
        finally:
            if ticker is not None:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
            await asyncio.to_thread(state.compact)

    routes = [
        *_health_routes(),
        *entity.routes(state),
        *datastore.routes(state),
        *cards.routes(),
        *hf.routes(state, config),
        *lfs.routes(state, config),
        *customizer.routes(state, config, simulation.jobs),
        *deployments.routes(state),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(PlatformMiddleware, state=state, config=config, advance_clock=simulation.on_request)],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.emulator = state
    app.state.simulation = simulation
    return app
