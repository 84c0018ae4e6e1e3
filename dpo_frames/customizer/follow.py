"""Following a job or a deployment to its end, within a wall-clock deadline.

* :func:`wait_for_job` polls a job until it ends. A status read that fails (unreachable,
  429/5xx after retries, an answer without a recognised status) is tolerated up to
  ``max_consecutive_status_failures`` times in a row; then :class:`StatusUnreadableError`,
  a platform error, never a verdict on the job (it may well have completed). A failed or
  cancelled job raises :class:`JobFailedError` / :class:`JobCancelledError`; ``timeout``
  is a wall-clock deadline on the whole wait, status reads included
  (:class:`JobTimeoutError`, however slowly the platform answers).
* :func:`deploy_model` and :func:`wait_for_deployment` do the same for a deployment.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from dpo_frames.errors import (
    ConfigError,
    CustomizerError,
    DeadlineExceededError,
    DeploymentFailedError,
    DeploymentTimeoutError,
    JobCancelledError,
    JobFailedError,
    JobTimeoutError,
    NotFoundError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
    StatusUnreadableError,
    TransportError,
)

from .client import CustomizerClient
from .deployments import OnConflict
from .models import JobStatus, JobStatusDetails, ModelDeployment, NimDeployment
from .urls import validate_id

__all__ = ["deploy_model", "wait_for_deployment", "wait_for_job"]

logger = logging.getLogger("dpo_frames.customizer")

MonotonicFn = Callable[[], float]
S = TypeVar("S")
ProgressCallback = Callable[[S], Awaitable[None] | None]

# Status read failures that are worth another poll (everything else is raised at once).
_TRANSIENT = (TransportError, ServerError, RateLimitError, ResponseFormatError)


async def _notify(callback: ProgressCallback[Any] | None, value: Any) -> None:
    if callback is None:
        return
    result = callback(value)
    if inspect.isawaitable(result):
        await result


def _progress_text(status: JobStatusDetails) -> str:
    pct = f"{status.percentage_done:.1f}%" if status.percentage_done is not None else "?%"
    epochs = f", epochs {status.epochs_completed}" if status.epochs_completed is not None else ""
    return f"{status.status} {pct}{epochs}"


class _Deadline:
    """The wall-clock end of a wait (None: no end), read on ``clock``."""

    def __init__(self, timeout: float | None, clock: MonotonicFn) -> None:
        self.timeout = timeout
        self.clock = clock
        self.ends_at = None if timeout is None else clock() + timeout

    def remaining(self) -> float | None:
        return None if self.ends_at is None else self.ends_at - self.clock()

    def passed(self) -> bool:
        left = self.remaining()
        return left is not None and left <= 0

    def call_deadline(self, client: CustomizerClient) -> float | None:
        """The deadline to give one status read: what is left of the wait, at most the usual one."""
        left = self.remaining()
        return None if left is None else max(0.0, min(left, client.settings.call_deadline_seconds))

    def sleep_for(self, poll_interval: float) -> float:
        left = self.remaining()
        return poll_interval if left is None else max(0.0, min(poll_interval, left))


async def _bounded(call: Awaitable[S], seconds: float | None, ident: str) -> S:
    """Await ``call`` for at most ``seconds`` (None: as long as it takes)."""
    if seconds is None:
        return await call
    limit = asyncio.timeout(seconds)
    try:
        async with limit:
            return await call
    except TimeoutError:
        if not limit.expired():
            raise
        raise DeadlineExceededError("deployment", f"status of {ident}", f"no answer within {seconds:g}s", 1) from None


def _unreadable(what: str, ident: str, failures: int, exc: Exception, last: Any, where: str) -> StatusUnreadableError:
    return StatusUnreadableError(
        f"{what} {ident}: failed to read the {what.split()[-1]} status: status unreadable {failures} times in a row, "
        f"so its state is unknown (it may have completed: this is not a verdict); last error: {exc}{where}",
        job_id=ident,
        status=last,
        failures=failures,
    )


async def wait_for_job(
    client: CustomizerClient,
    job_id: str,
    *,
    poll_interval: float = 10.0,
    timeout: float | None = None,
    max_consecutive_status_failures: int = 3,
    on_progress: ProgressCallback[JobStatusDetails] | None = None,
    dataset_dir: str | Path | None = None,
    cancel_on_timeout: bool = False,
    clock: MonotonicFn = time.monotonic,
) -> JobStatusDetails:
    """Poll a job until it ends; return its final status when ``completed``.

    ``on_progress`` (sync or async) is called with every status read. A status read that
    fails transiently (unreachable, 429/5xx after retries, unparsable) is tolerated up to
    ``max_consecutive_status_failures`` times in a row; then :class:`StatusUnreadableError`
    (the job's state is unknown: a platform error, not a job failure).
    Raises :class:`JobFailedError` (with the service's status messages, e.g. which dataset
    file and line is bad), :class:`JobCancelledError`, or :class:`JobTimeoutError` once
    ``timeout`` seconds have passed on ``clock``, status reads included (the job is
    cancelled first when ``cancel_on_timeout``).
    """
    if max_consecutive_status_failures < 1:
        raise ConfigError("max_consecutive_status_failures must be >= 1")
    validate_id(job_id, "job id")
    where = f"; local dataset files are kept in {dataset_dir}" if dataset_dir else ""
    deadline = _Deadline(timeout, clock)
    failures = 0
    last: JobStatusDetails | None = None
    last_text = None
    cut_short = False
    while not deadline.passed():
        try:
            status = await client.jobs.status(job_id, deadline=deadline.call_deadline(client))
        except DeadlineExceededError as exc:
            if deadline.passed():
                cut_short = True
                break
            failures = _count_failure("customizer job", job_id, failures, max_consecutive_status_failures, exc)
            if failures >= max_consecutive_status_failures:
                raise _unreadable("customizer job", job_id, failures, exc, last, where) from exc
        except _TRANSIENT as exc:
            failures = _count_failure("customizer job", job_id, failures, max_consecutive_status_failures, exc)
            if failures >= max_consecutive_status_failures:
                raise _unreadable("customizer job", job_id, failures, exc, last, where) from exc
        else:
            failures = 0
            last = status
            text = _progress_text(status)
            if text != last_text:
                logger.info("customizer job %s: %s", job_id, text)
                last_text = text
            await _notify(on_progress, status)
            _raise_if_ended(job_id, status, where)
            if status.state is JobStatus.COMPLETED:
                return status
        if deadline.passed():
            break
        await client.sleep(deadline.sleep_for(poll_interval))
    raise await _job_timeout(client, job_id, deadline, last, cut_short, cancel_on_timeout, where)


def _count_failure(what: str, ident: str, failures: int, limit: int, exc: Exception) -> int:
    failures += 1
    if failures < limit:
        logger.warning("%s %s: status read failed (%d/%d): %s", what, ident, failures, limit, exc)
    return failures


def _raise_if_ended(job_id: str, status: JobStatusDetails, where: str) -> None:
    state = status.state
    if state is JobStatus.FAILED:
        detail = status.last_messages() or "no detail given"
        raise JobFailedError(
            f"customizer job {job_id} failed at {_progress_text(status)}: {detail}{where}",
            job_id=job_id,
            status=status,
        )
    if state is JobStatus.CANCELLED:
        detail = status.last_messages() or "no detail given"
        raise JobCancelledError(
            f"customizer job {job_id} was cancelled at {_progress_text(status)}: {detail}{where}",
            job_id=job_id,
            status=status,
        )


async def _job_timeout(
    client: CustomizerClient,
    job_id: str,
    deadline: _Deadline,
    last: JobStatusDetails | None,
    cut_short: bool,
    cancel_on_timeout: bool,
    where: str,
) -> JobTimeoutError:
    if cancel_on_timeout:
        try:
            await client.jobs.cancel(job_id)
        except CustomizerError as exc:  # report the timeout, mention the failed cancel
            logger.warning("customizer job %s: cancel after timeout failed: %s", job_id, exc)
    state_text = _progress_text(last) if last else "unknown status"
    read = "; the last status read did not answer in time" if cut_short else ""
    return JobTimeoutError(
        f"customizer job {job_id} did not finish within {deadline.timeout:g}s (last: {state_text}){read}"
        f"{'; cancel requested' if cancel_on_timeout else '; it may still be running'}{where}",
        job_id=job_id,
        status=last,
    )


# --- deployment ----------------------------------------------------------------------


async def deploy_model(
    client: CustomizerClient,
    *,
    namespace: str,
    model: str,
    deployment_name: str,
    config_name: str | None = None,
    nim: NimDeployment | Mapping[str, Any] | None = None,
    description: str | None = None,
    on_conflict: OnConflict = "fail",
) -> ModelDeployment:
    """Create (or find) a deployment config for ``model`` and a model deployment using it.

    A deployment of that name that serves another model is not reused: ``on_conflict``
    (:meth:`~dpo_frames.customizer.deployments.DeploymentApi.create`) fails, updates or replaces it."""
    config_name = config_name or f"{deployment_name}-config"
    for value, what in ((namespace, "namespace"), (deployment_name, "deployment name"), (config_name, "config name")):
        validate_id(value, what)
    nim = nim if nim is not None else NimDeployment(image_name="nvcr.io/nim/meta/llama-3.2-1b-instruct")
    logger.info("deploying model %s as %s/%s", model, namespace, deployment_name)
    dep_config = await client.deployments.create_config(
        name=config_name, namespace=namespace, model=model, nim_deployment=nim, description=description
    )
    return await client.deployments.create(
        name=deployment_name,
        namespace=namespace,
        config=f"{dep_config.namespace or namespace}/{dep_config.name}",
        description=description,
        on_conflict=on_conflict,
    )


async def wait_for_deployment(
    client: CustomizerClient,
    namespace: str,
    name: str,
    *,
    poll_interval: float = 10.0,
    timeout: float | None = 1800.0,
    max_consecutive_status_failures: int = 3,
    on_progress: ProgressCallback[ModelDeployment] | None = None,
    clock: MonotonicFn = time.monotonic,
) -> ModelDeployment:
    """Poll a model deployment until ``ready`` (returned) or failed
    (:class:`DeploymentFailedError`) or ``timeout`` (:class:`DeploymentTimeoutError`, a
    wall-clock deadline, status reads included). Status unreadable
    ``max_consecutive_status_failures`` times in a row: :class:`StatusUnreadableError`."""
    validate_id(namespace, "namespace")
    validate_id(name, "deployment name")
    ident = f"{namespace}/{name}"
    deadline = _Deadline(timeout, clock)
    failures = 0
    last: ModelDeployment | None = None
    last_status = None
    while not deadline.passed():
        try:
            deployment = await _bounded(client.deployments.get(namespace, name), deadline.call_deadline(client), ident)
        except (*_TRANSIENT, NotFoundError) as exc:
            # A just-created deployment may not be listed yet: 404 counts as transient here.
            if isinstance(exc, DeadlineExceededError) and deadline.passed():
                break
            failures = _count_failure("deployment", ident, failures, max_consecutive_status_failures, exc)
            if failures >= max_consecutive_status_failures:
                raise _unreadable("deployment", ident, failures, exc, last, "") from exc
        else:
            failures = 0
            last = deployment
            details = deployment.status_details
            if details.status != last_status:
                logger.info("deployment %s: %s %s", ident, details.status, details.description or "")
                last_status = details.status
            await _notify(on_progress, deployment)
            if details.state is JobStatus.READY:
                return deployment
            if details.state in (JobStatus.FAILED, JobStatus.CANCELLED) or details.status.lower() == "error":
                raise DeploymentFailedError(
                    f"deployment {ident} ended {details.status}: {details.description or 'no detail given'}",
                    namespace=namespace,
                    name=name,
                    status=deployment,
                )
        if deadline.passed():
            break
        await client.sleep(deadline.sleep_for(poll_interval))
    raise DeploymentTimeoutError(
        f"deployment {ident} not ready within {deadline.timeout:g}s "
        f"(last status: {last.status_details.status if last else 'unknown'})",
        namespace=namespace,
        name=name,
        status=last,
    )
