"""Generated candidates for the distributed tests: duplicates, ties, NaN and null scores, message
prompts, turns scattered over files and row groups (so the shuffle and the global row matter)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from dpo_frames import schema


def candidates(turns: int, seed: int = 0) -> pl.DataFrame:
    """About ``3.5 * turns`` candidates in shuffled order.

    Prompts repeat every 400 turns and responses come from eight, so the same (prompt,
    chosen, rejected) occurs in many turns: which duplicate the dataset keeps depends on
    the input order.
    """
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 7, turns)
    turn = np.repeat(np.arange(turns), sizes)
    n = len(turn)
    index = np.arange(n) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    score = np.round(rng.random(n) * 4) / 4
    score[rng.random(n) < 0.02] = np.nan
    frame = pl.DataFrame(
        {
            "turn": turn,
            "ci": index,
            "score": score,
            "answer": rng.integers(0, 8, n),
            "null_score": rng.random(n) < 0.01,
            "messages": (turn % 7) == 0,
            "no_example": (turn % 11) == 0,
        }
    )
    prompt = pl.format("prompt {}", pl.col("turn") % 400)
    messages = pl.when("messages").then(pl.concat_list(pl.struct(role=pl.lit("user"), content=prompt)))
    frame = frame.select(
        run_id=pl.format("run-{}", pl.col("turn") % 2),
        example_id=pl.when(~pl.col("no_example")).then(pl.format("ex{}", pl.col("turn") // 3)),
        turn_id=pl.format("turn{}", "turn"),
        turn_index=pl.col("turn") % 4,
        candidate_index=pl.col("ci"),
        prompt_text=prompt,
        prompt_messages=messages.cast(schema.MESSAGES),
        response=pl.format("answer {}", "answer"),
        score=pl.when(~pl.col("null_score")).then("score"),
        step_uuid=pl.format("{}-{}", "turn", "ci"),
        metadata=pl.lit(None, dtype=pl.String),
    )
    return frame[rng.permutation(n)]


def write_files(frame: pl.DataFrame, directory: Path, files: int = 3, row_group_size: int = 20_000) -> list[Path]:
    """``frame`` cut into ``files`` Parquet files of several row groups each, named in scan order."""
    directory.mkdir(parents=True, exist_ok=True)
    step = -(-frame.height // files)
    paths = []
    for i in range(files):
        path = directory / f"candidates-{i:02d}.parquet"
        frame.slice(i * step, step).write_parquet(path, row_group_size=row_group_size)
        paths.append(path)
    return paths
