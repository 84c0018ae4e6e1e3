"""``hyperparameters.training_type: sft``: the NAT components build and upload best-of-n SFT data.

The trainer builds the dataset with :func:`~dpo_frames.build_sft` on the candidates of its
collection runs, under the builder's ``sft:`` rules (:class:`~dpo_frames.SftConfig`:
``min_score``, ``min_margin``) and its own ``deduplicate_pairs``, ``max_pairs`` (the cap on
records) and ``seed``; the adapter writes ``customizer-sft`` records where it writes DPO files
(``{dataset_output_dir}/{run_id}/training_file.jsonl`` and ``validation_file.jsonl``, beside them
``completions.parquet`` and a record of recipe ``sft``) and submits an ``sft`` job. With
``use_full_message_history: false`` a prompt keeps its last message only (the reference's
behaviour), said in a warning when prompts of several messages lose context; with ``true`` the
records are ``messages`` (the whole conversation, then the answer).

An adapter given trajectories by another trainer rebuilds the candidates from the ``DPOItem`` pairs
(:func:`pairs_to_candidates`: a candidate's score is the one its pair's metadata carries) and keeps
the best of each turn (the default rules).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Final, Literal

import polars as pl

from dpo_frames import rundir, schema
from dpo_frames._atomic import atomic_dir
from dpo_frames.dataset import PromptContext, SftStats
from dpo_frames.dataset.completion_formats import to_customizer_sft_records
from dpo_frames.dataset.writers import checked_dataset, export_context, write_jsonl
from dpo_frames.errors import EmptyDatasetError
from dpo_frames.hashing import prompt_hash, xxh3
from dpo_frames.layout import REFERENCE_FILES
from dpo_frames.rundir import DatasetInfo, DirKind, RunRecord

__all__ = [
    "SFT_FORMAT",
    "check_not_empty",
    "no_sft_records",
    "pairs_to_candidates",
    "sft_hyperparameters",
    "write_sft_dir",
]

logger = logging.getLogger("dpo_frames.nat")

SFT_FORMAT: Final[Literal["customizer-sft"]] = "customizer-sft"
"""The format of an SFT job's files: ``{"prompt", "completion"}``, or ``{"messages"}`` with the full history."""


def no_sft_records(run_id: str, stats: SftStats) -> str:
    """Why an SFT build gave nothing, with the settings that decided it (the message of the empty result)."""
    cfg = stats.config
    return (
        f"No SFT records for run {run_id}: none of the {stats.prompt_groups} turns of {stats.candidates} candidates "
        f"passed the SFT rules (dpo_traj_builder sft: min_score={cfg.min_score}, min_margin={cfg.min_margin}; "
        f"below min_score: {stats.below_min_score}, below min_margin: {stats.below_margin}, alone with a margin "
        f"asked: {stats.single_candidate_skipped}, candidates without a usable score or text: "
        f"{stats.invalid_candidates}); nothing to train on"
    )


def sft_hyperparameters(hyperparameters: dict[str, Any]) -> dict[str, Any]:
    """The job's hyperparameters for an SFT job: the ``dpo`` block is DPO's and is not sent."""
    return {key: value for key, value in hyperparameters.items() if key != "dpo"}


def pairs_to_candidates(pairs: pl.DataFrame) -> pl.DataFrame:
    """The candidates a pairs frame shows: each pair's chosen and rejected response with its score and
    index, once per turn and prompt (a foreign producer's missing turn id is one turn per example).

    A pair whose metadata carries no scores (the reference's trajectories from other producers) still
    says which response is preferred: its chosen response counts as score 1, its rejected one as 0
    (counted in a warning); a response chosen in one pair and rejected in another keeps the first.

    Example:
        >>> import polars as pl
        >>> pairs = pl.DataFrame({"run_id": "r", "example_id": "q", "turn_id": "t", "prompt_text": "2+2?",
        ...     "prompt_messages": None, "chosen_response": ["4", "4"], "rejected_response": ["5", "6"],
        ...     "chosen_score": 1.0, "rejected_score": [0.5, 0.0], "score_diff": None, "chosen_index": 0,
        ...     "rejected_index": [1, 2], "reward": 1.0, "pair_id": ["a", "b"]})
        >>> pairs_to_candidates(pairs).select("response", "score").rows()
        [('4', 1.0), ('5', 0.5), ('6', 0.0)]
    """
    frame = schema.conform(pairs, schema.PAIRS, "pairs")
    unscored = int(frame.select(pl.col("chosen_score").is_null() | pl.col("rejected_score").is_null()).sum().item())
    if unscored:
        logger.warning(
            "%d of %d pairs carry no chosen_score/rejected_score in their metadata: for SFT their chosen response "
            "counts as score 1 and their rejected one as 0",
            unscored,
            frame.height,
        )

    def side(which: str, unknown: float) -> pl.DataFrame:
        return frame.select(
            "run_id",
            "example_id",
            pl.col("turn_id").fill_null(""),
            turn_index=pl.lit(None, pl.Int64),
            candidate_index=f"{which}_index",
            prompt_text="prompt_text",
            prompt_messages="prompt_messages",
            response=f"{which}_response",
            score=pl.col(f"{which}_score").fill_null(unknown),
            step_uuid=pl.lit(None, pl.String),
            metadata=pl.lit(None, pl.String),
        )

    both = pl.concat([side("chosen", 1.0), side("rejected", 0.0)])
    keys = both.select(*schema.TURN_KEYS, rh=xxh3(pl.col("response"))).with_columns(ph=prompt_hash(both))
    first = keys.select(pl.struct(pl.all()).is_first_distinct()).to_series()
    return schema.conform(both.filter(first), schema.CANDIDATES, "candidates")


def write_sft_dir(
    completions: pl.DataFrame,
    out: Path,
    *,
    run_id: str,
    stats: SftStats,
    use_full_message_history: bool,
) -> dict[str, Path]:
    """The local SFT dataset directory (blocking): the reference's two files of ``customizer-sft`` records,
    ``completions.parquet`` and a record of recipe ``sft`` (the selection and what was done to prompts)."""
    frame = checked_dataset(completions, "completions")
    context = PromptContext.REFUSE if use_full_message_history else PromptContext.LAST_MESSAGE
    kept = export_context(frame, SFT_FORMAT, use_full_message_history=use_full_message_history, prompt_context=context)
    if kept.truncated_prompts:
        logger.warning(
            "run %s: use_full_message_history is false, so %d of %d SFT prompts of several messages keep only their "
            "last message, as the reference does (%d records collapse into others); use_full_message_history: true "
            "writes messages records with the whole conversation",
            run_id,
            kept.truncated_prompts,
            kept.records,
            kept.collapsed_records,
        )
    records = to_customizer_sft_records(frame, use_full_message_history=use_full_message_history)
    files = {split: rel.as_posix() for split, rel in REFERENCE_FILES.items()}
    with atomic_dir(out) as tmp:
        for split, rel in REFERENCE_FILES.items():
            write_jsonl(records.filter(frame["split"] == split), tmp / rel)
        frames = rundir.write_frames(tmp, completions=frame)
        info = DatasetInfo(
            format=SFT_FORMAT,
            recipe="sft",
            stats=stats.split,
            files=files,
            options={"use_full_message_history": use_full_message_history, "prompt_context": context.value},
            selection=stats,
            context=kept,
        )
        rundir.write_record(
            tmp,
            RunRecord(
                kind=DirKind.DATASET,
                producer="nemo_customizer_trainer_adapter",
                run_ids=sorted({r for r in frame["run_id"].unique().to_list() if r is not None}),
                candidates=stats.candidates,
                dataset=info,
                frames=rundir.frame_entries(frames),
                extra={"training_run_id": run_id},
            ),
        )
    return {split: out / rel for split, rel in files.items()}


def check_not_empty(completions: pl.DataFrame, run_id: str, stats: SftStats) -> None:
    """Raise :class:`EmptyDatasetError` (naming the settings) when the SFT build kept nothing."""
    if completions.height == 0:
        raise EmptyDatasetError(no_sft_records(run_id, stats))
