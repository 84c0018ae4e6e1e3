"""Running the emulator: :class:`Emulator` (a background server for tests and scripts) and
:func:`serve` (blocking, for the command line)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from dpo_frames.errors import EmulatorStartError

from .app import create_app
from .clock import clock_for
from .config import EmulatorConfig
from .faults import CLOSING_EXTENSION, DROP_EXTENSION
from .hf import HF_PREFIX
from .state import EmulatorState

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is optional for uvicorn
    HttpToolsProtocol = None  # type: ignore[assignment,misc]


class _DroppableH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, letting the app close the connection without answering."""

    def handle_events(self) -> None:
        super().handle_events()
        # The request task was created but has not run yet: the scope can still be extended.
        if self.cycle is not None:
            extensions = self.cycle.scope.setdefault("extensions", {})
            extensions[DROP_EXTENSION] = self.transport.close  # type: ignore[assignment]  # ASGI types want dict values; this private one is a callable
            extensions[CLOSING_EXTENSION] = self.transport.is_closing  # type: ignore[assignment]


if HttpToolsProtocol is not None:

    class _DroppableHttpToolsProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol, letting the app close the connection without answering."""

        def on_message_begin(self) -> None:
            super().on_message_begin()
            extensions = self.scope.setdefault("extensions", {})
            extensions[DROP_EXTENSION] = self.transport.close  # type: ignore[assignment]  # ASGI types want dict values; this private one is a callable
            extensions[CLOSING_EXTENSION] = self.transport.is_closing  # type: ignore[assignment]

    HTTP_PROTOCOL: type[Any] = _DroppableHttpToolsProtocol
else:  # pragma: no cover - depends on the installation
    HTTP_PROTOCOL = _DroppableH11Protocol


def _uvicorn_config(app: Any, **options: Any) -> uvicorn.Config:
    return uvicorn.Config(app, http=HTTP_PROTOCOL, lifespan="on", timeout_graceful_shutdown=1, **options)


class Emulator:
    """The NeMo microservices emulator, served by uvicorn in a background thread.

    One URL serves the Entity Store, the Data Store (with its Hugging Face compatible API at
    :attr:`hf_endpoint`), the Customizer and Deployment management. Use it as a context
    manager, sync or async; it listens on 127.0.0.1 on a free port unless told otherwise.

    Example::

        import httpx
        from dpo_frames.emulator import Emulator, EmulatorConfig

        with Emulator(EmulatorConfig(tick_seconds=0.01)) as emu:
            httpx.post(f"{emu.url}/v1/namespaces", json={"id": "demo"}).raise_for_status()
            answer = httpx.get(f"{emu.url}/v1/customization/configs").json()
            print([config["name"] for config in answer["data"]])
            assert "demo" in emu.state.namespaces

    :attr:`state` is the live :class:`EmulatorState`, for assertions (entities, repository
    files, jobs, deployments and the request log ``state.requests``).
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout: float = 10.0,
    ) -> None:
        self.config = config or EmulatorConfig()
        self.host = host
        self._requested_port = port
        self.startup_timeout = startup_timeout
        self.port: int | None = None
        self._state: EmulatorState | None = None
        self._simulation: Any = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        where = self.url if self.port is not None else "not running"
        return f"Emulator({where})"

    @property
    def url(self) -> str:
        """Base URL of every service, e.g. ``http://127.0.0.1:50123``."""
        if self.port is None:
            raise RuntimeError("the emulator is not running; use it as a context manager or call start()")
        return f"http://{self.host}:{self.port}"

    @property
    def hf_endpoint(self) -> str:
        """The ``endpoint`` to give ``huggingface_hub.HfApi``."""
        return self.url + HF_PREFIX

    def advance(self, ticks: int = 1) -> None:
        """Move a ``clock="manual"`` (or ``"request"``) emulator on by ``ticks`` ticks of the job clock.

        Each tick is played in order, as the wall clock would: a job created, then pending,
        then validated and running, then one training step per tick.
        """
        if self._simulation is None:
            raise RuntimeError("the emulator has not been started")
        self._simulation.tick(ticks)

    @property
    def state(self) -> EmulatorState:
        """The live state of the running emulator."""
        if self._state is None:
            raise RuntimeError("the emulator has not been started")
        return self._state

    # --- lifecycle -----------------------------------------------------------------------------
    def _launch(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the emulator is already running")
        self._state = EmulatorState(
            self.config.persist_dir, self.config.request_log_limit, clock=clock_for(self.config.clock)
        )
        app = create_app(self.config, state=self._state)
        self._simulation = app.state.simulation
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._requested_port))
        self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(_uvicorn_config(app, log_level="warning", access_log=False))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"emulator-{self.port}", daemon=True
        )
        self._thread.start()

    def _startup_state(self) -> bool:
        """True when serving; raises if the server thread died."""
        assert self._server is not None and self._thread is not None
        if self._server.started:
            return True
        if not self._thread.is_alive():
            self._cleanup()
            raise EmulatorStartError("the emulator's server stopped during startup (see the log)")
        return False

    def start(self) -> Emulator:
        """Start serving; return when requests are accepted."""
        self._launch()
        deadline = time.monotonic() + self.startup_timeout
        while not self._startup_state():
            if time.monotonic() > deadline:
                self.stop()
                raise EmulatorStartError(f"the emulator did not start within {self.startup_timeout} s")
            time.sleep(0.005)
        return self

    async def astart(self) -> Emulator:
        """Like :meth:`start`, without blocking the running event loop."""
        self._launch()
        deadline = time.monotonic() + self.startup_timeout
        while not self._startup_state():
            if time.monotonic() > deadline:
                await asyncio.to_thread(self.stop)
                raise EmulatorStartError(f"the emulator did not start within {self.startup_timeout} s")
            await asyncio.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop serving (state is saved when persisted) and release the port."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._cleanup()

    def _cleanup(self) -> None:
        if self._state is not None:
            self._state.close()  # saves and unlocks a persist_dir
        self._server = None
        self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Emulator:
        return await self.astart()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.stop)


class _QueryRedactingFilter(logging.Filter):
    """Keeps query strings (LFS upload tickets, like pre-signed URLs) out of the access log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                arg.split("?", 1)[0] + "?***" if isinstance(arg, str) and arg.startswith("/") and "?" in arg else arg
                for arg in record.args
            )
        return True


def serve(host: str = "127.0.0.1", port: int = 8000, config: EmulatorConfig | None = None) -> None:
    """Serve the emulator in the foreground until interrupted (the CLI's ``dpo-frames emulator``).

    Ctrl-C (SIGINT) or SIGTERM shut it down cleanly; state is saved when ``config.persist_dir`` is set.
    The access log shows paths, never query strings.
    """
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _QueryRedactingFilter) for f in access.filters):
        access.addFilter(_QueryRedactingFilter())
    server = uvicorn.Server(_uvicorn_config(create_app(config), host=host, port=port, log_level="info"))
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the captured SIGINT after shutdown
        server.run()
