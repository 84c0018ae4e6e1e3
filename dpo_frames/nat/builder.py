"""``_type: dpo_traj_builder``: evaluation run -> steps -> candidates -> pairs -> trajectories.

Thin over the core: :func:`~dpo_frames.candidates.objects.extract_with_summary` (the in-memory fast path),
:func:`~dpo_frames.build_pairs`. Each run's candidates, rejects and pairs are written as
Parquet, with the run's record, under ``{finetuning output_dir}/runs/{run_id}/``: a run
directory like any other, so every ``dpo-frames`` command opens it and pairs can be
rebuilt later with other settings without running the workflow again::

    candidates = dpo_frames.read_frame(".tmp/finetune/runs/<run id>", "candidates")
    pairs, stats = dpo_frames.build_pairs(candidates, dpo_frames.PairConfig(exhaustive_pairs=False))
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
from nat.data_models.evaluate_runtime import EvaluationRunOutput
from nat.data_models.finetuning import TrajectoryCollection
from nat.finetuning.interfaces.trajectory_builder import TrajectoryBuilder

from dpo_frames import rundir
from dpo_frames._atomic import append_line, atomic_dir
from dpo_frames.candidates.objects import extract_with_summary
from dpo_frames.errors import CollectionError, NatPluginError
from dpo_frames.layout import RUNS_DIR
from dpo_frames.nat.config import DPOTrajBuilderConfig
from dpo_frames.nat.convert import pairs_to_collection
from dpo_frames.nat.paths import check_outside_wiped_dir
from dpo_frames.pairs import PairConfig, PairStats, build_pairs
from dpo_frames.rundir import DirKind, RunRecord

__all__ = ["DPOTrajectoryBuilder", "RunFrames", "build_run_frames"]

logger = logging.getLogger("dpo_frames.nat")


@dataclass
class RunFrames:
    """Everything one collection run produced."""

    run_id: str
    items: int
    interrupted: bool
    steps: int
    steps_by_type: list[dict[str, Any]]
    candidates: pl.DataFrame
    rejects: pl.DataFrame
    pairs: pl.DataFrame
    pair_stats: PairStats
    config: PairConfig = field(default_factory=PairConfig)
    run_dir: Path | None = None

    @property
    def rejects_by_reason(self) -> dict[str, int]:
        """Rejected candidate steps, counted by reason."""
        counts = self.rejects["reason"].value_counts(sort=True)
        return dict(zip(counts["reason"].to_list(), counts["count"].to_list(), strict=True))

    def record(self) -> RunRecord:
        """The run directory's record."""
        return RunRecord(
            kind=DirKind.RUN,
            producer="dpo_traj_builder",
            run_ids=[self.run_id],
            config=self.config,
            steps=self.steps,
            candidates=self.candidates.height,
            rejects=self.rejects.height,
            rejects_by_reason=self.rejects_by_reason,
            steps_by_type=self.steps_by_type,
            pair_stats=self.pair_stats,
            frames=rundir.frame_entries({"candidates": 1, "rejects": 1, "pairs": 1}),
            extra={"items": self.items, "workflow_interrupted": self.interrupted},
        )

    def stats(self) -> dict[str, Any]:
        """The run's statistics as the builder's progress log and metrics carry them (the reference's keys)."""
        return {
            "run_id": self.run_id,
            "items": self.items,
            "workflow_interrupted": self.interrupted,
            "steps": self.steps,
            "candidates": self.candidates.height,
            "rejects": self.rejects.height,
            "rejects_by_reason": self.rejects_by_reason,
            "pairs": self.pairs.height,
            "pair_stats": self.pair_stats.model_dump(),
            "skipped": self.pair_stats.skipped(),
            "config": self.config.model_dump(),
        }


def build_run_frames(output: EvaluationRunOutput, run_id: str, config: DPOTrajBuilderConfig) -> RunFrames:
    """The frames of one evaluation run (CPU work; call it in a worker thread)."""
    candidates, rejects, summary = extract_with_summary(output, config.ttc_step_name, run_id)
    pairs, pair_stats = build_pairs(candidates, config.pair_config())
    return RunFrames(
        run_id=run_id,
        items=len(output.eval_input.eval_input_items),
        interrupted=bool(output.workflow_interrupted),
        steps=int(summary["steps"].sum()),
        steps_by_type=summary.to_dicts(),
        candidates=candidates,
        rejects=rejects,
        pairs=pairs,
        pair_stats=pair_stats,
        config=config.pair_config(),
    )


def write_run_frames(frames: RunFrames, run_dir: Path) -> None:
    """The run directory: Parquet of candidates, rejects and pairs, and its record, all at once (blocking)."""
    with atomic_dir(run_dir) as tmp:
        rundir.write_frames(tmp, candidates=frames.candidates, rejects=frames.rejects, pairs=frames.pairs)
        rundir.write_record(tmp, frames.record())
    frames.run_dir = run_dir


class DPOTrajectoryBuilder(TrajectoryBuilder):
    """Collects DPO preference pairs from the TTC_END steps of a NAT evaluation run."""

    def __init__(self, trajectory_builder_config: DPOTrajBuilderConfig) -> None:
        super().__init__(trajectory_builder_config=trajectory_builder_config)
        self.config: DPOTrajBuilderConfig = trajectory_builder_config
        self.evaluation_runs: dict[str, asyncio.Task[EvaluationRunOutput]] = {}
        """Running evaluations by run id (the reference's attribute; trainers cancel them on cleanup)."""
        self.runs: dict[str, RunFrames] = {}
        """Frames of finished runs by run id, for a trainer that works on frames."""
        self._metrics: dict[str, Any] = {}

    # --- NAT interface -------------------------------------------------------------------

    async def run_eval(self) -> EvaluationRunOutput:
        """NAT evaluation of the workflow, working around two NAT 1.9 bugs.

        The config handed to the evaluation is a copy without
        ``finetuning.run_configuration`` (which holds the config itself: NAT's INFO log of it
        recursed forever), and ``--dataset`` is passed as text (NAT wants a str).
        """
        from nat.data_models.evaluate_runtime import EvaluationRunConfig
        from nat.plugins.eval.runtime.evaluate import EvaluationRun

        rc = self._run_configuration()
        cfg = rc.config_file
        if hasattr(cfg, "finetuning"):
            cfg = cfg.model_copy(update={"finetuning": cfg.finetuning.model_copy(update={"run_configuration": None})})
        eval_cfg = EvaluationRunConfig(
            config_file=cfg,
            dataset=None if rc.dataset is None else str(rc.dataset),
            result_json_path=rc.result_json_path,
            endpoint=rc.endpoint,
            endpoint_timeout=rc.endpoint_timeout,
            override=rc.override,
        )
        return await EvaluationRun(config=eval_cfg).run_and_evaluate()

    async def start_run(self, run_id: str, meta: dict | None = None) -> None:
        """Start the evaluation of run ``run_id`` in the background."""
        if run_id in self.evaluation_runs:
            raise NatPluginError(f"run {run_id} is already in progress")
        rc = self._run_configuration()
        check_outside_wiped_dir(self.run_dir(run_id), rc.config_file, "the finetuning output_dir")
        logger.info(
            "dpo_traj_builder: starting run %s (step %r, exhaustive=%s, min_score_diff=%g)",
            run_id,
            self.config.ttc_step_name,
            self.config.exhaustive_pairs,
            self.config.min_score_diff,
        )
        self.evaluation_runs[run_id] = asyncio.create_task(self.run_eval(), name=f"dpo-eval-{run_id}")

    async def finalize(self, run_id: str, meta: dict | None = None) -> TrajectoryCollection:
        """Wait for the run, build and write its frames, return its trajectories.

        Raises :class:`CollectionError` when the evaluation was interrupted (a workflow item
        failed); the frames of what it did produce are written first.
        """
        task = self.evaluation_runs.get(run_id)
        if task is None:
            raise NatPluginError(f"no evaluation run {run_id}; call start_run first")
        try:
            output = await task
        finally:
            self.evaluation_runs.pop(run_id, None)
        frames = await asyncio.to_thread(build_run_frames, output, run_id, self.config)
        run_dir = self.run_dir(run_id)
        await asyncio.to_thread(write_run_frames, frames, run_dir)
        self._log_run(frames)
        self._metrics = frames.stats()
        if frames.interrupted:
            raise CollectionError(
                f"run {run_id}: the workflow failed on an item and NAT stopped the evaluation "
                f"({frames.candidates.height} candidates from {frames.items} items were collected; "
                f"frames in {run_dir})",
                run_id=run_id,
                run_dir=str(run_dir),
            )
        self.runs[run_id] = frames
        return await asyncio.to_thread(pairs_to_collection, frames.pairs, run_id)

    def log_progress(self, run_id: str, metrics: dict[str, Any], output_dir: str | None = None) -> None:
        """Append the run's statistics and ``metrics`` to ``dpo_trajectory_builder_{run_id}.jsonl``."""
        out_dir = Path(output_dir) if output_dir else self._output_dir() / "dpo_trajectory_builder"
        entry = {"timestamp": datetime.now().isoformat(), "run_id": run_id, **self._metrics, **metrics}
        append_line(out_dir / f"dpo_trajectory_builder_{run_id}.jsonl", json.dumps(entry, default=str))

    # --- helpers ---------------------------------------------------------------------------

    def run_dir(self, run_id: str) -> Path:
        """Where run ``run_id``'s frames are written."""
        return self._output_dir() / RUNS_DIR / run_id

    def _output_dir(self) -> Path:
        if self.run_config is None:
            raise NatPluginError("dpo_traj_builder is not initialized (NAT calls initialize() first)")
        return Path(self.run_config.output_dir)

    def _run_configuration(self) -> Any:
        if self.run_config is None or self.run_config.run_configuration is None:
            raise NatPluginError(
                "dpo_traj_builder has no run configuration: run it through `nat finetune` (or finetuning_main)"
            )
        return self.run_config.run_configuration

    def _log_run(self, frames: RunFrames) -> None:
        s = frames.pair_stats
        logger.info(
            "dpo_traj_builder run %s: %d items, %d steps, %d candidates (%d rejected%s), %d turns, %d pairs "
            "(skipped: %s); frames in %s",
            frames.run_id,
            frames.items,
            frames.steps,
            frames.candidates.height,
            frames.rejects.height,
            f": {frames.rejects_by_reason}" if frames.rejects.height else "",
            s.turns,
            s.pairs,
            s.skipped() or "none",
            frames.run_dir,
        )
        if frames.candidates.height == 0:
            logger.warning(
                "dpo_traj_builder run %s: no TTC_END step named %r was found; does the workflow emit "
                "them under this name?",
                frames.run_id,
                self.config.ttc_step_name,
            )
