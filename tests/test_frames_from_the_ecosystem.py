"""Every public function that takes a frame takes Polars, pandas and Arrow frames alike, and refuses
anything else with a clear error (not an AttributeError from deep inside)."""

from __future__ import annotations

import polars as pl
import pytest

import dpo_frames
from dpo_frames.explore import sql
from tests.conftest import EXAMPLE_OUTPUT


@pytest.fixture(scope="module")
def frames() -> dict[str, pl.DataFrame]:
    steps = dpo_frames.read_steps(EXAMPLE_OUTPUT, run_id="r")
    candidates, _ = dpo_frames.extract_candidates(steps)
    pairs, _ = dpo_frames.build_pairs(candidates)
    dataset, _ = dpo_frames.finalize_dataset(pairs)
    return {"steps": steps, "candidates": candidates, "pairs": pairs, "dataset": dataset}


KINDS = {
    "polars": lambda f: f,
    "lazy": lambda f: f.lazy(),
    "pandas": lambda f: f.to_pandas(),
    "arrow": lambda f: f.to_arrow(),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_stage_takes_the_frame_in_any_kind(frames, kind, tmp_path):
    convert = KINDS[kind]
    assert dpo_frames.read_steps(convert(frames["steps"])).equals(frames["steps"])
    assert dpo_frames.extract_candidates(convert(frames["steps"]))[0].equals(frames["candidates"])
    assert dpo_frames.build_pairs(convert(frames["candidates"]))[0].equals(frames["pairs"])
    assert dpo_frames.finalize_dataset(convert(frames["pairs"]))[0].equals(frames["dataset"])
    written = dpo_frames.write_dataset(convert(frames["dataset"]), tmp_path, "trl-conversational")
    assert written["train"].read_text().count("\n") == frames["dataset"]["split"].eq("train").sum()
    report = dpo_frames.quality_checks(convert(frames["candidates"]), convert(frames["pairs"]))
    assert report.pairs == frames["pairs"].height
    assert sql.query("SELECT count(*) AS n FROM pairs", pairs=convert(frames["pairs"])).item() == 60


@pytest.mark.parametrize("bad", [[{"a": 1}], {"run_id": ["r"]}, "not a frame", 3])
def test_anything_else_is_refused_clearly(bad):
    with pytest.raises(dpo_frames.SchemaError, match="expected a frame"):
        dpo_frames.build_pairs(bad)
    with pytest.raises(dpo_frames.SchemaError, match="expected a frame"):
        dpo_frames.finalize_dataset(bad)
    with pytest.raises(dpo_frames.SchemaError, match="expected a frame"):
        dpo_frames.write_dataset(bad, "unused")
