"""Steps -> candidates + rejects: one entry point, two paths (frames in DuckDB, objects in Python)."""

from __future__ import annotations

import logging
from os import PathLike
from typing import Any

import polars as pl

from dpo_frames import schema
from dpo_frames.candidates.echo import strip_echoes
from dpo_frames.candidates.rules import DEFAULT_STEP_NAME
from dpo_frames.steps import SourceKind, read_steps, source_kind

logger = logging.getLogger("dpo_frames")


def extract_candidates(
    steps: Any, step_name: str = DEFAULT_STEP_NAME, *, run_id: str | None = None, strip_echoed_output: bool = True
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Turn steps into the candidates frame and the rejects frame.

    ``steps`` is the steps frame, or any source :func:`~dpo_frames.read_steps` takes.
    In-memory NAT objects (an ``EvaluationRunOutput``, an iterable of steps) take a
    faster path that never serializes step data to JSON (same output); ``run_id`` fills
    the run id for sources that have none.

    Only ``TTC_END`` steps named ``step_name`` become candidates. Each of them that is
    malformed lands in ``rejects`` with a :class:`~dpo_frames.RejectReason` instead (first
    failing check wins), as does any row :func:`~dpo_frames.read_steps` could not parse as
    a step. Other steps are simply not candidates; :func:`~dpo_frames.summarize_steps`
    counts them.

    A message-list prompt keeps its messages in ``prompt_messages`` and its last
    message's content in ``prompt_text``; a string prompt has ``prompt_messages`` null.
    A non-string output (a number, an object) becomes its JSON text. A missing
    ``candidate_index`` is 0, as in NAT's reference builder.

    A message prompt that ends with the candidate's own answer (an assistant message equal
    to its output: the conversation recorded after the model answered) has that echo
    removed (:func:`~dpo_frames.candidates.echo.strip_echoes`, logged as a warning with the
    count); ``strip_echoed_output=False`` keeps prompts as recorded.

    Example:
        >>> import dpo_frames
        >>> steps = dpo_frames.read_steps([
        ...     {"example_id": "q1", "payload": {"event_type": "TTC_END", "name": "dpo_candidate_move",
        ...      "UUID": f"u{i}", "data": {"turn_id": "t0", "candidate_index": i, "score": s,
        ...      "input": [{"role": "user", "content": "2+2?"}], "output": o}}}
        ...     for i, (s, o) in enumerate([(1.0, "4"), (0.0, "5"), (None, "6")])])
        >>> candidates, rejects = dpo_frames.extract_candidates(steps)
        >>> candidates["response"].to_list(), rejects["reason"].to_list()
        (['4', '5'], ['missing score'])
    """
    candidates, rejects = _extract(steps, step_name, run_id)
    return without_echoes(candidates, rejects) if strip_echoed_output else (candidates, rejects)


def without_echoes(candidates: pl.DataFrame, rejects: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The candidates with echoed answers stripped from their prompts (a warning says how many),
    and the rejects with those whose prompt was nothing but the echo."""
    stripped, more, echoes = strip_echoes(candidates)
    warn_echoes(echoes, candidates.height, more.height)
    return stripped, pl.concat([rejects, more]) if more.height else rejects


def warn_echoes(echoes: int, candidates: int, rejected: int) -> None:
    """The warning :func:`without_echoes` gives: how many prompts had an echoed answer stripped."""
    if echoes:
        logger.warning(
            "%d of %d candidates had their own answer as the last message of their prompt (recorded after the "
            "model answered): stripped before pairing%s",
            echoes,
            candidates,
            f"; {rejected} had nothing else and are rejected (missing input)" if rejected else "",
        )


def _extract(steps: Any, step_name: str, run_id: str | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    if isinstance(steps, (str, PathLike)):
        if source_kind(steps) is not SourceKind.CANDIDATES_PARQUET:  # a step file: read in batches, never whole
            from dpo_frames.candidates.collect import collect_candidates

            got = collect_candidates(steps, step_name, run_id=run_id, strip_echoed_output=False)
            return got.candidates, got.rejects
        steps = read_steps(steps, run_id=run_id)  # says what a candidates file is for
    elif not schema.is_frame(steps):
        from dpo_frames.candidates.objects import candidates_from_objects

        return candidates_from_objects(steps, step_name, run_id)
    from dpo_frames.candidates.sql import candidates_from_frame

    frame = schema.collect_frame(steps, "steps")
    if run_id is not None:
        frame = frame.with_columns(pl.col("run_id").fill_null(run_id))
    return candidates_from_frame(frame, step_name)
