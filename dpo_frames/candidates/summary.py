"""Steps counted by event type and name: with the rejects, every step is accounted for."""

from __future__ import annotations

import polars as pl

from dpo_frames.candidates.rules import DEFAULT_STEP_NAME


def summarize_steps(steps: pl.DataFrame | pl.LazyFrame, step_name: str = DEFAULT_STEP_NAME) -> pl.DataFrame:
    """Count steps by event type and name, marking which are candidate steps.

    Together with the rejects frame this accounts for every step: a step either is a
    candidate step (``TTC_END`` named ``step_name``: a candidate or a reject), or of
    another type or name (counted here), or unparsable (a reject).

    Example:
        >>> import dpo_frames
        >>> steps = dpo_frames.read_steps([{"payload": {"event_type": "LLM_END", "name": "gpt"}}])
        >>> dpo_frames.summarize_steps(steps).rows()
        [('LLM_END', 'gpt', 1, False)]
    """
    lf = steps.lazy() if isinstance(steps, pl.DataFrame) else steps
    return summary_of_counts(lf.group_by("event_type", "name").agg(steps=pl.len()).collect(), step_name)


def summary_of_counts(counts: pl.DataFrame, step_name: str) -> pl.DataFrame:
    """Mark candidate steps and order a (event_type, name, steps) count frame."""
    return counts.with_columns(candidate_step=(pl.col("event_type") == "TTC_END") & (pl.col("name") == step_name)).sort(
        "steps", "event_type", "name", descending=[True, False, False], nulls_last=True
    )
