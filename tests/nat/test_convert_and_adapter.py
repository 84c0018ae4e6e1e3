"""Pairs frame <-> NAT trajectories, and the adapter on its own (NAT's TrainerAdapter
interface with a plain TrajectoryCollection) against the emulator."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import polars as pl
import pytest
from nat.data_models.finetuning import (
    DPOItem,
    EpisodeItem,
    FinetuneConfig,
    OpenAIMessage,
    TrainingJobRef,
    Trajectory,
    TrajectoryCollection,
)

import dpo_frames
from dpo_frames.customizer import JobStatusDetails
from dpo_frames.emulator import Emulator, EmulatorConfig
from dpo_frames.nat import EmptyDatasetError, NeMoCustomizerTrainerAdapterConfig, TrainingJobError
from dpo_frames.nat.adapter import NeMoCustomizerTrainerAdapter, to_training_status
from dpo_frames.nat.convert import collection_to_pairs, pairs_to_collection

from ._helpers import EXAMPLE

REFERENCE_METADATA = {
    "dpo_type",
    "score_diff",
    "example_id",
    "turn_id",
    "chosen_score",
    "rejected_score",
    "chosen_index",
    "rejected_index",
}


@pytest.fixture(scope="module")
def pairs() -> pl.DataFrame:
    steps = dpo_frames.read_steps(EXAMPLE / "data" / "workflow_output.json", run_id="r1")
    candidates, _ = dpo_frames.extract_candidates(steps)
    frame, _ = dpo_frames.build_pairs(candidates, dpo_frames.PairConfig(min_score_diff=0.05))
    return frame


def test_trajectories_are_grouped_by_example_with_the_reference_metadata(pairs: pl.DataFrame) -> None:
    collection = pairs_to_collection(pairs, "r1")
    examples = pairs["example_id"].unique(maintain_order=True).to_list()
    assert [group[0].metadata["example_id"] for group in collection.trajectories] == examples
    assert sum(map(len, collection.trajectories)) == pairs.height
    first = collection.trajectories[0][0]
    assert REFERENCE_METADATA | {"pair_id", "run_id"} == first.metadata.keys()
    assert first.metadata["dpo_type"] == "preference_pair" and first.reward == pairs["reward"][0]
    (item,) = first.episode
    assert isinstance(item, DPOItem) and [m.role for m in item.prompt] == ["system", "user"]
    # Built without validation, yet exactly what validation would accept.
    assert TrajectoryCollection.model_validate(collection.model_dump(mode="json")) == collection


def test_round_trip_is_exact(pairs: pl.DataFrame) -> None:
    assert collection_to_pairs(pairs_to_collection(pairs, "r1")).equals(pairs)


def test_foreign_collections_get_content_ids_and_non_dpo_items_are_counted(caplog) -> None:
    string_prompt = Trajectory(episode=[DPOItem(prompt="2+2?", chosen_response="4", rejected_response="5")], reward=1.0)
    message_prompt = Trajectory(
        episode=[
            DPOItem(prompt=[OpenAIMessage(role="user", content="2+2?")], chosen_response="4", rejected_response="5")
        ],
        reward=0.5,
    )
    other = Trajectory(episode=[EpisodeItem(role="user", content="hi")], reward=0.0)
    with caplog.at_level(logging.WARNING, logger="dpo_frames.nat"):
        frame = collection_to_pairs(
            TrajectoryCollection(trajectories=[[string_prompt, other], [message_prompt]], run_id="x")
        )
    assert "1 episode item" in caplog.text
    assert frame["example_id"].to_list() == ["group_0", "group_1"]
    assert frame["prompt_messages"].to_list() == [None, [{"role": "user", "content": "2+2?"}]]
    ids = frame["pair_id"].to_list()  # a string prompt and a one-message prompt are different prompts
    assert all(len(i) == 16 for i in ids) and ids[0] != ids[1]
    with pytest.raises(EmptyDatasetError):
        collection_to_pairs(TrajectoryCollection(trajectories=[[other]], run_id="x"))


@pytest.mark.parametrize(
    "platform, nat",
    [
        ("created", "pending"),
        ("pending", "pending"),
        ("running", "running"),
        ("cancelling", "running"),
        ("completed", "completed"),
        ("failed", "failed"),
        ("cancelled", "canceled"),
        ("mystery", "running"),
    ],
)
def test_platform_statuses_map_to_nat_statuses(platform: str, nat: str) -> None:
    ref = TrainingJobRef(run_id="r", backend="nemo-customizer", metadata={"job_id": "j"})
    status = to_training_status(ref, JobStatusDetails(status=platform, percentage_done=40.0, epochs_completed=1))
    assert (status.status.value, status.progress, status.metadata["job_id"]) == (nat, 40.0, "j")
    assert status.message == f"Status: {platform}, Epochs: 1"


async def test_adapter_interface_with_a_plain_collection(tmp_path: Path, pairs: pl.DataFrame) -> None:
    config = NeMoCustomizerTrainerAdapterConfig(
        entity_host="http://placeholder",
        datastore_host="http://placeholder",
        namespace="team",
        customization_config="meta/llama-3.2-1b-instruct@v1.0.0+A100",
        poll_interval_seconds=0.02,
        validation_fraction=0.5,
    )
    async with Emulator(EmulatorConfig(tick_seconds=0.01)) as emu:
        config = config.model_copy(update={"entity_host": emu.url, "datastore_host": emu.url})
        adapter = NeMoCustomizerTrainerAdapter(config)
        try:
            await adapter.initialize(FinetuneConfig(output_dir=tmp_path))
            assert await adapter.is_healthy()
            assert "team" in emu.state.namespaces
            ref = await adapter.submit(pairs_to_collection(pairs, "plain-run"))
            early = await adapter.status(ref)
            final = await adapter.wait_until_complete(ref)
            again = await adapter.submit(pairs_to_collection(pairs, "plain-run"))  # same run id: same job
        finally:
            await adapter.aclose()
        unreachable = NeMoCustomizerTrainerAdapter(config.model_copy(update={"entity_host": "http://127.0.0.1:9"}))
        try:
            assert not await unreachable.is_healthy()
        finally:
            await unreachable.aclose()
        (job,) = emu.state.jobs.values()
        records = [
            json.loads(line)
            for name in ("training/training_file.jsonl", "validation/validation_file.jsonl")
            for line in emu.state.file_bytes("team/nat-dpo", name).decode().splitlines()
        ]
    assert early.status.value in ("pending", "running") and final.status.value == "completed"
    assert again.metadata["job_id"] == ref.metadata["job_id"] == job["id"] and again.metadata["reused_job"]
    dataset_dir = tmp_path / "datasets" / "plain-run"  # default: under the finetuning output_dir, kept
    assert ref.metadata["dataset_dir"] == str(dataset_dir) and (dataset_dir / "dataset.parquet").is_file()
    assert len(records) == pairs.height
    assert all(isinstance(r["prompt"], str) for r in records)  # use_full_message_history: false -> last message
    assert ref.metadata["validation_pairs"] > 0 and ref.metadata["train_pairs"] > 0


async def test_a_single_pair_fills_both_files(tmp_path: Path, pairs: pl.DataFrame) -> None:
    async with Emulator(EmulatorConfig(tick_seconds=0.01)) as emu:
        adapter = NeMoCustomizerTrainerAdapter(
            NeMoCustomizerTrainerAdapterConfig(
                entity_host=emu.url,
                datastore_host=emu.url,
                namespace="team",
                customization_config="meta/llama-3.2-1b-instruct@v1.0.0+A100",
                dataset_output_dir=str(tmp_path / "ds"),
                poll_interval_seconds=0.02,
            )
        )
        try:
            await adapter.initialize(FinetuneConfig(output_dir=tmp_path))
            ref = await adapter.submit(pairs_to_collection(pairs.head(1), "one"))
            final = await adapter.wait_until_complete(ref)
        finally:
            await adapter.aclose()
    assert final.status.value == "completed"
    one = tmp_path / "ds" / "one"
    files = [one / "training_file.jsonl", one / "validation_file.jsonl"]  # the reference's local layout
    assert files[0].read_text() == files[1].read_text() != ""


async def test_a_job_that_cannot_be_followed_is_a_clear_error(tmp_path: Path) -> None:
    async with Emulator(EmulatorConfig(tick_seconds=0.01)) as emu:
        adapter = NeMoCustomizerTrainerAdapter(
            NeMoCustomizerTrainerAdapterConfig(
                entity_host=emu.url, datastore_host=emu.url, namespace="team", customization_config="x"
            )
        )
        ref = TrainingJobRef(
            run_id="r", backend="nemo-customizer", metadata={"job_id": "cust-missing", "dataset_dir": str(tmp_path)}
        )
        try:
            with pytest.raises(TrainingJobError, match=f"cannot follow job cust-missing.*404.*kept in {tmp_path}"):
                await adapter.wait_until_complete(ref)
        finally:
            await adapter.aclose()
