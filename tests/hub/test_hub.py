"""The Hugging Face bridge: every format as a typed DatasetDict with the rows of its JSONL files, and a push
through huggingface_hub to the emulator's Hub-compatible API that ``snapshot_download`` + ``load_dataset``
read back into the same rows, with a card that names the splits and tells the provenance."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

import dpo_frames
from dpo_frames.cli import cli
from dpo_frames.dataset import FORMATS, REGISTRY, write_dataset
from dpo_frames.emulator import Emulator, EmulatorConfig
from dpo_frames.errors import ConfigError
from tests.data import EXAMPLE_OUTPUT

datasets = pytest.importorskip("datasets")
hub = pytest.importorskip("huggingface_hub")
from dpo_frames.hub import push_to_hub, to_hf_dataset  # noqa: E402  (after the extra's check)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hub") / "run"
    assert CliRunner().invoke(cli, ["pairs", str(EXAMPLE_OUTPUT), "--out", str(out)]).exit_code == 0
    return out


@pytest.fixture(scope="module")
def frames(run: Path) -> dict[str, pl.DataFrame]:
    candidates = dpo_frames.read_frame(run, "candidates")
    return {
        "dpo": dpo_frames.finalize_dataset(dpo_frames.read_frame(run, "pairs"))[0],
        "sft": dpo_frames.build_sft(candidates)[0],
        "kto": dpo_frames.build_kto(candidates)[0],
    }


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    hub.utils.disable_progress_bars()
    with Emulator(EmulatorConfig()) as server:
        yield server


def jsonl_rows(paths: dict[str, Path]) -> dict[str, list[dict]]:
    return {split: [json.loads(line) for line in path.read_text().splitlines()] for split, path in paths.items()}


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_as_a_typed_dataset_dict_with_the_rows_of_its_files(frames, tmp_path, fmt):
    spec = REGISTRY[fmt]
    options = {"prompt_context": "last_message" if spec.plain_prompt else "refuse", "rewards": spec.rewards}
    splits = to_hf_dataset(frames[spec.recipe], fmt, **options)
    written = jsonl_rows(write_dataset(frames[spec.recipe], tmp_path, fmt, **options))
    assert set(splits) == {"train", "validation"}
    for split, rows in written.items():
        assert splits[split].to_list() == rows and len(rows) > 0
    features = splits["train"].features
    for name, feature in features.items():  # no large_string, no untyped column
        assert "large" not in str(feature) and "null" not in str(feature), (name, feature)
    if spec.recipe == "kto":
        assert features["label"] == datasets.Value("bool")


def test_the_default_format_is_the_recipes_conversational_one(frames):
    assert list(to_hf_dataset(frames["dpo"])["train"].features) == ["prompt", "chosen", "rejected"]
    assert list(to_hf_dataset(frames["sft"])["train"].features) == ["messages"]
    kto = to_hf_dataset(frames["kto"])["train"]
    assert list(kto.features) == ["prompt", "completion", "label"] and isinstance(kto[0]["prompt"], list)
    with pytest.raises(ConfigError, match="is sft data; trl-kto is a kto format"):
        to_hf_dataset(frames["sft"], "trl-kto")


def pull(emu: Emulator, repo_id: str, tmp_path: Path):
    local = hub.snapshot_download(
        repo_id, repo_type="dataset", endpoint=emu.hf_endpoint, local_dir=tmp_path / "snapshot", token=False
    )
    return Path(local), datasets.load_dataset(local, cache_dir=str(tmp_path / "cache"))


def test_a_pushed_sft_dataset_loads_back_into_the_same_rows(emu, run, tmp_path):
    exported = tmp_path / "sft"
    made = CliRunner().invoke(
        cli, ["dataset", str(run), "--format", "trl-sft-conversational", "--min-score", "0", "--out", str(exported)]
    )
    assert made.exit_code == 0, made.output
    pushed = CliRunner().invoke(cli, ["push", str(exported), "team/ttt-sft", "--endpoint", emu.hf_endpoint])
    assert pushed.exit_code == 0, pushed.output
    local, loaded = pull(emu, "team/ttt-sft", tmp_path)
    expected = to_hf_dataset(exported)
    for split in ("train", "validation"):
        assert loaded[split].to_list() == expected[split].to_list() and loaded[split].num_rows > 0
        assert loaded[split].features == expected[split].features
    card = (local / "README.md").read_text()
    record = dpo_frames.open_dir(exported).record
    assert "config_name: default" in card and "path: data/train-00000-of-00001.parquet" in card
    assert f"num_examples: {record.dataset.stats.train_pairs}" in card
    assert "## Where it came from" in card and str(run.resolve()) in card and "trl-sft-conversational" in card
    assert "## Quality checks" in card and "prompts on both sides of the split: 0" in card
    assert "SFTTrainer" in card and 'load_dataset("team/ttt-sft")' in card and "min_score" in card
    assert [r.status for r in emu.state.requests_to("/v1/hf/api/validate-yaml", "POST")][-1] == 200


def test_a_run_pushed_as_kto_and_as_dpo(emu, run, tmp_path):
    result = push_to_hub(run, "team/ttt-kto", format="trl-kto-conversational", endpoint=emu.hf_endpoint)
    assert result.recipe == "kto" and sorted(result.files) == sorted(
        ["README.md", "data/train-00000-of-00001.parquet", "data/validation-00000-of-00001.parquet"]
    )
    local, loaded = pull(emu, "team/ttt-kto", tmp_path / "kto")
    assert loaded["train"].features["label"] == datasets.Value("bool")
    assert loaded["train"].num_rows + loaded["validation"].num_rows == sum(result.rows.values())
    card = (local / "README.md").read_text()
    assert "KTOTrainer" in card and "desirable_weight=" in card and "class balance (train)" in card
    dpo = push_to_hub(run, "team/ttt-dpo", endpoint=emu.hf_endpoint)  # a run: pairs with default settings
    _, back = pull(emu, "team/ttt-dpo", tmp_path / "dpo")
    assert dpo.format == "trl-conversational" and back["validation"].num_rows == dpo.rows["validation"] > 0
    assert back["train"].to_list() == to_hf_dataset(run)["train"].to_list()


def test_push_errors(emu, run, tmp_path):
    with pytest.raises(dpo_frames.errors.PromptContextError):
        push_to_hub(run, "team/x", format="trl", endpoint=emu.hf_endpoint)  # system + user prompts, plain format
    refused = CliRunner().invoke(cli, ["push", str(run), "team/y", "--endpoint", "http://127.0.0.1:9/v1/hf"])
    assert refused.exit_code == 4 and "create_repo of dataset team/y" in refused.output
    bare = tmp_path / "bare"
    bare.mkdir()
    assert CliRunner().invoke(cli, ["push", str(bare), "team/z", "--endpoint", emu.hf_endpoint]).exit_code == 3
