"""The whole trip of a dataset: upload, register, train, follow, deploy.

:func:`submit_dataset_job` makes one job per run id, whatever happens on the way:

* the job carries a deterministic idempotency key, derived from the namespace and the run
  id (:func:`idempotency_key`): as its ``name`` (unique in a namespace, so the platform
  itself refuses a second job of that name with 409) and in ``custom_fields`` (with the run
  id and a fingerprint of the data), where a look-up finds it;
* the jobs of the run are looked up before every create and after every answer that leaves
  it open whether the job was made: a lost answer, a 429 or 5xx (a gateway may answer so
  after the service created the job), an answer that is not a job. A 409 on the name means
  the job exists: it is looked up and used;
* concurrent submissions of one run id in one process wait for each other (a lock), so the
  second finds the first's job;
* should a platform still hold two live jobs of the run (one that does not enforce unique
  names, and creates a job late), all but the oldest are cancelled.

Uploads skip files the repository already holds unchanged, and are verified after the
commit (:mod:`.datastore`). :func:`wait_for_job`, :func:`deploy_model` and
:func:`wait_for_deployment` live in :mod:`.follow` and are re-exported here.

Local dataset files are never deleted; when a step fails the error message says where
they are.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import threading
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dpo_frames.errors import (
    ConfigError,
    ConflictError,
    CustomizerError,
    LocalDatasetError,
    RateLimitError,
    ResponseFormatError,
    RunConflictError,
    ServerError,
    TransportError,
)
from dpo_frames.layout import CUSTOMIZER_FILES
from dpo_frames.schema import TRAIN, VALIDATION

from .client import CustomizerClient
from .files import FileDigest, digest_file
from .follow import deploy_model, wait_for_deployment, wait_for_job
from .models import CustomizationJob, DatasetRef, Hyperparameters, JobRef, JobStatus
from .transport import backoff_delay
from .urls import validate_id

__all__ = [
    "DATA_FINGERPRINT_FIELD",
    "IDEMPOTENCY_KEY_FIELD",
    "RUN_ID_FIELD",
    "TRAINING_FILE",
    "VALIDATION_FILE",
    "deploy_model",
    "find_job_for_run",
    "idempotency_key",
    "submit_dataset_job",
    "wait_for_deployment",
    "wait_for_job",
]

logger = logging.getLogger("dpo_frames.customizer")

TRAINING_FILE = str(CUSTOMIZER_FILES[TRAIN])
VALIDATION_FILE = str(CUSTOMIZER_FILES[VALIDATION])
RUN_ID_FIELD = "dpo_frames_run_id"
DATA_FINGERPRINT_FIELD = "dpo_frames_data_sha256"
IDEMPOTENCY_KEY_FIELD = "dpo_frames_idempotency_key"

_DEAD = (JobStatus.FAILED, JobStatus.CANCELLED)
# Failures of a create that leave it open whether the job was made.
_AMBIGUOUS = (TransportError, ServerError, RateLimitError, ResponseFormatError)


def idempotency_key(namespace: str, run_id: str) -> str:
    """The key of the job of ``run_id`` in ``namespace``: the same on every machine and every try.

    >>> idempotency_key("team", "run-1")
    'dpo-frames-833c72945b537487ff87e309'
    """
    digest = hashlib.sha256(f"dpo_frames\0{namespace}\0{run_id}".encode()).hexdigest()
    return f"dpo-frames-{digest[:24]}"


def _job_name(key: str, generation: int, job_name: str | None) -> str:
    """The name of the run's job number ``generation`` (0 first; later ones after failed jobs)."""
    base = job_name or key
    return base if generation == 0 else f"{base}-{generation + 1}"


# --- local files ---------------------------------------------------------------------


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


def _fingerprint(digests: Mapping[str, FileDigest]) -> str:
    return hashlib.sha256("".join(f"{p}:{d.sha256}\n" for p, d in sorted(digests.items())).encode()).hexdigest()


# --- finding the run's jobs -----------------------------------------------------------


def _job_matches(job: CustomizationJob, run_id: str, namespace: str) -> bool:
    if job.namespace not in (None, namespace):
        return False
    fields = job.custom_fields or {}
    key = fields.get(IDEMPOTENCY_KEY_FIELD)
    if key is not None:
        return str(key) == idempotency_key(namespace, run_id)
    return str(fields.get(RUN_ID_FIELD)) == run_id  # a job submitted by dpo_frames 0.1


def _age(job: CustomizationJob) -> tuple[float, str]:
    return (job.created_at.timestamp() if job.created_at else float("-inf"), job.id)


async def find_job_for_run(client: CustomizerClient, *, run_id: str, namespace: str) -> list[CustomizationJob]:
    """Every job of ``run_id`` in ``namespace`` (by its idempotency key), oldest first."""
    validate_id(namespace, "namespace")
    params = {"filter[namespace]": namespace}
    found = [job async for job in client.jobs.iter_jobs(params=params) if _job_matches(job, run_id, namespace)]
    return sorted(found, key=_age)


def _live(jobs: list[CustomizationJob]) -> list[CustomizationJob]:
    return [job for job in jobs if job.state not in _DEAD]


def _check_fingerprint(job: CustomizationJob, run_id: str, fingerprint: str) -> None:
    theirs = (job.custom_fields or {}).get(DATA_FINGERPRINT_FIELD)
    if theirs is not None and theirs != fingerprint:
        raise RunConflictError(
            f"run {run_id!r} already has job {job.id} (status {job.status}) trained on different "
            f"dataset files (fingerprint {str(theirs)[:12]}, local {fingerprint[:12]}); "
            "use a new run id, or cancel that job"
        )


async def _reusable_job(
    client: CustomizerClient, run_id: str, namespace: str, fingerprint: str, reuse_failed: bool
) -> CustomizationJob | None:
    jobs = await find_job_for_run(client, run_id=run_id, namespace=namespace)
    for job in reversed(jobs):
        if job.state in _DEAD and not reuse_failed:
            logger.info("run %s: earlier job %s ended %s; submitting a new one", run_id, job.id, job.status)
            continue
        _check_fingerprint(job, run_id, fingerprint)
        return job
    return None


# --- one lock per run id in this process ----------------------------------------------

_RUN_LOCKS: weakref.WeakValueDictionary[tuple[Any, ...], asyncio.Lock] = weakref.WeakValueDictionary()
_RUN_LOCKS_GUARD = threading.Lock()


def _run_lock(client: CustomizerClient, namespace: str, run_id: str) -> asyncio.Lock:
    """The lock of one run id on one platform, for the running event loop."""
    key = (id(asyncio.get_running_loop()), client.settings.customizer_url, namespace, run_id)
    with _RUN_LOCKS_GUARD:
        lock = _RUN_LOCKS.get(key)
        if lock is None:
            lock = _RUN_LOCKS[key] = asyncio.Lock()
        return lock


# --- creating the job once -------------------------------------------------------------


def _retry_wait(client: CustomizerClient, exc: Exception, attempt: int, rng: random.Random) -> float:
    policy = client.settings.retry
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, (int, float)):
        return min(float(retry_after), policy.retry_after_max)
    return backoff_delay(policy, attempt, rng)


async def _create_job_once(
    client: CustomizerClient,
    body: dict[str, Any],
    *,
    run_id: str,
    namespace: str,
    fingerprint: str,
    job_name: str | None,
) -> tuple[CustomizationJob, bool]:
    """Create the run's job unless it exists; ``(job, found)``.

    Before each create the run's jobs are looked up (a live one is used); an answer that
    leaves it open whether the job was made is followed by a wait and the same look-up,
    never by a blind second create. The name is the idempotency key, so a platform that
    created the job anyway answers the next create with 409.
    """
    key = idempotency_key(namespace, run_id)
    attempts = client.settings.retry.attempts
    rng = random.Random()
    for attempt in range(1, attempts + 1):
        jobs = await find_job_for_run(client, run_id=run_id, namespace=namespace)
        live = _live(jobs)
        if live:
            _check_fingerprint(live[0], run_id, fingerprint)
            if attempt > 1:
                logger.info("run %s: job %s was created by an earlier request; using it", run_id, live[0].id)
            return live[0], True
        name = _job_name(key, len(jobs), job_name)
        try:
            job = await client.jobs.create(**{**body, "name": name})
        except ConflictError as exc:
            found = _live(await find_job_for_run(client, run_id=run_id, namespace=namespace))
            if found:
                logger.info("run %s: job %s exists (name %s taken); using it", run_id, found[0].id, name)
                return found[0], True
            exc.add_context(
                f"the job name {name!r} is taken in namespace {namespace!r} by a job that is not a live job of "
                f"run {run_id!r}; use another run id or job name"
            )
            raise
        except _AMBIGUOUS as exc:
            if attempt == attempts:
                raise
            wait = _retry_wait(client, exc, attempt, rng)
            logger.warning(
                "run %s: job creation did not answer clearly (%s); looking the job up in %.2fs before any retry",
                run_id,
                exc,
                wait,
            )
            await client.sleep(wait)
            continue
        if (job.custom_fields or {}).get(IDEMPOTENCY_KEY_FIELD) not in (None, key):
            logger.warning("run %s: job %s does not carry the idempotency key it was sent", run_id, job.id)
        return job, False
    raise AssertionError("unreachable")  # pragma: no cover


async def _settle_duplicates(
    client: CustomizerClient, job: CustomizationJob, *, run_id: str, namespace: str, fingerprint: str
) -> CustomizationJob:
    """Keep the oldest live job of the run; cancel the other live ones with the same data."""
    live = _live(await find_job_for_run(client, run_id=run_id, namespace=namespace))
    if len(live) <= 1:
        return job
    keep = min(live, key=_age)
    for other in live:
        same_data = (other.custom_fields or {}).get(DATA_FINGERPRINT_FIELD) in (None, fingerprint)
        if other.id == keep.id or not same_data:
            continue
        logger.warning("run %s: job %s duplicates job %s; cancelling it", run_id, other.id, keep.id)
        try:
            await client.jobs.cancel(other.id)
        except CustomizerError as exc:
            logger.warning("run %s: cancelling duplicate job %s failed: %s", run_id, other.id, exc)
    return keep


# --- the whole submission ----------------------------------------------------------------


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
    validation files (unchanged files skipped, the stored files verified); register the
    dataset (``hf://datasets/{namespace}/{dataset_name}``); create the job.

    Idempotent: when a job for ``run_id`` exists (and did not fail, unless
    ``reuse_failed_job``), it is returned (``reused_job=True``) and nothing is submitted;
    see the module docstring for how a job is never made twice. The job is named by its
    idempotency key unless ``job_name`` is given (``-2``, ``-3``... after failed jobs).
    Raises :class:`RunConflictError` when that job was trained on different files.
    On failure the local files stay in ``dataset_dir`` and the message says so.
    """
    root = Path(dataset_dir)
    try:
        validate_id(namespace, "namespace")
        validate_id(dataset_name, "dataset name")
        if job_name is not None:
            validate_id(job_name, "job name")
        if not isinstance(run_id, str) or not run_id.strip():
            raise ConfigError(f"run id {run_id!r}: a submission needs a non-empty run id")
        async with _run_lock(client, namespace, run_id):
            return await _submit_locked(
                client,
                root,
                namespace=namespace,
                dataset_name=dataset_name,
                run_id=run_id,
                config=config,
                hyperparameters=hyperparameters,
                output_model=output_model,
                create_namespace_if_missing=create_namespace_if_missing,
                job_name=job_name,
                description=description,
                reuse_failed_job=reuse_failed_job,
            )
    except CustomizerError as exc:
        exc.add_context(f"local dataset files are kept in {root}")
        raise
    except OSError as exc:
        raise LocalDatasetError(f"cannot read dataset files in {root}: {exc}") from exc


async def _submit_locked(
    client: CustomizerClient,
    root: Path,
    *,
    namespace: str,
    dataset_name: str,
    run_id: str,
    config: str | Mapping[str, Any],
    hyperparameters: Hyperparameters | Mapping[str, Any],
    output_model: str | None,
    create_namespace_if_missing: bool,
    job_name: str | None,
    description: str | None,
    reuse_failed_job: bool,
) -> JobRef:
    ref = DatasetRef(namespace=namespace, name=dataset_name)
    files = _local_files(root)
    digests = {p: await digest_file(path) for p, path in files.items()}
    fingerprint = _fingerprint(digests)
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

    if existing is not None:
        job, reused = existing, True
        logger.info("run %s: job %s already submitted (status %s); not submitting again", run_id, job.id, job.status)
    else:
        body: dict[str, Any] = {
            "config": config,
            "dataset": {"name": dataset_name, "namespace": namespace},
            "hyperparameters": hyperparameters,
            "output_model": output_model,
            "namespace": namespace,
            "description": description or f"dpo_frames run {run_id}",
            "custom_fields": {
                RUN_ID_FIELD: run_id,
                DATA_FINGERPRINT_FIELD: fingerprint,
                IDEMPOTENCY_KEY_FIELD: idempotency_key(namespace, run_id),
            },
        }
        logger.info("run %s: submitting customization job (config %s)", run_id, config)
        job, reused = await _create_job_once(
            client, body, run_id=run_id, namespace=namespace, fingerprint=fingerprint, job_name=job_name
        )
        kept = await _settle_duplicates(client, job, run_id=run_id, namespace=namespace, fingerprint=fingerprint)
        reused = reused or kept.id != job.id
        job = kept
        logger.info("run %s: job %s submitted, output model %s", run_id, job.id, job.output_model)

    return JobRef(
        job_id=job.id,
        run_id=run_id,
        dataset=ref,
        output_model=job.output_model or output_model,
        reused_job=reused,
        uploads=uploads,
        local_dir=str(root),
    )
