"""The whole trip of a dataset: upload, register, train, follow, deploy.

* :func:`submit_dataset_job` is idempotent per run id: the job carries the run id (and a
  fingerprint of the data) in ``custom_fields``; a second call for the same run id finds
  that job instead of submitting another, and skips files already uploaded unchanged.
* :func:`wait_for_job` follows a job to its end, tolerating a number of consecutive status
  read failures, and raises :class:`JobFailedError` / :class:`JobCancelledError` /
  :class:`JobTimeoutError`.
* :func:`deploy_model` and :func:`wait_for_deployment` do the same for a deployment.

Local dataset files are never deleted; when a step fails the error message says where
they are.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import tenacity

from dpo_frames.errors import (
    ConfigError,
    CustomizerError,
    DeploymentFailedError,
    DeploymentTimeoutError,
    JobCancelledError,
    JobFailedError,
    JobStatusUnreadableError,
    JobTimeoutError,
    LocalDatasetError,
    NotFoundError,
    RateLimitError,
    ResponseFormatError,
    RunConflictError,
    ServerError,
    TransportError,
)
from dpo_frames.layout import CUSTOMIZER_FILES
from dpo_frames.schema import TRAIN, VALIDATION

from .client import CustomizerClient
from .deployments import OnConflict
from .files import digest_file
from .models import (
    CustomizationJob,
    DatasetRef,
    Hyperparameters,
    JobRef,
    JobStatus,
    JobStatusDetails,
    ModelDeployment,
    NimDeployment,
)
from .transport import backoff_wait

__all__ = [
    "RUN_ID_FIELD",
    "DATA_FINGERPRINT_FIELD",
    "TRAINING_FILE",
    "VALIDATION_FILE",
    "deploy_model",
    "find_job_for_run",
    "submit_dataset_job",
    "wait_for_deployment",
    "wait_for_job",
]

logger = logging.getLogger("dpo_frames.customizer")

TRAINING_FILE = str(CUSTOMIZER_FILES[TRAIN])
VALIDATION_FILE = str(CUSTOMIZER_FILES[VALIDATION])
RUN_ID_FIELD = "dpo_frames_run_id"
DATA_FINGERPRINT_FIELD = "dpo_frames_data_sha256"

MonotonicFn = Callable[[], float]
S = TypeVar("S")
ProgressCallback = Callable[[S], Awaitable[None] | None]

# Status read failures that are worth another poll (everything else is raised at once).
_TRANSIENT = (TransportError, ServerError, RateLimitError, ResponseFormatError)


# --- submission ----------------------------------------------------------------------


def _local_files(dataset_dir: Path) -> dict[str, Path]:
    """``{path_in_repo: local path}``; accepts the repo layout or the two files flat."""
    found: dict[str, Path] = {}
    missing: list[str] = []
    for in_repo in (TRAINING_FILE, VALIDATION_FILE):
        nested, flat = dataset_dir / in_repo, dataset_dir / Path(in_repo).name
        if nested.is_file():
            found[in_repo] = nested
        elif flat.is_file():
            found[in_repo] = flat
        else:
            missing.append(str(nested))
    if missing:
        raise LocalDatasetError(
            f"dataset files missing in {dataset_dir}: {', '.join(missing)} "
            f"(expected {TRAINING_FILE} and {VALIDATION_FILE}, or the two files directly in the directory)"
        )
    return found


def _job_matches(job: CustomizationJob, run_id: str, namespace: str) -> bool:
    fields = job.custom_fields or {}
    return str(fields.get(RUN_ID_FIELD)) == run_id and (job.namespace in (None, namespace))


async def find_job_for_run(client: CustomizerClient, *, run_id: str, namespace: str) -> list[CustomizationJob]:
    """Every job whose ``custom_fields`` carry ``run_id``, oldest first."""
    found = [job async for job in client.jobs.iter_jobs() if _job_matches(job, run_id, namespace)]
    return sorted(found, key=lambda job: job.created_at.timestamp() if job.created_at else float("-inf"))


async def _create_job_idempotently(
    client: CustomizerClient, body: dict[str, Any], *, run_id: str, namespace: str
) -> tuple[CustomizationJob, bool]:
    """Create the job; when the answer is lost (dropped connection, 5xx after sending), look
    for the job by run id before trying again, so a retry never makes a second job."""
    policy = client.settings.retry
    retrying = tenacity.AsyncRetrying(
        stop=tenacity.stop_after_attempt(policy.attempts),
        wait=backoff_wait(policy),
        # Only failures the transport did not retry itself (attempts == 1): those where the
        # request may have reached the server. The rest were already retried, safely.
        retry=tenacity.retry_if_exception(
            lambda exc: isinstance(exc, (TransportError, ServerError)) and exc.attempts == 1
        ),
        sleep=client.sleep,
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            if attempt.retry_state.attempt_number > 1:
                existing = await find_job_for_run(client, run_id=run_id, namespace=namespace)
                live = [j for j in existing if j.state not in (JobStatus.FAILED, JobStatus.CANCELLED)]
                if live:
                    logger.info("job %s for run %s was created by a lost request; using it", live[-1].id, run_id)
                    return live[-1], True
            return await client.jobs.create(**body), False
    raise AssertionError("unreachable")  # pragma: no cover


async def submit_dataset_job(
    client: CustomizerClient,
    *,
    dataset_dir: str | Path,
    namespace: str,
    dataset_name: str,
    run_id: str,
    config: str | Mapping[str, Any],
    hyperparameters: Hyperparameters | Mapping[str, Any],
    output_model: str | None = None,
    create_namespace_if_missing: bool = True,
    job_name: str | None = None,
    description: str | None = None,
    reuse_failed_job: bool = False,
) -> JobRef:
    """Upload ``dataset_dir`` and submit a customization job for ``run_id``, once.

    Steps: find an existing job for the run id; create the namespaces (Entity Store and
    Data Store) if asked; create the dataset repository; upload the training and
    validation files (unchanged files skipped); register the dataset
    (``hf://datasets/{namespace}/{dataset_name}``); create the job.

    Idempotent: when a job for ``run_id`` exists (and did not fail, unless
    ``reuse_failed_job``), it is returned (``reused_job=True``) and nothing is submitted.
    Raises :class:`RunConflictError` when that job was trained on different files.
    On failure the local files stay in ``dataset_dir`` and the message says so.
    """
    root = Path(dataset_dir)
    ref = DatasetRef(namespace=namespace, name=dataset_name)
    try:
        files = _local_files(root)
        digests = {p: await digest_file(path) for p, path in files.items()}
        fingerprint = hashlib.sha256(
            "".join(f"{p}:{d.sha256}\n" for p, d in sorted(digests.items())).encode()
        ).hexdigest()
        logger.info(
            "run %s: dataset %s (%s), %d bytes, fingerprint %s",
            run_id,
            root,
            ", ".join(f"{p}={d.size}B" for p, d in digests.items()),
            sum(d.size for d in digests.values()),
            fingerprint[:12],
        )

        existing = await _reusable_job(client, run_id, namespace, fingerprint, reuse_failed_job)

        if create_namespace_if_missing:
            logger.info("run %s: ensuring namespace %r exists", run_id, namespace)
            await client.entity.create_namespace(namespace, description=f"dpo_frames namespace {namespace}")
            await client.datastore.create_namespace(namespace)
        logger.info("run %s: ensuring dataset repository %s", run_id, ref.repo_id)
        await client.datastore.create_repo(namespace, dataset_name)
        uploads = await client.datastore.upload_files(
            digests, namespace=namespace, name=dataset_name, commit_message=f"dpo_frames dataset for run {run_id}"
        )
        logger.info("run %s: registering dataset %s", run_id, ref.files_url)
        await client.entity.create_dataset(
            namespace=namespace,
            name=dataset_name,
            files_url=ref.files_url,
            description=description or f"dpo_frames DPO dataset (run {run_id})",
        )

        reused = existing is not None
        if existing is not None:
            job = existing
            logger.info(
                "run %s: job %s already submitted (status %s); not submitting again", run_id, job.id, job.status
            )
        else:
            body: dict[str, Any] = {
                "config": config,
                "dataset": {"name": dataset_name, "namespace": namespace},
                "hyperparameters": hyperparameters,
                "output_model": output_model,
                "name": job_name,
                "namespace": namespace,
                "description": description or f"dpo_frames run {run_id}",
                "custom_fields": {RUN_ID_FIELD: run_id, DATA_FINGERPRINT_FIELD: fingerprint},
            }
            logger.info("run %s: submitting customization job (config %s)", run_id, config)
            job, reused = await _create_job_idempotently(client, body, run_id=run_id, namespace=namespace)
            logger.info("run %s: job %s submitted, output model %s", run_id, job.id, job.output_model)
    except CustomizerError as exc:
        exc.add_context(f"local dataset files are kept in {root}")
        raise
    except OSError as exc:
        raise LocalDatasetError(f"cannot read dataset files in {root}: {exc}") from exc

    return JobRef(
        job_id=job.id,
        run_id=run_id,
        dataset=ref,
        output_model=job.output_model or output_model,
        reused_job=reused,
        uploads=uploads,
        local_dir=str(root),
    )


async def _reusable_job(
    client: CustomizerClient, run_id: str, namespace: str, fingerprint: str, reuse_failed: bool
) -> CustomizationJob | None:
    jobs = await find_job_for_run(client, run_id=run_id, namespace=namespace)
    for job in reversed(jobs):
        if job.state in (JobStatus.FAILED, JobStatus.CANCELLED) and not reuse_failed:
            logger.info("run %s: earlier job %s ended %s; submitting a new one", run_id, job.id, job.status)
            continue
        theirs = (job.custom_fields or {}).get(DATA_FINGERPRINT_FIELD)
        if theirs is not None and theirs != fingerprint:
            raise RunConflictError(
                f"run {run_id!r} already has job {job.id} (status {job.status}) trained on different "
                f"dataset files (fingerprint {str(theirs)[:12]}, local {fingerprint[:12]}); "
                "use a new run id, or cancel that job"
            )
        return job
    return None


# --- following a job -----------------------------------------------------------------


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
    ``max_consecutive_status_failures`` times in a row; then :class:`JobStatusUnreadableError`
    (a :class:`JobFailedError`: no verdict on the job, which may still be running).
    Raises :class:`JobFailedError` (with the service's status messages, e.g. which dataset
    file and line is bad), :class:`JobCancelledError`, or :class:`JobTimeoutError` after
    ``timeout`` seconds (the job is cancelled first when ``cancel_on_timeout``).
    """
    if max_consecutive_status_failures < 1:
        raise ConfigError("max_consecutive_status_failures must be >= 1")
    where = f"; local dataset files are kept in {dataset_dir}" if dataset_dir else ""
    deadline = None if timeout is None else clock() + timeout
    failures = 0
    last: JobStatusDetails | None = None
    last_text = None
    while True:
        try:
            status = await client.jobs.status(job_id)
        except _TRANSIENT as exc:
            failures += 1
            if failures >= max_consecutive_status_failures:
                raise JobStatusUnreadableError(
                    f"customizer job {job_id}: status unreadable {failures} times in a row; last error: {exc}{where}",
                    job_id=job_id,
                    status=last,
                ) from exc
            logger.warning(
                "customizer job %s: status read failed (%d/%d): %s",
                job_id,
                failures,
                max_consecutive_status_failures,
                exc,
            )
        else:
            failures = 0
            last = status
            text = _progress_text(status)
            if text != last_text:
                logger.info("customizer job %s: %s", job_id, text)
                last_text = text
            await _notify(on_progress, status)
            state = status.state
            if state is JobStatus.COMPLETED:
                return status
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
        if deadline is not None and clock() >= deadline:
            if cancel_on_timeout:
                try:
                    await client.jobs.cancel(job_id)
                except CustomizerError as exc:  # report the timeout, mention the failed cancel
                    logger.warning("customizer job %s: cancel after timeout failed: %s", job_id, exc)
            state_text = _progress_text(last) if last else "unknown status"
            raise JobTimeoutError(
                f"customizer job {job_id} did not finish within {timeout:g}s (last: {state_text})"
                f"{'; cancel requested' if cancel_on_timeout else '; it may still be running'}{where}",
                job_id=job_id,
                status=last,
            )
        await client.sleep(poll_interval)


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
    (:class:`DeploymentFailedError`) or ``timeout`` (:class:`DeploymentTimeoutError`)."""
    deadline = None if timeout is None else clock() + timeout
    failures = 0
    last: ModelDeployment | None = None
    last_status = None
    while True:
        try:
            deployment = await client.deployments.get(namespace, name)
        except (*_TRANSIENT, NotFoundError) as exc:
            # A just-created deployment may not be listed yet: 404 counts as transient here.
            failures += 1
            if failures >= max_consecutive_status_failures:
                raise DeploymentFailedError(
                    f"deployment {namespace}/{name}: status unreadable {failures} times in a row; last error: {exc}",
                    namespace=namespace,
                    name=name,
                    status=last,
                ) from exc
            logger.warning("deployment %s/%s: status read failed (%d): %s", namespace, name, failures, exc)
        else:
            failures = 0
            last = deployment
            details = deployment.status_details
            if details.status != last_status:
                logger.info("deployment %s/%s: %s %s", namespace, name, details.status, details.description or "")
                last_status = details.status
            await _notify(on_progress, deployment)
            if details.state is JobStatus.READY:
                return deployment
            if details.state in (JobStatus.FAILED, JobStatus.CANCELLED) or details.status.lower() == "error":
                raise DeploymentFailedError(
                    f"deployment {namespace}/{name} ended {details.status}: {details.description or 'no detail given'}",
                    namespace=namespace,
                    name=name,
                    status=deployment,
                )
        if deadline is not None and clock() >= deadline:
            raise DeploymentTimeoutError(
                f"deployment {namespace}/{name} not ready within {timeout:g}s "
                f"(last status: {last.status_details.status if last else 'unknown'})",
                namespace=namespace,
                name=name,
                status=last,
            )
        await client.sleep(poll_interval)
