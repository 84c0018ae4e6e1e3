"""The platform's front door: bearer-token check, injected HTTP faults and the request log.

:class:`FaultInjector` decides, per request and deterministically (seeded), whether it is
dropped, answered 503 or 429 (with ``Retry-After``), or delayed. :class:`PlatformMiddleware`
applies that decision, checks the optional bearer token, advances the simulation clock
before the request is served, logs the request (never its headers) and persists state.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import random
import threading
import time
from collections.abc import Callable

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .config import EmulatorConfig, FaultConfig, FaultKind
from .lfs import is_ticketed_upload
from .state import EmulatorState, RequestRecord

logger = logging.getLogger(__name__)

DROP_EXTENSION = "dpo_frames.emulator.drop_connection"
"""Scope extension: a callable closing the client's connection (set by our uvicorn protocol)."""
OPEN_PATHS = ("/health", "/v1/health/")
"""Paths served without a token, like the platform's probes."""


class DroppedConnection(ConnectionError):
    """Raised in place of closing the socket when the server cannot reach it (in-process ASGI)."""


class FaultInjector:
    """Chooses the fault of each request: staged ones first, then seeded random draws."""

    def __init__(self, faults: FaultConfig) -> None:
        self.faults = faults
        self._random = random.Random(faults.seed)
        self._staged_left = [rule.count for rule in faults.fail_first]
        self._lock = threading.Lock()

    def decide(self, method: str, path: str) -> FaultKind | None:
        """The fault for this request, or None to serve it normally."""
        faults = self.faults
        with self._lock:
            for index, rule in enumerate(faults.fail_first):
                if (
                    self._staged_left[index] > 0
                    and path.startswith(rule.path_prefix)
                    and (rule.method is None or rule.method.upper() == method)
                ):
                    self._staged_left[index] -= 1
                    return rule.kind
            if faults.path_prefix is not None and not path.startswith(faults.path_prefix):
                return None
            rates: list[tuple[FaultKind, float]] = [
                ("drop", faults.drop_rate),
                ("503", faults.unavailable_rate),
                ("429", faults.rate_limit_rate),
                ("slow", faults.slow_rate),
            ]
            if not any(rate for _, rate in rates):
                return None
            draws = [self._random.random() for _ in rates]
        for (kind, rate), draw in zip(rates, draws, strict=True):
            if draw < rate:
                return kind
        return None


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            return credentials.strip() if scheme.lower() == "bearer" else None
    return None


class PlatformMiddleware:
    """ASGI middleware in front of every emulated service; see the module docstring."""

    def __init__(
        self, app: ASGIApp, state: EmulatorState, config: EmulatorConfig, advance_clock: Callable[[], None]
    ) -> None:
        self.app = app
        self.state = state
        self.config = config
        self.advance_clock = advance_clock
        self.injector = FaultInjector(config.faults)

    def _authorised(self, scope: Scope) -> bool:
        token = self.config.token
        if token is None:
            return True
        path, method = scope["path"], scope["method"]
        if path.startswith(OPEN_PATHS) or is_ticketed_upload(method, path):
            return True
        given = _bearer(scope)
        return given is not None and hmac.compare_digest(given.encode(), token.get_secret_value().encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        answered: list[int] = []

        async def send_and_note(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered.append(message["status"])
            await send(message)

        fault: str | None = None
        try:
            if not self._authorised(scope):
                fault = "401"
                refusal = JSONResponse({"detail": "Not authenticated"}, 401, {"WWW-Authenticate": "Bearer"})
                await refusal(scope, receive, send_and_note)
                return
            fault = self.injector.decide(method, path)
            if fault is not None:
                logger.info("emulator: injected fault %s on %s %s", fault, method, path)
            if fault == "drop":
                await self._drop(scope, receive)
                return
            if fault in ("503", "429"):
                await self._refuse(fault, scope, receive, send_and_note)
                return
            if fault == "slow":
                await asyncio.sleep(self.config.faults.slow_seconds)
            self.advance_clock()
            await self.app(scope, receive, send_and_note)
        finally:
            record = RequestRecord(
                method=method,
                path=path,
                query=scope.get("query_string", b"").decode("latin-1"),
                status=answered[0] if answered else None,
                fault=fault,
                at=time.time(),
            )
            self.state.log_request(record)
            self.state.save_if_dirty()

    async def _refuse(self, fault: str, scope: Scope, receive: Receive, send: Send) -> None:
        if fault == "503":
            response = JSONResponse({"detail": "Service temporarily unavailable (injected fault)."}, 503)
        else:
            retry_after = f"{self.config.faults.retry_after_seconds:g}"
            response = JSONResponse(
                {"detail": "Too many requests (injected fault)."}, 429, {"Retry-After": retry_after}
            )
        await response(scope, receive, send)

    async def _drop(self, scope: Scope, receive: Receive) -> None:
        close = scope.get("extensions", {}).get(DROP_EXTENSION)
        if close is None:
            raise DroppedConnection("connection dropped without an answer (injected fault)")
        # Read the whole request first: closing with unread bytes in the socket makes the
        # kernel reset the connection instead, which clients see as a different error.
        while (await receive()).get("more_body", False):
            pass
        close()
        # Let the server notice the closed transport, so it does not try a 500 answer.
        await asyncio.sleep(0)
        await asyncio.sleep(0)
