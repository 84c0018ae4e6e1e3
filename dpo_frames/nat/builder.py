"""``_type: dpo_traj_builder``: evaluation run -> steps -> candidates -> pairs -> trajectories.

Thin over the core: :func:`~dpo_frames.candidates.objects.extract_with_summary` (the in-memory fast path),
:func:`~dpo_frames.build_pairs`. Each run's candidates, rejects and pairs are written as
Parquet, with the run's record, under ``{finetuning output_dir}/runs/{run_id}/``: a run
directory like any other, so every ``dpo-frames`` command opens it and pairs can be
rebuilt later with other settings without running the workflow again::

    candidates = dpo_frames.read_frame(".tmp/finetune/runs/<run id>", "candidates")
    pairs, stats = dpo_frames.build_pairs(candidates, dpo_frames.PairConfig(exhaustive_pairs=False))

Prompts as real workflows record them: a candidate's own answer echoed as the last message
of its prompt is stripped before pairing (``strip_echoed_output``, on by default), counted
(the run record's ``extra["echoed_outputs"]``) and logged as a warning; a noticeable share
of pairs lost to prompt mismatch is a warning with the numbers and the likely cause.

Works as the reference does without ``initialize()``: the output directory is then NAT's
default (``.tmp/nat/finetuning``), and the run configuration is only needed by
:meth:`DPOTrajectoryBuilder.run_eval`.
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
from nat.data_models.finetuning import FinetuneConfig, TrajectoryCollection
from nat.finetuning.interfaces.trajectory_builder import TrajectoryBuilder

from dpo_frames import rundir
from dpo_frames._atomic import append_line, atomic_dir
from dpo_frames.candidates.echo import strip_echoes
from dpo_frames.candidates.objects import extract_with_summary
from dpo_frames.errors import CollectionError, NatPluginError, RunInProgressError, UnknownRunError
from dpo_frames.layout import RUNS_DIR
from dpo_frames.nat.config import DPOTrajBuilderConfig
from dpo_frames.nat.convert import pairs_to_collection
from dpo_frames.nat.paths import check_outside_wiped_dir
from dpo_frames.pairs import PairConfig, PairStats, build_pairs
from dpo_frames.rundir import DirKind, RunRecord

__all__ = ["DPOTrajectoryBuilder", "RunFrames", "build_run_frames"]

logger = logging.getLogger("dpo_frames.nat")

DEFAULT_OUTPUT_DIR = Path(FinetuneConfig.model_fields["output_dir"].default)
"""NAT's default finetuning ``output_dir``: where a builder that was never initialized writes."""


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
    strip_echoed_output: bool = True
    echoed_outputs: int = 0
    """Candidates whose prompt ended with their own answer (stripped before pairing when ``strip_echoed_output``)."""
    reused_step_ids: int = 0
    """Candidates whose step UUID another candidate of the example carries too, with other data (kept)."""

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
            extra={
                "items": self.items,
                "workflow_interrupted": self.interrupted,
                "strip_echoed_output": self.strip_echoed_output,
                "echoed_outputs": self.echoed_outputs,
                "reused_step_ids": self.reused_step_ids,
            },
        )

    def stats(self) -> dict[str, Any]:
        """The run's statistics as the builder's progress log and metrics carry them: the reference's
        keys (``total_*``, ``skipped_*``) and dpo_frames' own."""
        s = self.pair_stats
        examples = self.pairs["example_id"].n_unique() if self.pairs.height else 0
        return {
            "run_id": self.run_id,
            "total_examples": examples,
            "total_turns": s.turns,
            "total_candidates": self.candidates.height,
            "total_pairs": self.pairs.height,
            "total_trajectories": self.pairs.height,
            "skipped_single_candidate": s.single_candidate_turns,
            "skipped_score_diff": s.below_margin_pairs,
            "echoed_outputs": self.echoed_outputs,
            "reused_step_ids": self.reused_step_ids,
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
    echoes = 0
    if config.strip_echoed_output:
        candidates, more, echoes = strip_echoes(candidates)
        if more.height:
            rejects = pl.concat([rejects, more])
    pairs, pair_stats = build_pairs(candidates, config.pair_config())
    return RunFrames(
        run_id=run_id,
        items=len(output.eval_input.eval_input_items),
        interrupted=getattr(output, "workflow_interrupted", False) is True,
        steps=int(summary["steps"].sum()),
        steps_by_type=summary.to_dicts(),
        candidates=candidates,
        rejects=rejects,
        pairs=pairs,
        pair_stats=pair_stats,
        config=config.pair_config(),
        strip_echoed_output=config.strip_echoed_output,
        echoed_outputs=echoes,
        reused_step_ids=reused_step_ids(candidates),
    )


def reused_step_ids(candidates: pl.DataFrame) -> int:
    """Candidates whose step UUID another candidate of the same run and example carries too (kept:
    workflows that set their own ids reuse them across turns; a true duplicate step is rejected)."""
    keyed = candidates.filter(pl.col("step_uuid").is_not_null())
    return int(keyed.select(pl.struct("run_id", "example_id", "step_uuid").is_duplicated().sum()).item())


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
        """The statistics of the last finished run (the reference's attribute)."""
        self._stats_by_run: dict[str, dict[str, Any]] = {}

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
        """Start the evaluation of run ``run_id`` in the background.

        Raises :class:`RunInProgressError` (a ``ValueError``) when that run is already in progress.
        """
        if run_id in self.evaluation_runs:
            raise RunInProgressError(f"Run {run_id} is already in progress (finalize it before starting it again)")
        rc = self.run_config.run_configuration if self.run_config is not None else None
        if rc is not None:
            check_outside_wiped_dir(self.run_dir(run_id), rc.config_file, "the finetuning output_dir")
        logger.info(
            "dpo_traj_builder: starting run %s (step %r, exhaustive=%s, min_score_diff=%g)",
            run_id,
            self.config.ttc_step_name,
            self.config.exhaustive_pairs,
            self.config.min_score_diff,
        )
        task = asyncio.create_task(self.run_eval(), name=f"dpo-eval-{run_id}")
        task.add_done_callback(lambda done: _log_evaluation_end(run_id, done))
        self.evaluation_runs[run_id] = task

    async def finalize(self, run_id: str, meta: dict | None = None) -> TrajectoryCollection:
        """Wait for the run, build and write its frames, return its trajectories.

        Raises :class:`UnknownRunError` (a ``ValueError``) for a run never started, and
        :class:`CollectionError` when the evaluation was interrupted (a workflow item failed);
        the frames of what it did produce are written first.
        """
        task = self.evaluation_runs.get(run_id)
        if task is None:
            raise UnknownRunError(f"No evaluation run found for run_id: {run_id} (call start_run first)")
        try:
            output = await task
        except Exception as exc:  # NAT's own failure (a dataset it cannot read, a config error): say where
            exc.add_note(f"the evaluation of run {run_id} failed{self._dataset_hint()}")
            raise
        finally:
            self.evaluation_runs.pop(run_id, None)
        frames = await asyncio.to_thread(build_run_frames, output, run_id, self.config)
        run_dir = self.run_dir(run_id)
        await asyncio.to_thread(write_run_frames, frames, run_dir)
        self._log_run(frames)
        self._metrics = self._stats_by_run[run_id] = frames.stats()
        if frames.interrupted:
            failed = _items_without_output(output)
            raise CollectionError(
                f"run {run_id}: the workflow failed on an item and NAT stopped the evaluation "
                f"({frames.candidates.height} candidates from {frames.items} items were collected"
                f"{'; items without output: ' + ', '.join(failed) if failed else ''}, NAT logged the workflow's "
                f"error; frames in {run_dir})",
                run_id=run_id,
                run_dir=str(run_dir),
            )
        self.runs[run_id] = frames
        return await asyncio.to_thread(pairs_to_collection, frames.pairs, run_id)

    def log_progress(self, run_id: str, metrics: dict[str, Any], output_dir: str | None = None) -> None:
        """Append ``metrics`` to ``dpo_trajectory_builder_{run_id}.jsonl``, with the builder's ``config``
        (always, as the reference) and the run's statistics once it is finalized."""
        out_dir = Path(output_dir) if output_dir else self._output_dir() / "dpo_trajectory_builder"
        run_stats = self._stats_by_run.get(run_id, self._metrics)
        entry = {
            "timestamp": datetime.now().isoformat(),
            "run_id": run_id,
            "config": self.config.pair_config().model_dump(mode="json"),
            **run_stats,
            **metrics,
        }
        append_line(out_dir / f"dpo_trajectory_builder_{run_id}.jsonl", json.dumps(entry, default=str))

    # --- helpers ---------------------------------------------------------------------------

    def run_dir(self, run_id: str) -> Path:
        """Where run ``run_id``'s frames are written."""
        return self._output_dir() / RUNS_DIR / run_id

    def _dataset_hint(self) -> str:
        """``"; its dataset: <file>"`` when the run configuration names one."""
        rc = self.run_config.run_configuration if self.run_config is not None else None
        dataset = getattr(rc, "dataset", None) if rc is not None else None
        if dataset is None and rc is not None:
            general = getattr(getattr(rc.config_file, "eval", None), "general", None)
            dataset = getattr(getattr(general, "dataset", None), "file_path", None)
        return f"; its dataset: {dataset}" if dataset else ""

    def _output_dir(self) -> Path:
        return Path(self.run_config.output_dir) if self.run_config is not None else DEFAULT_OUTPUT_DIR

    def _run_configuration(self) -> Any:
        if self.run_config is None or self.run_config.run_configuration is None:
            raise NatPluginError(
                "dpo_traj_builder has no run configuration: run it through `nat finetune` (or finetuning_main)"
            )
        return self.run_config.run_configuration

    def _log_run(self, frames: RunFrames) -> None:
        s = frames.pair_stats
        mismatch = s.prompt_mismatch_warning()
        logger.info(
            "dpo_traj_builder run %s: %d items, %d steps, %d candidates (%d rejected%s), %d turns, %d pairs "
            "(skipped: %s)%s%s; frames in %s",
            frames.run_id,
            frames.items,
            frames.steps,
            frames.candidates.height,
            frames.rejects.height,
            f": {frames.rejects_by_reason}" if frames.rejects.height else "",
            s.turns,
            s.pairs,
            s.skipped() or "none",
            f"; {frames.echoed_outputs} echoed answers stripped from prompts" if frames.echoed_outputs else "",
            f"; prompt mismatch: {s.prompt_mismatch_turns} turns, {s.cross_prompt_pairs} pairs not made "
            f"({s.prompt_mismatch_share:.0%})"
            if mismatch
            else "",
            frames.run_dir,
        )
        if frames.echoed_outputs:
            logger.warning(
                "dpo_traj_builder run %s: %d of %d candidate steps had their own answer as the last message of their "
                "prompt (the conversation recorded after the model answered): stripped before pairing and export "
                "(strip_echoed_output: false keeps prompts as recorded)",
                frames.run_id,
                frames.echoed_outputs,
                frames.candidates.height + frames.rejects.height,
            )
        if mismatch:
            logger.warning("dpo_traj_builder run %s: %s", frames.run_id, mismatch)
        if frames.candidates.height == 0:
            logger.warning(
                "dpo_traj_builder run %s: no TTC_END step named %r was found; does the workflow emit "
                "them under this name?",
                frames.run_id,
                self.config.ttc_step_name,
            )


def _items_without_output(output: EvaluationRunOutput, limit: int = 5) -> list[str]:
    """The ids of the items the workflow produced nothing for (where an interrupted evaluation failed)."""
    items = getattr(getattr(output, "eval_input", None), "eval_input_items", None) or []
    failed = [str(i.id) for i in items if not getattr(i, "output_obj", None) and not getattr(i, "trajectory", None)]
    return failed[:limit] + ([f"... ({len(failed) - limit} more)"] if len(failed) > limit else [])


def _log_evaluation_end(run_id: str, task: asyncio.Task[EvaluationRunOutput]) -> None:
    """Log how a run's evaluation ended, as soon as it does (the reference's callback)."""
    if task.cancelled():
        logger.info("dpo_traj_builder: evaluation of run %s was cancelled", run_id)
    elif (exc := task.exception()) is not None:
        logger.error("dpo_traj_builder: evaluation of run %s failed: %s", run_id, exc)
    else:
        logger.info("dpo_traj_builder: evaluation of run %s completed", run_id)
