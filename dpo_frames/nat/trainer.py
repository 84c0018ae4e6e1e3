"""``_type: nemo_customizer_trainer``: collect ``num_runs`` runs, build one dataset, train once.

Progress files under the finetuning ``output_dir`` (the reference's names and keys):
``data_collection_progress.jsonl`` (a line per collection run), ``collection_history.json``
(all of them) and ``final_metrics.json`` (the outcome; written on every ending, not only
after waiting for the job).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import polars as pl
from nat.data_models.finetuning import (
    FinetuneConfig,
    TrainingJobRef,
    TrainingJobStatus,
    TrainingStatusEnum,
    TrajectoryCollection,
)
from nat.finetuning.interfaces.finetuning_runner import Trainer

from dpo_frames import schema
from dpo_frames._atomic import append_line, write_json
from dpo_frames.dataset import DatasetStats, SftConfig, SftStats, build_sft, finalize_dataset
from dpo_frames.errors import DpoFramesError
from dpo_frames.nat.adapter import BACKEND, NeMoCustomizerTrainerAdapter
from dpo_frames.nat.builder import DPOTrajectoryBuilder
from dpo_frames.nat.config import NeMoCustomizerTrainerAdapterConfig, NeMoCustomizerTrainerConfig
from dpo_frames.nat.convert import collection_to_pairs, pairs_to_collection
from dpo_frames.nat.sft import no_sft_records, pairs_to_candidates

__all__ = ["NeMoCustomizerTrainer"]

logger = logging.getLogger("dpo_frames.nat")

PROGRESS_FILE = "data_collection_progress.jsonl"
HISTORY_FILE = "collection_history.json"
FINAL_METRICS_FILE = "final_metrics.json"
DEFAULT_VALIDATION_FRACTION = NeMoCustomizerTrainerAdapterConfig.model_fields["validation_fraction"].default


class NeMoCustomizerTrainer(Trainer):
    """Runs the builder ``num_runs`` times, deduplicates and samples the pairs, submits one job.

    With dpo_frames' adapter at ``hyperparameters.training_type: sft`` the dataset is instead the
    best-of-n SFT records of the collected candidates (:mod:`dpo_frames.nat.sft`): the builder's
    ``sft`` rules choose them, ``deduplicate_pairs``, ``max_pairs`` and ``seed`` apply to them, and
    when none is left the status is FAILED ``"No SFT records for run ..."`` naming the rules.

    Outcomes (``run`` returns a one-element list, as the reference):

    * a collection run fails and ``continue_on_collection_error`` is false, no pair was
      collected (``"No trajectories collected"``, followed by why for each run), or the
      submission fails: ``FAILED`` status with the reason;
    * ``wait_for_completion: false``: ``RUNNING`` once submitted;
    * the job completes: ``COMPLETED`` (deployed first when the adapter is asked to);
      cancelled: ``CANCELED``;
    * the job fails (or its status stays unreadable, or the deployment fails): the
      adapter's ``TrainingJobError`` is raised after ``final_metrics.json`` is written, so
      ``nat finetune`` exits 1, as with the reference.

    The builder and the adapter may be any NAT ``TrajectoryBuilder`` and ``TrainerAdapter``:
    they are used through NAT's interface only (dpo_frames' own builder hands its frames
    over directly, dpo_frames' own adapter takes the dataset frame and is closed on cleanup).
    Log lines and statuses number collection runs from 1 (``collection run 1/3``) and name
    each by its id (``nemo_dpo_<hex>_run0``).
    """

    def __init__(self, trainer_config: NeMoCustomizerTrainerConfig, **kwargs: Any) -> None:
        super().__init__(trainer_config)
        self.trainer_config: NeMoCustomizerTrainerConfig = trainer_config
        self._run_id: str | None = None
        self._job_ref: TrainingJobRef | None = None
        self._pairs: list[pl.DataFrame] = []
        self._groups = 0
        self._run_metrics: list[dict[str, Any]] = []
        self._collection_history: list[dict[str, Any]] = []
        self._candidates: list[pl.DataFrame] = []
        """The candidates of each collection run (kept only for an SFT job)."""
        self._dataset_stats: DatasetStats | None = None
        self._sft_stats: SftStats | None = None
        self._empty_runs: list[str] = []
        """Why each collection run gave nothing (failed, or no pair): the final status names it."""

    @property
    def run_id(self) -> str | None:
        """This finetuning run's id (``nemo_dpo_<8 hex>``); collection runs add ``_run<N>``."""
        return self._run_id

    async def initialize(self, run_config: FinetuneConfig) -> None:
        """Initialize builder and adapter (curriculum learning does not apply to DPO)."""
        self.run_config = run_config
        self.trainer_config.reward = run_config.reward_function
        self.curriculum_config = None
        self._curriculum_state = {
            "current_percentile": 1.0,
            "last_expansion_epoch": -1,
            "total_groups": 0,
            "included_groups": set(),
        }
        if run_config.curriculum_learning.enabled:
            logger.warning("nemo_customizer_trainer: curriculum_learning does not apply to DPO; ignored")
        await asyncio.to_thread(Path(run_config.output_dir).mkdir, parents=True, exist_ok=True)
        await self.trajectory_builder.initialize(run_config)
        await self.trainer_adapter.initialize(run_config)
        self._run_id = f"nemo_dpo_{uuid.uuid4().hex[:8]}"
        logger.info("nemo_customizer_trainer initialized: run %s, output in %s", self._run_id, run_config.output_dir)

    # --- collection ----------------------------------------------------------------------

    def _run_label(self, epoch: int) -> str:
        """How logs and statuses name collection run ``epoch`` (0-based): ``collection run 1/3 (id)``."""
        return f"collection run {epoch + 1}/{self.trainer_config.num_runs} ({self._run_id}_run{epoch})"

    async def run_epoch(self, epoch: int, run_id: str) -> TrainingJobRef | None:
        """One collection run: evaluate, build pairs, keep them (nothing is submitted here)."""
        collection_id = f"{run_id}_run{epoch}"
        label = f"collection run {epoch + 1}/{self.trainer_config.num_runs} ({collection_id})"
        logger.info("%s", label)
        meta = {"run_number": epoch, "run_id": run_id, "trainer_config": self.trainer_config.model_dump()}
        await self.trajectory_builder.start_run(run_id=collection_id, meta=meta)
        collection = await self.trajectory_builder.finalize(run_id=collection_id, meta=meta)
        pairs, extra, candidates = self._pairs_of(collection_id, collection)
        self._pairs.append(pairs)
        self._groups += len(collection.trajectories)
        metrics = {**_reward_metrics(epoch, pairs), **extra}
        self._run_metrics.append(metrics)
        if self.training_type == "sft":
            self._candidates.append(candidates)
            if candidates.height == 0:
                why = _why_no_pairs(extra)
                logger.warning("%s produced no scored candidate (%s)", label, why)
                self._empty_runs.append(f"{label}: no scored candidate ({why})")
        elif pairs.height == 0:
            why = _why_no_pairs(extra)
            logger.warning("%s produced no preference pair (%s)", label, why)
            self._empty_runs.append(f"{label}: no preference pair ({why})")
        await asyncio.to_thread(self.log_progress, epoch, metrics)
        return None

    @property
    def training_type(self) -> str:
        """dpo_frames' adapter's ``hyperparameters.training_type``; ``dpo`` with any other adapter."""
        adapter = self.trainer_adapter
        return adapter.training_type if isinstance(adapter, NeMoCustomizerTrainerAdapter) else "dpo"

    def _pairs_of(
        self, collection_id: str, collection: TrajectoryCollection
    ) -> tuple[pl.DataFrame, dict[str, Any], pl.DataFrame]:
        """The run's pairs and candidates frames: straight from our builder, else rebuilt from the
        trajectories (the candidates the pairs show, only for an SFT job)."""
        builder = self.trajectory_builder
        if isinstance(builder, DPOTrajectoryBuilder) and collection_id in builder.runs:
            frames = builder.runs.pop(collection_id)
            extra = {
                "collection_run_id": collection_id,
                "candidates": frames.candidates.height,
                "rejected_candidates": frames.rejects.height,
                "skipped": frames.pair_stats.skipped(),
                "frames_dir": str(frames.run_dir),
            }
            return frames.pairs, extra, frames.candidates
        extra = {"collection_run_id": collection_id}
        if not any(collection.trajectories):
            return schema.empty(schema.PAIRS), extra, schema.empty(schema.CANDIDATES)
        pairs = collection_to_pairs(collection)
        sft = self.training_type == "sft"
        return pairs, extra, pairs_to_candidates(pairs) if sft else schema.empty(schema.CANDIDATES)

    async def run(self, num_epochs: int) -> list[TrainingJobStatus]:
        """Collect, build the dataset, submit once, wait if asked. ``num_epochs`` is ignored
        (training epochs are ``hyperparameters.epochs`` of the adapter)."""
        if not self._run_id:
            raise RuntimeError("nemo_customizer_trainer is not initialized; call initialize() first")
        for epoch in range(self.trainer_config.num_runs):
            try:
                await self.run_epoch(epoch, self._run_id)
            except Exception as exc:
                label, cause = self._run_label(epoch), _cause(exc)
                logger.error("%s failed: %s", label, cause)
                self._empty_runs.append(f"{label} failed: {cause}")
                await asyncio.to_thread(self.log_progress, epoch, {"run_number": epoch, "error": cause})
                if not self.trainer_config.continue_on_collection_error:
                    return await self._finish(
                        self._status(
                            TrainingStatusEnum.FAILED,
                            f"Data collection failed at run {epoch} ({label}): {cause}",
                            {"run_number": epoch},
                        )
                    )
        ended = await (self._submit_sft() if self.training_type == "sft" else self._submit_dpo())
        if ended is not None:
            return ended
        assert self._job_ref is not None
        if not self.trainer_config.wait_for_completion:
            return await self._finish(
                self._status(
                    TrainingStatusEnum.RUNNING,
                    "Training job submitted (not waiting for completion)",
                    self._job_ref.metadata,
                )
            )
        try:
            final = await self.trainer_adapter.wait_until_complete(self._job_ref)
        except Exception as exc:
            status = getattr(exc, "status", None)
            if not isinstance(status, TrainingJobStatus):
                status = self._status(TrainingStatusEnum.FAILED, str(exc), self._job_ref.metadata)
            await self._finish(status)
            raise
        return await self._finish(final)

    async def _submit_dpo(self) -> list[TrainingJobStatus] | None:
        """Build the DPO dataset of the collected pairs and submit it; the final statuses when it ends here."""
        pairs = pl.concat(self._pairs, how="vertical_relaxed") if self._pairs else schema.empty(schema.PAIRS)
        if pairs.height == 0:
            reasons = "; ".join(self._empty_runs) or "no collection run produced a preference pair"
            return await self._finish(self._status(TrainingStatusEnum.FAILED, f"No trajectories collected: {reasons}"))
        dataset = await self._dataset(pairs)
        return await self._submitted(self._submit(dataset))

    async def _submit_sft(self) -> list[TrainingJobStatus] | None:
        """Build the SFT dataset of the collected candidates (the builder's ``sft`` rules) and submit an SFT
        job; the final statuses when it ends here (nothing collected, or no turn passes the rules)."""
        assert self._run_id is not None and isinstance(self.trainer_adapter, NeMoCustomizerTrainerAdapter)
        frames = self._candidates
        candidates = pl.concat(frames, how="vertical_relaxed") if frames else schema.empty(schema.CANDIDATES)
        if candidates.height == 0:
            reasons = "; ".join(self._empty_runs) or "no collection run produced a scored candidate"
            return await self._finish(self._status(TrainingStatusEnum.FAILED, f"No trajectories collected: {reasons}"))
        builder = self.trajectory_builder
        rules = builder.config.sft if isinstance(builder, DPOTrajectoryBuilder) else SftConfig()
        cfg = self.trainer_config
        sft, stats = await asyncio.to_thread(
            build_sft,
            candidates,
            rules,
            deduplicate=cfg.deduplicate_pairs,
            max_records=cfg.max_pairs,
            seed=cfg.seed,
            validation_fraction=self.trainer_adapter.config.validation_fraction,
        )
        self._dataset_stats, self._sft_stats = stats.split, stats
        logger.info(
            "SFT dataset: %d candidates in %d turns, %d selected (%d below min_score, %d below min_margin, %d alone), "
            "%d duplicates removed, %d sampled out (seed %d): %d training, %d validation records",
            stats.candidates,
            stats.prompt_groups,
            stats.selected,
            stats.below_min_score,
            stats.below_margin,
            stats.single_candidate_skipped,
            stats.split.duplicate_pairs,
            stats.split.sampled_out_pairs,
            stats.split.seed,
            stats.split.train_pairs,
            stats.split.validation_pairs,
        )
        if sft.height == 0:
            message = no_sft_records(self._run_id, stats)
            logger.error("%s", message)
            return await self._finish(self._status(TrainingStatusEnum.FAILED, message))
        return await self._submitted(self.trainer_adapter.submit_sft_dataset(sft, run_id=self._run_id, sft_stats=stats))

    async def _submitted(self, submission: Awaitable[TrainingJobRef]) -> list[TrainingJobStatus] | None:
        """Await the submission and keep its job; the FAILED final status when it fails."""
        try:
            self._job_ref = await submission
        except Exception as exc:
            logger.error("submitting the training job failed: %s", exc)
            return await self._finish(self._status(TrainingStatusEnum.FAILED, f"Failed to submit training job: {exc}"))
        return None

    async def _dataset(self, pairs: pl.DataFrame) -> pl.DataFrame:
        cfg = self.trainer_config
        adapter = self.trainer_adapter
        # Only our adapter has the key; any other splits the trajectories it is given its own way.
        own = isinstance(adapter, NeMoCustomizerTrainerAdapter)
        fraction = adapter.config.validation_fraction if own else DEFAULT_VALIDATION_FRACTION
        dataset, stats = await asyncio.to_thread(
            finalize_dataset,
            pairs,
            deduplicate=cfg.deduplicate_pairs,
            max_pairs=cfg.max_pairs,
            seed=cfg.seed,
            validation_fraction=fraction,
        )
        self._dataset_stats = stats
        logger.info(
            "dataset: %d pairs collected, %d duplicates removed, %d sampled out (seed %d): %d training, "
            "%d validation pairs",
            stats.input_pairs,
            stats.duplicate_pairs,
            stats.sampled_out_pairs,
            stats.seed,
            stats.train_pairs,
            stats.validation_pairs,
        )
        return dataset

    async def _submit(self, dataset: pl.DataFrame) -> TrainingJobRef:
        assert self._run_id is not None
        adapter = self.trainer_adapter
        if isinstance(adapter, NeMoCustomizerTrainerAdapter):
            return await adapter.submit_dataset(dataset, run_id=self._run_id, dataset_stats=self._dataset_stats)
        collection = await asyncio.to_thread(pairs_to_collection, dataset.drop("split"), self._run_id)
        return await adapter.submit(collection)

    def _status(self, status: TrainingStatusEnum, message: str, metadata: dict | None = None) -> TrainingJobStatus:
        return TrainingJobStatus(
            run_id=self._run_id or "", backend=BACKEND, status=status, message=message, metadata=metadata
        )

    async def _finish(self, status: TrainingJobStatus) -> list[TrainingJobStatus]:
        log = logger.info if status.status == TrainingStatusEnum.COMPLETED else logger.warning
        log("nemo_customizer_trainer %s: %s (%s)", self._run_id, status.status.value, status.message)
        await asyncio.to_thread(self._write_final_metrics, status)
        return [status]

    # --- NAT interface: metrics, progress, cleanup ------------------------------------------

    async def get_metrics(self, run_id: str) -> dict[str, Any]:
        """Collection metrics and the job's current status."""
        metrics: dict[str, Any] = {
            "run_id": run_id,
            "num_collection_runs": len(self._run_metrics),
            "collection_runs": self._run_metrics,
            "total_trajectory_groups": self._groups,
        }
        if self._dataset_stats is not None:
            metrics["dataset"] = self._dataset_stats.model_dump()
        if self._sft_stats is not None:
            metrics["sft_selection"] = self._sft_stats.model_dump(exclude={"split"})
        if self._job_ref is not None:
            try:
                status = await self.trainer_adapter.status(self._job_ref)
                metrics["training_job"] = {
                    "job_id": (self._job_ref.metadata or {}).get("job_id"),
                    "status": status.status.value,
                    "progress": status.progress,
                    "message": status.message,
                }
            except Exception as exc:
                metrics["training_job"] = {"error": str(exc)}
        return metrics

    async def cleanup(self) -> None:
        """Cancel unfinished evaluations, close dpo_frames' adapter's connections, reset what was collected
        (pairs and run metrics, as the reference)."""
        for run_id, task in list(getattr(self.trajectory_builder, "evaluation_runs", {}).items()):
            if not task.done():
                logger.info("cancelling evaluation of run %s", run_id)
                task.cancel()
        if isinstance(self.trainer_adapter, NeMoCustomizerTrainerAdapter):
            await self.trainer_adapter.aclose()
        self._pairs.clear()
        self._candidates.clear()
        self._run_metrics.clear()
        self._empty_runs.clear()
        self._groups = 0

    def log_progress(self, epoch: int, metrics: dict[str, Any], output_dir: str | None = None) -> None:
        """Append to ``data_collection_progress.jsonl`` and rewrite ``collection_history.json`` (blocking)."""
        out_dir = Path(output_dir) if output_dir else Path(self.run_config.output_dir)
        entry = {"run_number": epoch, "timestamp": datetime.now().isoformat(), "run_id": self._run_id, **metrics}
        self._collection_history.append(entry)
        append_line(out_dir / PROGRESS_FILE, json.dumps(entry, default=str))
        write_json(out_dir / HISTORY_FILE, self._collection_history)
        logger.info(
            "%s: %s DPO pairs, avg reward %.4f",
            self._run_label(epoch),
            metrics.get("num_dpo_pairs", 0),
            metrics.get("avg_reward", 0.0),
        )

    def _write_final_metrics(self, status: TrainingJobStatus) -> None:
        runs = self._run_metrics
        final = {
            "run_id": self._run_id,
            "timestamp": datetime.now().isoformat(),
            "status": status.status.value,
            "message": status.message,
            "progress": status.progress,
            "num_collection_runs": len(runs),
            "total_trajectory_groups": self._groups,
            "collection_summary": {
                "total_trajectories": sum(m.get("num_trajectories", 0) for m in runs),
                "total_dpo_pairs": sum(m.get("num_dpo_pairs", 0) for m in runs),
                "avg_reward": sum(m.get("avg_reward", 0.0) for m in runs) / len(runs) if runs else 0.0,
            },
            "dataset": self._dataset_stats.model_dump() if self._dataset_stats is not None else None,
            "job_metadata": self._job_ref.metadata if self._job_ref else None,
            "status_metadata": status.metadata,
        }
        if self._sft_stats is not None:  # an SFT job: what was selected (a DPO job's file is the reference's)
            final.update(training_type="sft", sft_selection=self._sft_stats.model_dump(exclude={"split"}))
        write_json(Path(self.run_config.output_dir) / FINAL_METRICS_FILE, final)


def _cause(exc: Exception) -> str:
    """An exception as a status names it: ours as they are (their messages say what happened), any other
    with its type (``ValueError: Expected object or value``), and the notes added on the way."""
    text = str(exc) if isinstance(exc, DpoFramesError) else f"{type(exc).__name__}: {exc}"
    notes = getattr(exc, "__notes__", None) or []
    return "; ".join([text, *notes])


def _why_no_pairs(extra: dict[str, Any]) -> str:
    """Why a run that did not fail gave no pair, from what the builder reported."""
    if "candidates" not in extra:
        return "the builder returned no trajectories"
    if extra["candidates"] == 0:
        return f"no candidate; {extra.get('rejected_candidates', 0)} candidate steps rejected"
    return f"{extra['candidates']} candidates, skipped: {extra.get('skipped') or 'nothing'}"


def _reward_metrics(epoch: int, pairs: pl.DataFrame) -> dict[str, Any]:
    """The reference's per-run metrics (one trajectory per pair)."""
    rewards = pairs["reward"]
    n = pairs.height
    return {
        "run_number": epoch,
        "num_trajectories": n,
        "num_dpo_pairs": n,
        # cast: polars types the aggregates as any literal or None; of the (non-null) Float64 rewards they are floats
        "avg_reward": float(cast(float, rewards.mean())) if n else 0.0,
        "min_reward": float(cast(float, rewards.min())) if n else 0.0,
        "max_reward": float(cast(float, rewards.max())) if n else 0.0,
        "timestamp": datetime.now().isoformat(),
    }
