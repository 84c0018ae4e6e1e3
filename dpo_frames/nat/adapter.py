"""``_type: nemo_customizer_trainer_adapter``: dataset files -> NeMo Customizer job -> deployment.

Thin over the core (:func:`~dpo_frames.finalize_dataset`, the Customizer record format)
and the async client (:func:`~dpo_frames.customizer.submit_dataset_job`,
:func:`~dpo_frames.customizer.wait_for_job`, :func:`~dpo_frames.customizer.deploy_model`).
The JSONL files are written where the reference writes them,
``{dataset_output_dir}/{run_id}/training_file.jsonl`` and ``validation_file.jsonl`` (beside
them ``dataset.parquet`` and the directory's record), and stay there whatever happens;
every error about the upload or the job says where they are. In the dataset repository
they are ``training/training_file.jsonl`` and ``validation/validation_file.jsonl``, as
Customizer wants.

A job is found from a bare ``TrainingJobRef(run_id=...)``: the adapter remembers the job it
submitted for each run id, and after a restart finds the run's job on the platform (each
job carries its run id).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
from nat.data_models.finetuning import (
    FinetuneConfig,
    TrainingJobRef,
    TrainingJobStatus,
    TrainingStatusEnum,
    TrajectoryCollection,
)
from nat.finetuning.interfaces.trainer_adapter import TrainerAdapter
from pydantic import ValidationError

from dpo_frames import rundir
from dpo_frames._atomic import append_line, atomic_dir
from dpo_frames.customizer import (
    CustomizerClient,
    CustomizerError,
    CustomizerSettings,
    JobCancelledError,
    JobFailedError,
    JobStatusDetails,
    NimDeployment,
    deploy_model,
    find_job_for_run,
    submit_dataset_job,
    wait_for_deployment,
    wait_for_job,
)
from dpo_frames.dataset import DatasetStats, SftStats, build_sft, finalize_dataset, to_customizer_records
from dpo_frames.dataset.writers import checked_dataset, write_jsonl
from dpo_frames.errors import (
    ConflictError,
    EmptyDatasetError,
    NatPluginError,
    PlatformUnavailableError,
    StatusUnreadableError,
    TrainingJobError,
    TrainingStatusUnreadableError,
    UnknownJobError,
)
from dpo_frames.layout import DATASETS_DIR, REFERENCE_FILES
from dpo_frames.nat.config import API_TOKEN_ENV, NeMoCustomizerTrainerAdapterConfig
from dpo_frames.nat.convert import collection_to_pairs
from dpo_frames.nat.paths import check_outside_wiped_dir
from dpo_frames.nat.sft import SFT_FORMAT, check_not_empty, pairs_to_candidates, sft_hyperparameters, write_sft_dir
from dpo_frames.rundir import DatasetInfo, DirKind, RunRecord

__all__ = ["BACKEND", "NeMoCustomizerTrainerAdapter", "to_training_status"]

logger = logging.getLogger("dpo_frames.nat")

BACKEND = "nemo-customizer"

_STATUS_MAP = {
    "created": TrainingStatusEnum.PENDING,
    "pending": TrainingStatusEnum.PENDING,
    "running": TrainingStatusEnum.RUNNING,
    "cancelling": TrainingStatusEnum.RUNNING,
    "completed": TrainingStatusEnum.COMPLETED,
    "failed": TrainingStatusEnum.FAILED,
    "cancelled": TrainingStatusEnum.CANCELED,
    "canceled": TrainingStatusEnum.CANCELED,
}


def to_training_status(
    ref: TrainingJobRef,
    details: JobStatusDetails | None,
    *,
    message: str | None = None,
    status: TrainingStatusEnum | None = None,
) -> TrainingJobStatus:
    """NAT's view of a Customizer job status (an unknown platform status counts as running)."""
    meta = dict(ref.metadata or {})
    if details is None:
        return TrainingJobStatus(
            run_id=ref.run_id,
            backend=ref.backend,
            status=status or TrainingStatusEnum.FAILED,
            message=message,
            metadata=meta,
        )
    mapped = status or _STATUS_MAP.get(details.status.lower(), TrainingStatusEnum.RUNNING)
    text = f"Status: {details.status}"
    if details.epochs_completed is not None:
        text += f", Epochs: {details.epochs_completed}"
    meta.update(
        nemo_status=details.status,
        epochs_completed=details.epochs_completed,
        train_loss=details.train_loss,
        val_loss=details.val_loss,
    )
    return TrainingJobStatus(
        run_id=ref.run_id,
        backend=ref.backend,
        status=mapped,
        progress=details.percentage_done,
        message=message or text,
        metadata=meta,
    )


class NeMoCustomizerTrainerAdapter(TrainerAdapter):
    """Submits DPO datasets (``training_type: sft``: SFT datasets, see :mod:`dpo_frames.nat.sft`) to NeMo
    Customizer, follows the job, optionally deploys the model."""

    def __init__(self, adapter_config: NeMoCustomizerTrainerAdapterConfig) -> None:
        super().__init__(adapter_config)
        self.config: NeMoCustomizerTrainerAdapterConfig = adapter_config
        self._client: CustomizerClient | None = None
        self._jobs: dict[str, TrainingJobRef] = {}
        """The reference of the job submitted for each run id (what a bare ``TrainingJobRef`` resolves to)."""

    # --- connection ----------------------------------------------------------------------

    def settings(self) -> CustomizerSettings:
        """Client settings from the config (``api_token``, else env ``NEMO_API_TOKEN``)."""
        token = self.config.api_token or os.environ.get(API_TOKEN_ENV) or None
        try:
            return CustomizerSettings(
                entity_host=self.config.entity_host,
                datastore_host=self.config.datastore_host,
                token=token,
                hf_token=self.config.hf_token,
                retry=self.config.retry,
            )
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise NatPluginError(f"nemo_customizer_trainer_adapter: invalid platform settings: {problems}") from None

    @property
    def client(self) -> CustomizerClient:
        """The platform client (created on first use, closed by :meth:`aclose`)."""
        if self._client is None:
            self._client = CustomizerClient(self.settings())
        return self._client

    async def aclose(self) -> None:
        """Close the platform connections (the trainer calls this in its cleanup)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def initialize(self, run_config: FinetuneConfig) -> None:
        """Fail fast: check the services, then create the namespace if asked."""
        await super().initialize(run_config)
        rc = run_config.run_configuration
        if rc is not None:
            check_outside_wiped_dir(self.dataset_root(), rc.config_file, "the adapter's dataset_output_dir")
        report = await self.client.health()
        if not report.ok:
            raise PlatformUnavailableError(
                f"NeMo microservices platform not usable (entity_host {self.config.entity_host}, datastore_host "
                f"{self.config.datastore_host}):\n{report.summary()}"
            )
        if self.config.create_namespace_if_missing:
            await self.client.entity.create_namespace(
                self.config.namespace, description=f"NAT finetuning namespace {self.config.namespace}"
            )
            await self.client.datastore.create_namespace(self.config.namespace)
        logger.info(
            "nemo_customizer_trainer_adapter ready: %s (namespace %s)", self.config.entity_host, self.config.namespace
        )

    async def is_healthy(self) -> bool:
        """True when every platform service answers (one quick probe each)."""
        report = await self.client.health()
        if not report.ok:
            logger.warning("NeMo microservices platform unhealthy:\n%s", report.summary())
        return report.ok

    # --- submission ----------------------------------------------------------------------

    def dataset_root(self) -> Path:
        """``dataset_output_dir``, else ``{finetuning output_dir}/datasets``."""
        if self.config.dataset_output_dir:
            return Path(self.config.dataset_output_dir)
        if self.run_config is not None:
            return Path(self.run_config.output_dir) / DATASETS_DIR
        raise NatPluginError("nemo_customizer_trainer_adapter is not initialized and has no dataset_output_dir")

    def dataset_dir(self, run_id: str) -> Path:
        """Where the JSONL files of ``run_id`` are written (and kept)."""
        return self.dataset_root() / run_id

    async def submit(self, trajectories: TrajectoryCollection) -> TrainingJobRef:
        """Train on the ``DPOItem``s of a trajectory collection (any producer).

        The pairs are split train/validation by prompt (``validation_fraction``), written
        as Customizer JSONL, uploaded, registered and trained on; once per run id. With
        ``training_type: sft`` the candidates the pairs show (scores from their metadata) give
        the best of each turn as SFT records instead (:func:`~dpo_frames.nat.sft.pairs_to_candidates`).
        """
        pairs = await asyncio.to_thread(collection_to_pairs, trajectories)
        if self.training_type == "sft":
            candidates = await asyncio.to_thread(pairs_to_candidates, pairs)
            sft, sft_stats = await asyncio.to_thread(
                build_sft, candidates, deduplicate=False, validation_fraction=self.config.validation_fraction
            )
            return await self.submit_sft_dataset(sft, run_id=trajectories.run_id, sft_stats=sft_stats)
        dataset, stats = await asyncio.to_thread(
            finalize_dataset, pairs, deduplicate=False, validation_fraction=self.config.validation_fraction
        )
        return await self.submit_dataset(dataset, run_id=trajectories.run_id, dataset_stats=stats)

    @property
    def training_type(self) -> str:
        """``hyperparameters.training_type``: ``dpo`` (pairs) or ``sft`` (best-of-n records)."""
        return self.config.hyperparameters.training_type

    async def submit_sft_dataset(
        self, completions: pl.DataFrame, *, run_id: str, sft_stats: SftStats
    ) -> TrainingJobRef:
        """Write, upload and train (an ``sft`` job) on an SFT completions frame (:func:`~dpo_frames.build_sft`),
        once per ``run_id``; :class:`EmptyDatasetError` naming the SFT settings when it is empty."""
        check_not_empty(completions, run_id, sft_stats)
        completions = _both_splits(completions, run_id, "record")
        out = self.dataset_dir(run_id)
        paths = await asyncio.to_thread(
            write_sft_dir,
            completions,
            out,
            run_id=run_id,
            stats=sft_stats,
            use_full_message_history=self.config.use_full_message_history,
        )
        by_split = _by_split(completions)
        _log_written(run_id, "SFT dataset", out, by_split, "records")
        extra = {
            "recipe": "sft",
            "format": SFT_FORMAT,
            "train_records": by_split.get("train", 0),
            "validation_records": by_split.get("validation", 0),
            "dataset_stats": sft_stats.split.model_dump(),
            "sft_stats": sft_stats.model_dump(exclude={"split"}),
        }
        return await self._submit_dir(
            out,
            run_id,
            paths,
            hyperparameters=sft_hyperparameters(self.config.hyperparameters.model_dump()),
            description=f"NAT SFT training dataset for run {run_id}",
            extra=extra,
        )

    async def submit_dataset(
        self, dataset: pl.DataFrame, *, run_id: str, dataset_stats: DatasetStats | None = None
    ) -> TrainingJobRef:
        """Write, upload and train on a dataset frame (pairs + ``split``), once per ``run_id``."""
        if dataset.height == 0:
            raise EmptyDatasetError(
                f"No DPO items found for run {run_id}: the dataset has no pairs, nothing to train on"
            )
        dataset = _both_splits(dataset, run_id)
        out = self.dataset_dir(run_id)
        by_split = _by_split(dataset)
        stats = dataset_stats or DatasetStats(
            input_pairs=dataset.height,
            pairs=dataset.height,
            train_pairs=by_split.get("train", 0),
            validation_pairs=by_split.get("validation", 0),
        )
        paths = await asyncio.to_thread(self._write_dataset_dir, dataset, out, run_id, stats)
        _log_written(run_id, "dataset", out, by_split, "pairs")
        extra: dict[str, Any] = {
            "train_pairs": by_split.get("train", 0),
            "validation_pairs": by_split.get("validation", 0),
        }
        if dataset_stats is not None:
            extra["dataset_stats"] = dataset_stats.model_dump()
        return await self._submit_dir(
            out,
            run_id,
            paths,
            hyperparameters=self.config.hyperparameters.model_dump(),
            description=f"NAT DPO training dataset for run {run_id}",
            extra=extra,
        )

    async def _submit_dir(
        self,
        out: Path,
        run_id: str,
        paths: dict[str, Path],
        *,
        hyperparameters: dict[str, Any],
        description: str,
        extra: dict[str, Any],
    ) -> TrainingJobRef:
        """Upload the written directory, submit the job (once per run id), remember its reference."""
        job = await submit_dataset_job(
            self.client,
            dataset_dir=out,
            namespace=self.config.namespace,
            dataset_name=self.config.dataset_name,
            run_id=run_id,
            config=self.config.customization_config,
            hyperparameters=hyperparameters,
            create_namespace_if_missing=False,  # initialize() made the namespaces when asked to
            description=description,
        )
        metadata = {
            "job_id": job.job_id,
            "output_model": job.output_model,
            "dataset_name": self.config.dataset_name,
            "namespace": self.config.namespace,
            "dataset_dir": str(out),
            "reused_job": job.reused_job,
            "files": {split: str(path) for split, path in paths.items()},
            **extra,
        }
        logger.info("run %s: customization job %s submitted (output model %s)", run_id, job.job_id, job.output_model)
        ref = TrainingJobRef(run_id=run_id, backend=BACKEND, metadata=metadata)
        self._jobs[run_id] = ref
        return ref

    def _write_dataset_dir(self, dataset: pl.DataFrame, out: Path, run_id: str, stats: DatasetStats) -> dict[str, Path]:
        """The local dataset directory, as the reference lays it out (``training_file.jsonl`` and
        ``validation_file.jsonl``), with dataset.parquet and the directory's record (blocking)."""
        full_history = self.config.use_full_message_history
        frame = checked_dataset(dataset)
        records = to_customizer_records(frame, use_full_message_history=full_history)
        with atomic_dir(out) as tmp:
            for split, rel in REFERENCE_FILES.items():
                write_jsonl(records.filter(frame["split"] == split), tmp / rel)
            frames = rundir.write_frames(tmp, dataset=dataset)
            files = {split: rel.as_posix() for split, rel in REFERENCE_FILES.items()}
            run_ids = sorted({r for r in dataset["run_id"].unique().to_list() if r is not None})
            info = DatasetInfo(
                format="customizer", stats=stats, files=files, options={"use_full_message_history": full_history}
            )
            rundir.write_record(
                tmp,
                RunRecord(
                    kind=DirKind.DATASET,
                    producer="nemo_customizer_trainer_adapter",
                    run_ids=run_ids,
                    dataset=info,
                    frames=rundir.frame_entries(frames),
                    extra={"training_run_id": run_id},
                ),
            )
        return {split: out / rel for split, rel in files.items()}

    # --- following -----------------------------------------------------------------------

    async def resolve(self, ref: TrainingJobRef) -> TrainingJobRef:
        """``ref`` with its job's metadata: its own ``job_id``, else the job this adapter submitted for
        ``ref.run_id``, else the run's latest job on the platform (found by the run id every job
        carries: a restarted process follows the job it submitted before).

        Raises :class:`UnknownJobError` (a ``ValueError``, as the reference) when there is none.
        """
        meta = dict(ref.metadata or {})
        if meta.get("job_id"):
            return ref
        known = self._jobs.get(ref.run_id)
        if known is not None:
            return ref.model_copy(update={"metadata": {**(known.metadata or {}), **meta}})
        jobs = await find_job_for_run(self.client, run_id=ref.run_id, namespace=self.config.namespace)
        if not jobs:
            raise UnknownJobError(
                f"No training job found for run {ref.run_id}: the reference carries no job_id, this adapter "
                f"submitted none for it, and namespace {self.config.namespace} on {self.config.entity_host} has none"
            )
        job = jobs[-1]
        found = {"job_id": job.id, "output_model": job.output_model, "namespace": self.config.namespace}
        dataset_dir = self.dataset_dir(ref.run_id) if self.config.dataset_output_dir or self.run_config else None
        if dataset_dir is not None and dataset_dir.is_dir():
            found["dataset_dir"] = str(dataset_dir)
        logger.info("run %s: following job %s found on the platform", ref.run_id, job.id)
        resolved = ref.model_copy(update={"metadata": {**found, **meta}})
        self._jobs[ref.run_id] = resolved
        return resolved

    async def status(self, ref: TrainingJobRef) -> TrainingJobStatus:
        """The job's current status (``ref`` may be a bare run id: see :meth:`resolve`).

        Raises the client's error when the status cannot be read (not a FAILED status: an
        unreadable status says nothing about the job)."""
        ref = await self.resolve(ref)
        details = await self.client.jobs.status(_job_id(ref))
        return to_training_status(ref, details)

    async def wait_until_complete(self, ref: TrainingJobRef, poll_interval: float | None = None) -> TrainingJobStatus:
        """Follow the job to its end (``ref`` may be a bare run id); deploy the model when asked.

        Returns the final status when the job completed, or was cancelled and no deployment
        was asked. Raises :class:`TrainingJobError` (a ``RuntimeError``, as the reference)
        when it failed, when it was cancelled but a deployment was asked, or when the
        deployment failed; :class:`TrainingStatusUnreadableError` (a ``TrainingJobError`` and a
        ``ConnectionError``) when its status could not be read ``max_consecutive_status_failures``
        times in a row: a platform problem, the job may still be running. The dataset files
        stay where ``ref.metadata["dataset_dir"]`` says.
        """
        ref = await self.resolve(ref)
        job_id = _job_id(ref)
        dataset_dir = (ref.metadata or {}).get("dataset_dir")
        try:
            details = await wait_for_job(
                self.client,
                job_id,
                poll_interval=poll_interval or self.config.poll_interval_seconds,
                max_consecutive_status_failures=self.config.max_consecutive_status_failures,
                dataset_dir=dataset_dir,
            )
        except StatusUnreadableError as exc:
            message = (
                f"Failed to get status for job {job_id} of run {ref.run_id} after "
                f"{self.config.max_consecutive_status_failures} consecutive attempts: a platform problem, not a "
                f"verdict on the job, which may still be running (check {self.config.entity_host}); {exc}"
            )
            status = to_training_status(ref, None, message=f"Error getting status: {exc}")
            raise TrainingStatusUnreadableError(message, status=status, dataset_dir=dataset_dir) from exc
        except JobCancelledError as exc:
            status = to_training_status(ref, exc.status, message=str(exc), status=TrainingStatusEnum.CANCELED)
            if self.config.deploy_on_completion:
                raise TrainingJobError(
                    f"Training job {ref.run_id} was canceled: {exc}; the model was not trained and will not be "
                    "deployed",
                    status=status,
                    dataset_dir=dataset_dir,
                ) from exc
            logger.warning("%s", exc)
            return status
        except JobFailedError as exc:
            status = to_training_status(ref, exc.status, message=str(exc), status=TrainingStatusEnum.FAILED)
            raise TrainingJobError(
                f"Training job {ref.run_id} failed: {exc}", status=status, dataset_dir=dataset_dir
            ) from exc
        except CustomizerError as exc:  # not transient (e.g. 401, 404): following the job is impossible
            message = f"cannot follow job {job_id}: {exc}; local dataset files are kept in {dataset_dir}"
            raise TrainingJobError(
                message, status=to_training_status(ref, None, message=message), dataset_dir=dataset_dir
            ) from exc
        final = to_training_status(ref, details)
        if self.config.deploy_on_completion:
            final = await self._deploy(ref, final)
        return final

    async def _deploy(self, ref: TrainingJobRef, final: TrainingJobStatus) -> TrainingJobStatus:
        meta = ref.metadata or {}
        model = meta.get("output_model")
        if not model:
            logger.warning("run %s: the job reported no output model; nothing to deploy", ref.run_id)
            return final
        cfg = self.config.deployment_config
        name = cfg.deployment_name or f"nat-deployment-{ref.run_id}"
        try:
            await deploy_model(
                self.client,
                namespace=self.config.namespace,
                model=model,
                deployment_name=name,
                config_name=f"nat-deploy-config-{ref.run_id}",
                nim=NimDeployment(image_name=cfg.image_name, image_tag=cfg.image_tag, gpu=cfg.gpu),
                description=cfg.description,
                on_conflict=self.config.on_existing_deployment,
            )
            deployment = await wait_for_deployment(
                self.client,
                self.config.namespace,
                name,
                poll_interval=self.config.poll_interval_seconds,
                timeout=self.config.deployment_timeout_seconds,
                max_consecutive_status_failures=self.config.max_consecutive_status_failures,
            )
        except CustomizerError as exc:
            status = final.model_copy(update={"message": f"training completed; deployment failed: {exc}"})
            fix = (
                "; set the adapter's on_existing_deployment to update (or replace) to serve the new model there"
                if isinstance(exc, ConflictError)
                else ""
            )
            raise TrainingJobError(
                f"run {ref.run_id}: model {model} trained, but its deployment failed: {exc}{fix}",
                status=status,
                dataset_dir=meta.get("dataset_dir"),
            ) from exc
        logger.info("run %s: model %s deployed as %s/%s", ref.run_id, model, self.config.namespace, name)
        extra = {
            "deployment": f"{self.config.namespace}/{name}",
            "deployment_url": deployment.url,
            "deployed_model": model,
        }
        return final.model_copy(update={"metadata": {**(final.metadata or {}), **extra}})

    def log_progress(self, ref: TrainingJobRef, metrics: dict[str, Any], output_dir: str | None = None) -> None:
        """Append ``metrics`` to ``nemo_customizer_{run_id}.jsonl`` (blocking: small writes)."""
        base = Path(self.run_config.output_dir) if self.run_config is not None else Path(".tmp/nat/finetuning")
        out_dir = Path(output_dir) if output_dir else base / "trainer_adapter"
        entry = {
            "timestamp": datetime.now().isoformat(),
            "run_id": ref.run_id,
            "backend": ref.backend,
            "config": {"namespace": self.config.namespace, "customization_config": self.config.customization_config},
            **metrics,
        }
        append_line(out_dir / f"nemo_customizer_{ref.run_id}.jsonl", json.dumps(entry, default=str))


def _log_written(run_id: str, what: str, out: Path, by_split: dict[str, int], unit: str) -> None:
    logger.info(
        "run %s: %s written to %s (%d training, %d validation %s)",
        run_id,
        what,
        out,
        by_split.get("train", 0),
        by_split.get("validation", 0),
        unit,
    )


def _by_split(dataset: pl.DataFrame) -> dict[str, int]:
    """Rows of each split."""
    counts = dataset["split"].value_counts()
    return dict(zip(counts["split"].to_list(), counts["count"].to_list(), strict=True))


def _both_splits(dataset: pl.DataFrame, run_id: str, what: str = "pair") -> pl.DataFrame:
    """A single pair (or record) goes to both files, as the reference does: Customizer needs both non-empty."""
    if dataset.height != 1:
        return dataset
    logger.warning("run %s: only one %s; it is used for both training and validation", run_id, what)
    return pl.concat([dataset.with_columns(split=pl.lit("train")), dataset.with_columns(split=pl.lit("validation"))])


def _job_id(ref: TrainingJobRef) -> str:
    job_id = (ref.metadata or {}).get("job_id")
    if not job_id:
        raise UnknownJobError(f"No training job found for run {ref.run_id}: its reference carries no job_id")
    return str(job_id)
