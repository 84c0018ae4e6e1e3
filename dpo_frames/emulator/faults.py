"""The platform's front door: bearer-token check, injected HTTP faults, durability and the request log.

:class:`FaultInjector` decides, per request and deterministically (seeded), whether it is
dropped, refused (503, 429 with ``Retry-After``), answered a fake 200, served and then
refused or lost, served later, delayed or trickled (:data:`~.config.FaultKind`).
:class:`PlatformMiddleware` applies that decision, checks the optional bearer token, advances
the simulation clock before the request is served, logs the request (never its headers), and
makes every change durable *before* the answer's first byte leaves
(:meth:`~.state.EmulatorState.flush`): an acknowledged write survives a ``kill -9``.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .config import EmulatorConfig, FaultConfig, FaultKind, StagedFault
from .lfs import is_ticketed_upload
from .state import EmulatorState, RequestRecord

logger = logging.getLogger(__name__)

DROP_EXTENSION = "dpo_frames.emulator.drop_connection"
"""Scope extension: a callable closing the client's connection (set by our uvicorn protocol)."""
CLOSING_EXTENSION = "dpo_frames.emulator.connection_closing"
"""Scope extension: a callable telling whether the client's connection is closed or closing."""
OPEN_PATHS = ("/health", "/v1/health/")
"""Paths served without a token, like the platform's probes."""
FAKE_OK_BODY = {"message": "OK"}


class DroppedConnection(ConnectionError):
    """Raised in place of closing the socket when the server cannot reach it (in-process ASGI)."""


@dataclass
class _LateRequest:
    """A request whose client got no answer, served when ``countdown`` more requests arrived."""

    countdown: int
    scope: Scope
    body: bytes
    method: str
    path: str


@dataclass
class Decision:
    """The fault of one request (None: served normally) and, for ``fake_ok``, the body to answer."""

    kind: FaultKind | None = None
    body: Any = field(default=None)


class FaultInjector:
    """Chooses the fault of each request: staged ones first, then seeded random draws."""

    def __init__(self, faults: FaultConfig) -> None:
        self.faults = faults
        self._random = random.Random(faults.seed)
        self._staged_left = [rule.count for rule in faults.fail_first]
        self._lock = threading.Lock()
        self.injected = 0
        """How many requests got a fault so far."""

    def stage(self, rule: StagedFault) -> None:
        """Add a staged fault while serving (e.g. after a test has set something up)."""
        with self._lock:
            self.faults.fail_first.append(rule)
            self._staged_left.append(rule.count)

    def decide(self, method: str, path: str) -> FaultKind | None:
        """The fault for this request, or None to serve it normally."""
        return self.decision(method, path).kind

    def decision(self, method: str, path: str) -> Decision:
        """The fault for this request, with its details."""
        found = self._decide(method, path)
        if found.kind is not None:
            with self._lock:
                self.injected += 1
        return found

    def _decide(self, method: str, path: str) -> Decision:
        faults = self.faults
        with self._lock:
            for index, rule in enumerate(faults.fail_first):
                if (
                    self._staged_left[index] > 0
                    and path.startswith(rule.path_prefix)
                    and (rule.method is None or rule.method.upper() == method)
                ):
                    self._staged_left[index] -= 1
                    return Decision(rule.kind, rule.body)
            if faults.path_prefix is not None and not path.startswith(faults.path_prefix):
                return Decision()
            rates: list[tuple[FaultKind, float]] = [
                ("drop", faults.drop_rate),
                ("503", faults.unavailable_rate),
                ("429", faults.rate_limit_rate),
                ("slow", faults.slow_rate),
            ]
            # Drawn only when set, so that the sequences of the first four stay those of a seed.
            later: list[tuple[FaultKind, float]] = [
                ("503_after", faults.unavailable_after_rate),
                ("drop_after", faults.drop_after_rate),
                ("late", faults.late_rate),
                ("trickle", faults.trickle_rate),
                ("fake_ok", faults.fake_ok_rate),
            ]
            if any(rate for _, rate in later):
                rates += later
            if not any(rate for _, rate in rates):
                return Decision()
            draws = [self._random.random() for _ in rates]
        for (kind, rate), draw in zip(rates, draws, strict=True):
            if draw < rate:
                return Decision(kind)
        return Decision()


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            return credentials.strip() if scheme.lower() == "bearer" else None
    return None


async def _discard(message: Message) -> None:
    """A ``send`` for a request nobody waits for."""


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()  # like a client that never disconnects
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


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
        state.fault_injector = self.injector
        self._late: list[_LateRequest] = []

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
        await self._serve_late_requests()
        with self.state.following_changes() as changes:
            await self._serve(scope, receive, send, changes)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, changes: list[int]) -> None:
        method, path = scope["method"], scope["path"]
        answered: list[int] = []

        async def durable_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered.append(message["status"])
                await self.state.flush(changes[0])  # the answer never precedes the write it acknowledges
            await send(message)

        fault: str | None = None
        try:
            if not self._authorised(scope):
                fault = "401"
                refusal = JSONResponse({"detail": "Not authenticated"}, 401, {"WWW-Authenticate": "Bearer"})
                await refusal(scope, receive, durable_send)
                return
            decision = self.injector.decision(method, path)
            fault = decision.kind
            if fault is not None:
                logger.info("emulator: injected fault %s on %s %s", fault, method, path)
            await self._apply(decision, scope, receive, durable_send)
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
            await self.state.flush(changes[0])

    async def _apply(self, decision: Decision, scope: Scope, receive: Receive, send: Send) -> None:
        fault = decision.kind
        if fault == "drop":
            await self._drop(scope, receive)
        elif fault in ("503", "429"):
            await self._refuse(fault, scope, receive, send)
        elif fault == "fake_ok":
            await _read_body(receive)
            body = FAKE_OK_BODY if decision.body is None else decision.body
            await JSONResponse(body, 200)(scope, receive, send)
        elif fault == "late":
            body = await _read_body(receive)
            self._late.append(
                _LateRequest(self.config.faults.late_after_requests, scope, body, scope["method"], scope["path"])
            )
            await self._drop(scope, _replay(b""))
        elif fault in ("503_after", "429_after", "drop_after"):
            self.advance_clock()
            await self.app(scope, receive, _discard)  # the work is done; its answer is lost
            await self.state.flush()
            if fault == "drop_after":
                await self._drop(scope, _replay(b""))
            else:
                await self._refuse(fault.removesuffix("_after"), scope, receive, send)
        else:
            if fault == "slow":
                await asyncio.sleep(self.config.faults.slow_seconds)
            self.advance_clock()
            await self.app(scope, receive, self._trickling(scope, send) if fault == "trickle" else send)

    async def _serve_late_requests(self) -> None:
        """Serve the late requests whose time has come (before the request that just arrived)."""
        due = []
        for late in self._late:
            late.countdown -= 1
            if late.countdown <= 0:
                due.append(late)
        for late in due:
            self._late.remove(late)
            statuses: list[int] = []

            async def note(message: Message, statuses: list[int] = statuses) -> None:
                if message["type"] == "http.response.start":
                    statuses.append(message["status"])

            self.advance_clock()
            await self.app(late.scope, _replay(late.body), note)
            await self.state.flush()
            logger.info("emulator: served late %s %s -> %s", late.method, late.path, statuses[:1])
            self.state.log_request(
                RequestRecord(late.method, late.path, "", statuses[0] if statuses else None, "late-served", time.time())
            )

    def _trickling(self, scope: Scope, send: Send) -> Send:
        closing = scope.get("extensions", {}).get(CLOSING_EXTENSION)
        pause = self.config.faults.trickle_seconds

        async def trickle(message: Message) -> None:
            if message["type"] != "http.response.body":
                await send(message)
                return
            body: bytes = message.get("body", b"")
            for index in range(len(body)):
                if closing is not None and closing():
                    return  # the client gave up
                await send({"type": "http.response.body", "body": body[index : index + 1], "more_body": True})
                await asyncio.sleep(pause)
            await send({"type": "http.response.body", "body": b"", "more_body": message.get("more_body", False)})

        return trickle

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
