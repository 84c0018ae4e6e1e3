"""One service's HTTP plumbing: auth header, retries (tenacity), error mapping, logging.

Every API module sends its requests through :meth:`ServiceHttp.request`, so retry and
error behaviour is defined once:

* retried: connection errors and timeouts, HTTP 429 and 500/502/503/504, with exponential
  backoff and jitter, or the server's ``Retry-After`` (seconds or HTTP-date) when given;
* calls that are not idempotent (``idempotent=False``, e.g. creating a job) are retried
  only when the request certainly did not take effect: the connection could not be
  opened, or the server answered 429 or 503;
* a final non-2xx answer becomes the matching :class:`~.errors.ApiError` subclass, a final
  connection failure a :class:`~.errors.TransportError`;
* the bearer token is added per request (never as a client default, so it is not sent to
  a third-party upload URL) and redacted from every message.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
import tenacity
from pydantic import BaseModel, SecretStr
from pydantic import ValidationError as PydanticValidationError

from dpo_frames.errors import ApiError, ResponseFormatError, TransportError

from .models import ServiceHealth
from .settings import RetryPolicy

__all__ = ["ClockFn", "ServiceHttp", "SleepFn", "backoff_wait", "parse_retry_after"]

logger = logging.getLogger("dpo_frames.customizer")

BODY_EXCERPT_CHARS = 500
REDACTED = "***"


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each secret in ``text`` with ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


SleepFn = Callable[[float], Awaitable[None]]
ClockFn = Callable[[], datetime]
ContentFactory = Callable[[], AsyncIterator[bytes] | bytes]
M = TypeVar("M", bound=BaseModel)

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
# Answers that mean "the request was not processed": safe to repeat any call.
NOT_PROCESSED_STATUS = frozenset({429, 503})
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
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class _RetryableStatus(Exception):
    """Internal: a retryable HTTP answer, raised inside the retry loop."""

    def __init__(self, response: httpx.Response, retry_after: float | None) -> None:
        self.response = response
        self.retry_after = retry_after
        super().__init__(f"HTTP {response.status_code}")


def backoff_wait(policy: RetryPolicy) -> tenacity.wait.wait_base:
    """``min(backoff_max, backoff_base * 2**n) + uniform(0, jitter)`` as a tenacity wait."""
    return tenacity.wait_exponential(multiplier=policy.backoff_base, max=policy.backoff_max) + tenacity.wait_random(
        0, policy.jitter
    )


class _Wait(tenacity.wait.wait_base):
    """Server-requested ``Retry-After`` when present, else exponential backoff with jitter."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy
        self._backoff = backoff_wait(policy)

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, _RetryableStatus) and exc.retry_after is not None:
            return min(exc.retry_after, self._policy.retry_after_max)
        return float(self._backoff(retry_state))


class ServiceHttp:
    """Requests to one service (one base URL) with retries and error mapping."""

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
    ) -> None:
        self.service = service
        self.base_url = base_url.rstrip("/")
        self._client = client
        self._token = token
        self._retry = retry
        self._secrets = secrets
        self._sleep = sleep
        self._clock = clock or _utcnow

    def __repr__(self) -> str:
        return f"ServiceHttp(service={self.service!r}, base_url={self.base_url!r})"

    def url(self, path: str) -> str:
        """Absolute URL of ``path`` on this service."""
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"

    def _headers(self, headers: Mapping[str, str] | None, auth: bool) -> dict[str, str]:
        out = dict(headers or {})
        if auth and self._token is not None:
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
        except ValueError:
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
    ) -> httpx.Response:
        """Send a request with retries; return the (read) response.

        ``content`` is a factory, called once per attempt, so a streamed body can be
        re-sent. Answers whose status is in ``accept_status`` are returned instead of
        raised (e.g. 409 for "already exists").

        Raises :class:`ApiError` (subclass by status) or :class:`TransportError`.
        """
        url = self.url(path)
        # Only the path names the call: a query may carry a pre-signed upload ticket.
        shown_path = httpx.URL(url).path
        label = f"{call} ({method} {shown_path})"
        send_headers = self._headers(headers, auth)
        attempts = 0

        def should_retry(exc: BaseException) -> bool:
            if isinstance(exc, _RetryableStatus):
                return idempotent or exc.response.status_code in NOT_PROCESSED_STATUS
            if isinstance(exc, _RETRYABLE_ERRORS):
                return idempotent or isinstance(exc, _NOT_SENT_ERRORS)
            return False

        async def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            what = (
                f"HTTP {exc.response.status_code}"
                if isinstance(exc, _RetryableStatus)
                else self._redact(f"{type(exc).__name__}: {exc}")
            )
            wait = state.next_action.sleep if state.next_action else 0.0
            logger.warning(
                "%s %s: %s; retrying in %.2fs (attempt %d/%d)",
                self.service,
                call,
                what,
                wait,
                state.attempt_number + 1,
                self._retry.attempts,
            )

        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(self._retry.attempts),
            wait=_Wait(self._retry),
            retry=tenacity.retry_if_exception(should_retry),
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )

        async def attempt() -> httpx.Response:
            nonlocal attempts
            attempts += 1
            body: Any = content() if content is not None else None
            started = time.perf_counter()
            response = await self._client.request(
                method,
                url,
                params=params,
                json=json_body,
                data=data,
                content=body,
                headers=send_headers,
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
            await response.aread()
            logger.debug(
                "%s %s %s -> %d in %.0f ms",
                self.service,
                method,
                shown_path,
                response.status_code,
                (time.perf_counter() - started) * 1000,
            )
            if response.status_code in RETRYABLE_STATUS and response.status_code not in accept_status:
                retry_after = parse_retry_after(response.headers.get("Retry-After"), self._clock())
                raise _RetryableStatus(response, retry_after)
            return response

        try:
            response: httpx.Response = await retrying(attempt)
        except _RetryableStatus as exc:
            response = exc.response
        except httpx.TransportError as exc:
            detail = self._redact(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
            raise TransportError(self.service, label, detail, attempts) from None

        if response.is_success or response.status_code in accept_status:
            return response
        raise ApiError.for_status(self.service, label, response.status_code, self.excerpt(response), attempts=attempts)

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
        try:
            response = await self._client.get(
                url, params=params, headers=self._headers(None, auth=True), timeout=timeout
            )
            await response.aread()
        except httpx.HTTPError as exc:
            return ServiceHealth(
                service=self.service,
                url=url,
                ok=False,
                latency_ms=(time.perf_counter() - started) * 1000,
                error=self._redact(f"{type(exc).__name__}: {exc}"),
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
        except (ValueError, PydanticValidationError) as exc:
            detail = self._redact(f"{type(exc).__name__}: {str(exc)[:BODY_EXCERPT_CHARS]}")
            raise ResponseFormatError(self.service, call, detail) from None

    def parse_json(self, response: httpx.Response, call: str) -> Any:
        """The JSON of an answer or :class:`ResponseFormatError`."""
        try:
            return response.json()
        except ValueError:
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
