"""One service's HTTP plumbing: auth header, retries, deadlines, error mapping, logging.

Every API module sends its requests through :meth:`ServiceHttp.request`, so retry and
error behaviour is defined once:

* retried: connection errors and timeouts, HTTP 429 and 500/502/503/504, with exponential
  backoff and jitter, or the server's ``Retry-After`` (seconds or HTTP-date) when given;
* calls that are not idempotent (``idempotent=False``, e.g. creating a job) are retried
  only when the request certainly was not sent (the connection could not be opened). A 429
  or 503 may come from a gateway after the service did the work, so it is raised, and the
  caller decides (the flow looks the job up by its idempotency key before trying again);
* deadlines are wall-clock: each attempt is capped by ``request_deadline_seconds`` (a server
  that trickles a byte a second cannot hold it longer), the whole call, retries and waits
  included, by ``call_deadline_seconds`` (:class:`~dpo_frames.errors.DeadlineExceededError`);
* a final non-2xx answer becomes the matching :class:`~.errors.ApiError` subclass, a final
  connection failure a :class:`~.errors.TransportError`;
* the bearer token is added per request and only to the configured host (never to a host an
  answer names, nor to a pre-signed upload URL), and redacted from every message; query
  strings never reach a log line (:mod:`.urls`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
import tenacity
from pydantic import BaseModel, SecretStr
from pydantic import ValidationError as PydanticValidationError

from dpo_frames.errors import ApiError, ConfigError, DeadlineExceededError, ResponseFormatError, TransportError

from .models import ServiceHealth
from .settings import RetryPolicy
from .urls import install_log_redaction, redact_query, same_origin

__all__ = ["ClockFn", "ServiceHttp", "SleepFn", "backoff_delay", "backoff_wait", "parse_retry_after"]

logger = logging.getLogger("dpo_frames.customizer")
install_log_redaction("httpx", "httpcore", "dpo_frames.customizer")

BODY_EXCERPT_CHARS = 500
REDACTED = "***"


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each secret in ``text`` with ``***``, and every URL query string."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return redact_query(text)


SleepFn = Callable[[float], Awaitable[None]]
ClockFn = Callable[[], datetime]
ContentFactory = Callable[[], AsyncIterator[bytes] | bytes]
M = TypeVar("M", bound=BaseModel)

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
# Connection failures that happen before the request is sent.
_NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Network failures worth another try (not e.g. UnsupportedProtocol or a proxy misconfiguration).
_RETRYABLE_ERRORS = (httpx.NetworkError, httpx.TimeoutException, httpx.RemoteProtocolError)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), or None."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds and seconds != float("inf") else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def backoff_delay(policy: RetryPolicy, retry: int, rng: random.Random | None = None) -> float:
    """The wait before retry number ``retry`` (1 for the first):
    ``min(backoff_max, backoff_base * 2**(retry-1)) + uniform(0, jitter)``."""
    exponential = min(policy.backoff_max, policy.backoff_base * 2 ** min(retry - 1, 64))
    return exponential + (rng or random).uniform(0, policy.jitter)


def backoff_wait(policy: RetryPolicy) -> tenacity.wait.wait_base:
    """:func:`backoff_delay` as a tenacity wait."""
    return tenacity.wait_exponential(multiplier=policy.backoff_base, max=policy.backoff_max) + tenacity.wait_random(
        0, policy.jitter
    )


class _AttemptTimedOut(Exception):
    """Internal: one attempt outlived its wall-clock cap."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no complete answer within {seconds:.3g}s (wall-clock cap of one attempt)")


class _Outcome:
    """What one attempt gave: an answer (perhaps retryable) or a failure."""

    def __init__(self, response: httpx.Response | None = None, error: BaseException | None = None) -> None:
        self.response = response
        self.error = error


def _relative_path_problem(path: str) -> str | None:
    raw = path.split("?", 1)[0].split("#", 1)[0]
    if any(part in (".", "..") for part in raw.split("/")):
        return "a '.' or '..' segment"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in raw):
        return "a control character"
    return None


class ServiceHttp:
    """Requests to one service (one base URL) with retries, deadlines and error mapping."""

    def __init__(
        self,
        service: str,
        client: httpx.AsyncClient,
        *,
        base_url: str,
        token: SecretStr | None,
        retry: RetryPolicy,
        secrets: list[str],
        sleep: SleepFn,
        clock: ClockFn | None = None,
        attempt_deadline: float = 120.0,
        call_deadline: float = 600.0,
    ) -> None:
        self.service = service
        self.base_url = base_url.rstrip("/")
        self._client = client
        self._token = token
        self._retry = retry
        self._secrets = secrets
        self._sleep = sleep
        self._clock = clock or _utcnow
        self.attempt_deadline = attempt_deadline
        """Wall-clock cap of one attempt, seconds."""
        self.call_deadline = call_deadline
        """Wall-clock cap of one call (attempts and waits), seconds."""

    def __repr__(self) -> str:
        return f"ServiceHttp(service={self.service!r}, base_url={self.base_url!r})"

    def url(self, path: str) -> str:
        """Absolute URL of ``path`` on this service (an absolute URL is kept as it is)."""
        if path.startswith(("http://", "https://")):
            return path
        problem = _relative_path_problem(path)
        if problem:
            raise ConfigError(f"{self.service}: refusing to request {path[:120]!r}: the path has {problem}")
        return f"{self.base_url}{path}"

    def on_service_host(self, url: str | httpx.URL) -> bool:
        """Whether ``url`` is on this service's configured host (only those get the token)."""
        return same_origin(url, self.base_url)

    def _headers(self, headers: Mapping[str, str] | None, auth: bool, url: str) -> dict[str, str]:
        out = dict(headers or {})
        if auth and self._token is not None and self.on_service_host(url):
            out["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        return out

    def excerpt(self, response: httpx.Response) -> str:
        """A short, redacted description of an answer body (``detail`` when JSON)."""
        try:
            text = response.text
        except (httpx.ResponseNotRead, UnicodeDecodeError):  # pragma: no cover - defensive
            text = ""
        try:
            payload = json.loads(text) if text else None
        except (ValueError, RecursionError):
            payload = None
        if isinstance(payload, dict) and "detail" in payload:
            detail = payload["detail"]
            text = detail if isinstance(detail, str) else json.dumps(detail, separators=(",", ":"))
        text = " ".join(text.split())
        if len(text) > BODY_EXCERPT_CHARS:
            text = text[:BODY_EXCERPT_CHARS] + "..."
        return redact(text, self._secrets)

    def _redact(self, text: str) -> str:
        return redact(text, self._secrets)

    async def request(
        self,
        method: str,
        path: str,
        *,
        call: str,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        data: Mapping[str, str] | None = None,
        content: ContentFactory | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
        auth: bool = True,
        timeout: httpx.Timeout | float | None = None,
        accept_status: frozenset[int] = frozenset(),
        deadline: float | None = None,
        attempt_deadline: float | None = None,
    ) -> httpx.Response:
        """Send a request with retries; return the (read) response.

        ``content`` is a factory, called once per attempt, so a streamed body can be
        re-sent. Answers whose status is in ``accept_status`` are returned instead of
        raised (e.g. 409 for "already exists"). ``deadline`` (seconds from now) caps the
        whole call, ``attempt_deadline`` each attempt (defaults: the client's settings).

        Raises :class:`ApiError` (subclass by status), :class:`TransportError` or
        :class:`DeadlineExceededError`.
        """
        url = self.url(path)
        # Only the path names the call: a query may carry a pre-signed upload ticket.
        label = f"{call} ({method} {httpx.URL(url).path})"
        send_headers = self._headers(headers, auth, url)
        call_seconds = self.call_deadline if deadline is None else deadline
        ends_at = time.monotonic() + call_seconds
        per_attempt = self.attempt_deadline if attempt_deadline is None else attempt_deadline
        rng = random.Random()
        attempts = 0
        while True:
            attempts += 1
            remaining = ends_at - time.monotonic()
            if remaining <= 0:
                raise DeadlineExceededError(
                    self.service, label, f"no answer within the call's deadline of {call_seconds:g}s", attempts - 1
                )
            cap = min(per_attempt, remaining)
            outcome = await self._attempt(method, url, params, json_body, data, content, send_headers, timeout, cap)
            if outcome.error is None:
                assert outcome.response is not None
                status = outcome.response.status_code
                if status not in RETRYABLE_STATUS or status in accept_status:
                    return self._final_answer(outcome.response, label, attempts, accept_status)
            if isinstance(outcome.error, _AttemptTimedOut) and cap < per_attempt:
                raise DeadlineExceededError(
                    self.service, label, f"no complete answer within the call's deadline of {call_seconds:g}s", attempts
                )
            wait = self._retry_wait(outcome, idempotent, attempts, rng)
            if wait is None or time.monotonic() + wait >= ends_at:
                raise self._failure(outcome, label, attempts)
            logger.warning(
                "%s %s: %s; retrying in %.2fs (attempt %d/%d)",
                self.service,
                call,
                self._describe(outcome),
                wait,
                attempts + 1,
                self._retry.attempts,
            )
            await self._sleep(wait)

    async def _attempt(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        json_body: Any,
        data: Mapping[str, str] | None,
        content: ContentFactory | None,
        headers: dict[str, str],
        timeout: httpx.Timeout | float | None,
        cap: float,
    ) -> _Outcome:
        body: Any = content() if content is not None else None
        started = time.perf_counter()
        limit = asyncio.timeout(cap)
        try:
            async with limit:
                response = await self._client.request(
                    method,
                    url,
                    params=params,
                    json=json_body,
                    data=data,
                    content=body,
                    headers=headers,
                    timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
                )
                await response.aread()
        except TimeoutError:
            if not limit.expired():
                raise
            return _Outcome(error=_AttemptTimedOut(cap))
        except httpx.TransportError as exc:
            return _Outcome(error=exc)
        logger.debug(
            "%s %s %s -> %d in %.0f ms",
            self.service,
            method,
            httpx.URL(url).path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        return _Outcome(response=response)

    def _retry_after(self, response: httpx.Response) -> float | None:
        return parse_retry_after(response.headers.get("Retry-After"), self._clock())

    def _retry_wait(self, outcome: _Outcome, idempotent: bool, attempts: int, rng: random.Random) -> float | None:
        """Seconds to wait before the next attempt, or None when this outcome is final."""
        if attempts >= self._retry.attempts:
            return None
        error = outcome.error
        if error is None:
            if not idempotent:  # a 429/5xx after sending: maybe done; the caller decides
                return None
            assert outcome.response is not None
            retry_after = self._retry_after(outcome.response)
            if retry_after is not None:
                return min(retry_after, self._retry.retry_after_max)
        elif isinstance(error, _AttemptTimedOut):
            if not idempotent:
                return None
        elif not isinstance(error, _RETRYABLE_ERRORS) or (not idempotent and not isinstance(error, _NOT_SENT_ERRORS)):
            return None
        return backoff_delay(self._retry, attempts, rng)

    def _describe(self, outcome: _Outcome) -> str:
        if outcome.error is None:
            assert outcome.response is not None
            return f"HTTP {outcome.response.status_code}"
        return self._redact(f"{type(outcome.error).__name__}: {outcome.error}")

    def _failure(self, outcome: _Outcome, label: str, attempts: int) -> Exception:
        if outcome.error is None:
            assert outcome.response is not None
            response = outcome.response
            return ApiError.for_status(
                self.service,
                label,
                response.status_code,
                self.excerpt(response),
                attempts=attempts,
                retry_after=self._retry_after(response),
            )
        error = outcome.error
        text = str(error)
        detail = self._redact(f"{type(error).__name__}: {text}" if text else type(error).__name__)
        if isinstance(error, _AttemptTimedOut):
            detail = self._redact(text)
        return TransportError(self.service, label, detail, attempts)

    def _final_answer(
        self, response: httpx.Response, label: str, attempts: int, accept_status: frozenset[int]
    ) -> httpx.Response:
        if response.is_success or response.status_code in accept_status:
            return response
        raise ApiError.for_status(
            self.service,
            label,
            response.status_code,
            self.excerpt(response),
            attempts=attempts,
            retry_after=self._retry_after(response),
        )

    async def probe(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        ok_status: frozenset[int] = frozenset(),
        timeout: float = 5.0,
    ) -> ServiceHealth:
        """One unretried GET; healthy when the answer is 2xx or in ``ok_status``."""
        url = self.url(path)
        started = time.perf_counter()
        error: str | None = None
        limit = asyncio.timeout(timeout)
        try:
            async with limit:
                response = await self._client.get(
                    url, params=params, headers=self._headers(None, True, url), timeout=timeout
                )
                await response.aread()
        except TimeoutError:
            if not limit.expired():
                raise
            error = f"no complete answer within {timeout:g}s"
        except httpx.HTTPError as exc:
            error = self._redact(f"{type(exc).__name__}: {exc}")
        if error is not None:
            return ServiceHealth(
                service=self.service,
                url=url,
                ok=False,
                latency_ms=(time.perf_counter() - started) * 1000,
                error=error,
            )
        latency = (time.perf_counter() - started) * 1000
        ok = response.is_success or response.status_code in ok_status
        return ServiceHealth(
            service=self.service,
            url=url,
            ok=ok,
            status_code=response.status_code,
            latency_ms=latency,
            error=None if ok else f"HTTP {response.status_code}: {self.excerpt(response)}",
        )

    def parse(self, model: type[M], response: httpx.Response, call: str) -> M:
        """Validate a JSON answer into ``model`` or raise :class:`ResponseFormatError`."""
        try:
            return model.model_validate(response.json())
        except (ValueError, RecursionError, PydanticValidationError) as exc:
            detail = self._redact(f"{type(exc).__name__}: {str(exc)[:BODY_EXCERPT_CHARS]}")
            raise ResponseFormatError(self.service, call, detail) from None

    def parse_json(self, response: httpx.Response, call: str) -> Any:
        """The JSON of an answer or :class:`ResponseFormatError`."""
        try:
            return response.json()
        except (ValueError, RecursionError):
            raise ResponseFormatError(self.service, call, f"not JSON: {self.excerpt(response)!r}") from None

    async def iter_pages(
        self,
        path: str,
        model: type[M],
        *,
        call: str,
        page_size: int = 100,
        params: Mapping[str, Any] | None = None,
        max_pages: int = 10_000,
    ) -> AsyncIterator[M]:
        """Yield every item of a paginated list endpoint (``?page=N&page_size=K``).

        Stops after the page the server reports as the last one (``total_pages``), or at
        the first empty or short page when the server gives no totals.
        """
        page = 1
        while page <= max_pages:
            query = {**(params or {}), "page": page, "page_size": page_size}
            response = await self.request("GET", path, call=call, params=query)
            payload = self.parse_json(response, call)
            if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
                raise ResponseFormatError(self.service, call, "list answer without a 'data' array")
            items = payload["data"]
            for raw in items:
                try:
                    yield model.model_validate(raw)
                except PydanticValidationError as exc:
                    raise ResponseFormatError(self.service, call, str(exc)[:BODY_EXCERPT_CHARS]) from None
            pagination = payload.get("pagination") or {}
            total_pages = pagination.get("total_pages")
            if not items:
                return
            if isinstance(total_pages, int):
                if page >= total_pages:
                    return
            elif len(items) < page_size:
                return
            page += 1


def drop_none(body: Mapping[str, Any]) -> dict[str, Any]:
    """A request body without its unset (None) fields."""
    return {k: v for k, v in body.items() if v is not None}
