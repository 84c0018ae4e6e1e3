"""The SFT and KTO formats written, read back and loaded with ``datasets.load_dataset`` in the columns
and types TRL documents (https://huggingface.co/docs/trl/dataset_formats): prompt-completion and
conversational ``messages`` for ``SFTTrainer``, ``prompt``/``completion``/``label`` (bool) for ``KTOTrainer``."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

import dpo_frames
from dpo_frames.dataset import RECIPES, to_records, write_dataset
from dpo_frames.errors import PromptContextError
from tests.data import EXAMPLE_OUTPUT

datasets = pytest.importorskip("datasets")  # the [hf] extra, in dev
MESSAGE = {"role": datasets.Value("string"), "content": datasets.Value("string")}


@pytest.fixture(scope="module")
def candidates() -> pl.DataFrame:
    steps = dpo_frames.read_steps(EXAMPLE_OUTPUT, run_id="r1")
    return dpo_frames.extract_candidates(steps)[0]


@pytest.fixture(scope="module")
def sft(candidates) -> pl.DataFrame:
    return dpo_frames.build_sft(candidates, dpo_frames.SftConfig(min_score=0.0))[0]


@pytest.fixture(scope="module")
def kto(candidates) -> pl.DataFrame:
    return dpo_frames.build_kto(candidates)[0]


def load(paths: dict[str, Path], cache: Path):
    files = {split: str(path) for split, path in paths.items()}
    return datasets.load_dataset("json", data_files=files, cache_dir=str(cache))


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def message_features(feature) -> bool:
    """A list of {role, content} strings, as datasets types a conversation."""
    inner = getattr(feature, "feature", None)
    return isinstance(feature, datasets.List) and dict(inner) == MESSAGE


@pytest.mark.parametrize("fmt", RECIPES["sft"])
def test_sft_formats_round_trip_and_load(sft, tmp_path, fmt):
    full = fmt == "customizer-sft"
    context = "last_message" if fmt == "trl-sft" else "refuse"  # plain: the last message, on purpose
    paths = write_dataset(sft, tmp_path / "out", fmt, use_full_message_history=full, prompt_context=context)
    loaded = load(paths, tmp_path / "cache")
    assert set(loaded) == {"train", "validation"}
    for split, path in paths.items():
        part = sft.filter(pl.col("split") == split)
        records = read(path)
        assert len(records) == part.height == loaded[split].num_rows > 0
        for record, row in zip(records, part.iter_rows(named=True), strict=True):
            if fmt == "trl-sft":
                assert record == {"prompt": row["prompt_text"], "completion": row["completion"]}
            else:  # messages: the whole prompt, then the answer as the assistant's last message
                assert record["messages"] == [
                    *row["prompt_messages"],
                    {"role": "assistant", "content": row["completion"]},
                ]
    features = loaded["train"].features
    if fmt == "trl-sft":
        assert features == datasets.Features(
            {"prompt": datasets.Value("string"), "completion": datasets.Value("string")}
        )
    else:
        assert list(features) == ["messages"] and message_features(features["messages"])
        assert all(m[-1]["role"] == "assistant" for m in loaded["train"]["messages"])


def test_plain_sft_of_conversations_refuses_or_truncates_on_purpose(sft, tmp_path):
    for fmt in ("trl-sft", "customizer-sft"):
        with pytest.raises(PromptContextError, match="more than one message"):
            write_dataset(sft, tmp_path / fmt, fmt)
    paths = write_dataset(sft, tmp_path / "c", "customizer-sft", prompt_context="last_message")
    assert set(paths) == {"train", "validation"} and paths["train"].parent.name == "training"
    assert read(paths["train"])[0].keys() == {"prompt", "completion"}


@pytest.mark.parametrize("fmt", RECIPES["kto"])
def test_kto_formats_round_trip_and_load(kto, tmp_path, fmt):
    conversational = fmt.endswith("conversational")
    context = "refuse" if conversational else "last_message"
    paths = write_dataset(kto, tmp_path / "out", fmt, prompt_context=context)
    loaded = load(paths, tmp_path / "cache")
    for split, path in paths.items():
        part = kto.filter(pl.col("split") == split)
        for record, row in zip(read(path), part.iter_rows(named=True), strict=True):
            assert record["label"] is row["label"]
            if conversational:
                assert record["prompt"] == row["prompt_messages"]
                assert record["completion"] == [{"role": "assistant", "content": row["completion"]}]
            else:
                assert (record["prompt"], record["completion"]) == (row["prompt_text"], row["completion"])
        assert loaded[split]["label"] == part["label"].to_list()
    features = loaded["train"].features
    assert list(features) == ["prompt", "completion", "label"] and features["label"] == datasets.Value("bool")
    if conversational:
        assert message_features(features["prompt"]) and message_features(features["completion"])
    else:
        assert features["prompt"] == features["completion"] == datasets.Value("string")
    assert set(loaded["train"]["label"]) == {True, False}


def test_an_sft_format_refuses_undesirable_completions(kto, tmp_path):
    with pytest.raises(ValueError, match="labelled undesirable"):
        write_dataset(kto, tmp_path, "trl-sft-conversational")


def test_recipes_take_their_own_frames(sft, tmp_path):
    with pytest.raises(dpo_frames.SchemaError, match="missing column"):
        write_dataset(sft, tmp_path, "trl-conversational")  # a DPO format needs pairs
    with pytest.raises(ValueError, match="no reward fields"):
        to_records(sft, "trl-sft-conversational", rewards=True)
