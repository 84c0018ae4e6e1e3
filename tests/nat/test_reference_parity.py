"""The reference plugin's behaviour that callers rely on, as its own tests pin it
(NeMo-Agent-Toolkit ``packages/nvidia_nat_nemo_customizer/tests``), replayed against
dpo_frames' components: one section per numbered difference of issue 14.

Where the reference's tests use mocks, these use the real parts: NAT's own data models, a
real ``TrainerAdapter`` / ``TrajectoryBuilder`` subclass where a foreign component is the
point, and the emulator over loopback HTTP for the platform.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from nat.data_models.evaluate_runtime import EvaluationRunOutput
from nat.data_models.evaluator import EvalInput, EvalInputItem
from nat.data_models.finetuning import (
    DPOItem,
    FinetuneConfig,
    OpenAIMessage,
    TrainerAdapterConfig,
    TrainingJobRef,
    TrainingJobStatus,
    TrainingStatusEnum,
    Trajectory,
    TrajectoryBuilderConfig,
    TrajectoryCollection,
)
from nat.data_models.intermediate_step import (
    IntermediateStep,
    IntermediateStepPayload,
    IntermediateStepType,
    TTCEventData,
)
from nat.data_models.invocation_node import InvocationNode
from nat.finetuning.interfaces.trainer_adapter import TrainerAdapter
from nat.finetuning.interfaces.trajectory_builder import TrajectoryBuilder
from pydantic import BaseModel

from dpo_frames import rundir
from dpo_frames.emulator import Emulator, EmulatorConfig, FaultConfig, StagedFault
from dpo_frames.errors import (
    PlatformUnavailableError,
    RunInProgressError,
    TrainingJobError,
    TrainingStatusUnreadableError,
    UnknownJobError,
    UnknownRunError,
)
from dpo_frames.nat import DPOTrajBuilderConfig, NeMoCustomizerTrainerAdapterConfig, NeMoCustomizerTrainerConfig
from dpo_frames.nat.adapter import NeMoCustomizerTrainerAdapter
from dpo_frames.nat.builder import DPOTrajectoryBuilder
from dpo_frames.nat.trainer import NeMoCustomizerTrainer

CONFIG = "meta/llama-3.2-1b-instruct@v1.0.0+A100"
REQUEST_CLOCK = EmulatorConfig(clock="request", tick_seconds=1.0, job_steps=4, deployment_ready_after=3.0)
"""Deterministic time: every request moves the platform's clock one tick."""


# --------------------------------------------------------------------------- fixtures


def ttc_step(turn_id: str, index: int, score: float, prompt: Any, response: str, uuid: str | None = None):
    """A TTC_END step as the reference's conftest makes it: UUID ``test-uuid-{candidate_index}``."""
    data = TTCEventData(
        turn_id=turn_id, turn_index=0, candidate_index=index, score=score, input=prompt, output=response
    )
    payload = IntermediateStepPayload(
        event_type=IntermediateStepType.TTC_END,
        UUID=uuid or f"test-uuid-{index}",
        name="dpo_candidate_move",
        data=data,
        metadata={},
    )
    return IntermediateStep(
        parent_id="root",
        function_ancestry=InvocationNode(function_id="test-function-id", function_name="test_function"),
        payload=payload,
    )


def eval_output(*items: tuple[str, list[IntermediateStep]]) -> EvaluationRunOutput:
    inputs = [
        EvalInputItem(id=i, input_obj={}, expected_output_obj=None, full_dataset_entry={}, trajectory=steps)
        for i, steps in items
    ]
    return EvaluationRunOutput.model_construct(
        eval_input=EvalInput(eval_input_items=inputs), workflow_interrupted=False
    )


MULTI_TURN = [  # the reference's multi_turn_ttc_data: UUIDs test-uuid-0/1 reused in turn_1
    ttc_step("turn_0", 0, 0.9, "Turn 0 board", "Turn 0 Move A"),
    ttc_step("turn_0", 1, 0.7, "Turn 0 board", "Turn 0 Move B"),
    ttc_step("turn_1", 0, 0.8, "Turn 1 board", "Turn 1 Move A"),
    ttc_step("turn_1", 1, 0.6, "Turn 1 board", "Turn 1 Move B"),
    ttc_step("turn_1", 2, 0.4, "Turn 1 board", "Turn 1 Move C"),
]


def reference_builder(**overrides: Any) -> DPOTrajectoryBuilder:
    """The reference's dpo_config fixture, built as it is, never initialized."""
    config = DPOTrajBuilderConfig(
        ttc_step_name="dpo_candidate_move",
        exhaustive_pairs=True,
        min_score_diff=0.0,
        max_pairs_per_turn=None,
        reward_from_score_diff=True,
        require_multiple_candidates=True,
        **overrides,
    )
    return DPOTrajectoryBuilder(trajectory_builder_config=config)


def adapter_config(url: str, **extra: Any) -> NeMoCustomizerTrainerAdapterConfig:
    return NeMoCustomizerTrainerAdapterConfig(
        entity_host=url,
        datastore_host=url,
        namespace="test-namespace",
        customization_config=CONFIG,
        poll_interval_seconds=0.01,
        **extra,
    )


def collection(run_id: str, tag: str = "") -> TrajectoryCollection:
    """The reference's sample_trajectories (plus a third item, so both split files are filled)."""
    items = [
        DPOItem(
            prompt=[
                OpenAIMessage(role="system", content="You are a helpful assistant."),
                OpenAIMessage(role="user", content=f"What is 2+2?{tag}"),
            ],
            chosen_response="The answer is 4.",
            rejected_response="I don't know.",
        ),
        DPOItem(prompt=f"Simple prompt{tag}", chosen_response="Good response", rejected_response="Bad response"),
        DPOItem(prompt=f"Third prompt{tag}", chosen_response="Yes", rejected_response="No"),
    ]
    groups = [
        [Trajectory(episode=[item], reward=0.9, metadata={"example_id": f"ex_{i}"})] for i, item in enumerate(items)
    ]
    return TrajectoryCollection(trajectories=groups, run_id=run_id)


async def _done(value: Any) -> asyncio.Task:
    async def result() -> Any:
        return value

    task = asyncio.create_task(result())
    await task
    return task


# --------------------------------------------------------------------------- 1 and 9: error types and words


async def test_1_9_duplicate_start_run_is_a_value_error_with_the_reference_words() -> None:
    builder = reference_builder()
    builder.evaluation_runs["test_run"] = await _done(None)
    with pytest.raises(ValueError, match="Run test_run is already in progress") as info:
        await builder.start_run(run_id="test_run")
    assert isinstance(info.value, RunInProgressError)


async def test_1_9_finalize_of_an_unknown_run_is_a_value_error_with_the_reference_words() -> None:
    with pytest.raises(ValueError, match="No evaluation run found") as info:
        await reference_builder().finalize(run_id="unknown_run")
    assert isinstance(info.value, UnknownRunError)


async def test_1_9_an_unresolvable_job_reference_is_a_value_error_with_the_reference_words() -> None:
    async with Emulator(REQUEST_CLOCK) as emu:
        adapter = NeMoCustomizerTrainerAdapter(adapter_config(emu.url))
        try:
            with pytest.raises(ValueError, match="No training job found for run unknown-run") as info:
                await adapter.status(TrainingJobRef(run_id="unknown-run", backend="nemo-customizer"))
        finally:
            await adapter.aclose()
    assert isinstance(info.value, UnknownJobError)


async def test_1_9_an_empty_trajectory_collection_is_a_value_error_with_the_reference_words(tmp_path: Path) -> None:
    adapter = NeMoCustomizerTrainerAdapter(adapter_config("http://127.0.0.1:9", dataset_output_dir=str(tmp_path)))
    with pytest.raises(ValueError, match="No DPO items found"):
        await adapter.submit(TrajectoryCollection(trajectories=[], run_id="empty-run"))


# --------------------------------------------------------------------------- 2: lifecycle without initialize()


async def test_2_the_builder_works_without_initialize(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    builder = reference_builder()
    output = eval_output(("example_1", MULTI_TURN[:2]))

    async def run_eval() -> EvaluationRunOutput:
        return output

    builder.run_eval = run_eval  # type: ignore[method-assign]  # the reference's tests replace it the same way
    await builder.start_run(run_id="integration_test", meta={"epoch": 0})
    collected = await builder.finalize(run_id="integration_test")
    builder.log_progress(run_id="integration_test", metrics={"epoch": 0})

    assert collected.run_id == "integration_test" and sum(map(len, collected.trajectories)) == 1
    (trajectory,) = collected.trajectories[0]
    assert trajectory.metadata["dpo_type"] == "preference_pair" and isinstance(trajectory.episode[0], DPOItem)
    default = tmp_path / ".tmp/nat/finetuning"  # NAT's default finetuning output_dir, as the reference's paths
    assert rundir.open_dir(default / "runs" / "integration_test").record.candidates == 2
    (line,) = (
        (default / "dpo_trajectory_builder/dpo_trajectory_builder_integration_test.jsonl").read_text().splitlines()
    )
    assert json.loads(line)["total_pairs"] == 1


# --------------------------------------------------------------------------- 3: status by run id


async def test_3_status_and_wait_by_bare_run_id_remembered_and_after_a_restart(tmp_path: Path) -> None:
    bare = TrainingJobRef(run_id="test-run-123", backend="nemo-customizer")
    async with Emulator(REQUEST_CLOCK) as emu:
        first = NeMoCustomizerTrainerAdapter(adapter_config(emu.url, dataset_output_dir=str(tmp_path)))
        restarted = NeMoCustomizerTrainerAdapter(adapter_config(emu.url, dataset_output_dir=str(tmp_path)))
        try:
            await first.initialize(FinetuneConfig(output_dir=tmp_path / "finetune"))
            ref = await first.submit(collection("test-run-123"))
            early = await first.status(bare)  # remembered: the job this adapter submitted for the run
            # A new process knows nothing: the run's job is found on the platform by its run id.
            final = await restarted.wait_until_complete(bare)
            later = await restarted.status(bare)
        finally:
            await first.aclose()
            await restarted.aclose()
        (job_id,) = emu.state.jobs
    assert ref.metadata["job_id"] == job_id
    assert early.metadata["job_id"] == job_id and early.status in (
        TrainingStatusEnum.PENDING,
        TrainingStatusEnum.RUNNING,
    )
    assert final.status == TrainingStatusEnum.COMPLETED and final.metadata["job_id"] == job_id
    assert final.metadata["dataset_dir"] == str(tmp_path / "test-run-123")
    assert later.status == TrainingStatusEnum.COMPLETED


# --------------------------------------------------------------------------- 4: local files where the reference writes them


async def _submit_once(url: str, dataset_output_dir: Path, finetune_dir: Path) -> None:
    adapter = NeMoCustomizerTrainerAdapter(adapter_config(url, dataset_output_dir=str(dataset_output_dir)))
    try:
        await adapter.initialize(FinetuneConfig(output_dir=finetune_dir))
        await adapter.submit(collection("test-run-123"))
    finally:
        await adapter.aclose()


def test_4_local_files_are_the_reference_s_and_the_directory_opens_everywhere(tmp_path: Path) -> None:
    from tests.rundir.opens import assert_opens_everywhere, invoke

    with Emulator(REQUEST_CLOCK) as emu:
        asyncio.run(_submit_once(emu.url, tmp_path / "ds", tmp_path / "finetune"))
        uploaded = emu.state.file_bytes("test-namespace/nat-dpo", "training/training_file.jsonl")
        run_dir = tmp_path / "ds" / "test-run-123"
        for name in ("training_file.jsonl", "validation_file.jsonl"):
            first_line = json.loads((run_dir / name).read_text().splitlines()[0])
            assert first_line.keys() == {"prompt", "chosen_response", "rejected_response"}
        assert not (run_dir / "training").exists() and not (run_dir / "validation").exists()
        assert uploaded == (run_dir / "training_file.jsonl").read_bytes()  # the repository keeps Customizer's layout
        record = rundir.open_dir(run_dir).record
        assert record.dataset is not None
        assert record.dataset.files == {"train": "training_file.jsonl", "validation": "validation_file.jsonl"}
        assert all((run_dir / rel).is_file() for rel in record.dataset.files.values())
        assert_opens_everywhere(run_dir, tmp_path / "scratch", kind="dataset", frames={"dataset"})
        submitted = invoke("submit", run_dir, "--namespace", "other", "--dataset-name", "again", "--host", emu.url)
        assert submitted.exit_code == 0, submitted.output
        assert emu.state.file_bytes("other/again", "training/training_file.jsonl") == uploaded


# --------------------------------------------------------------------------- 5: progress files


def test_5_the_builder_progress_entry_always_carries_its_config(tmp_path: Path) -> None:
    builder = reference_builder()
    builder.log_progress(run_id="test_run", metrics={"custom_metric": 42}, output_dir=str(tmp_path / "logs"))
    entry = json.loads((tmp_path / "logs/dpo_trajectory_builder_test_run.jsonl").read_text())
    assert entry["run_id"] == "test_run" and entry["custom_metric"] == 42
    assert entry["config"]["ttc_step_name"] == "dpo_candidate_move"
    assert {"exhaustive_pairs", "min_score_diff", "max_pairs_per_turn"} <= entry["config"].keys()


class ForeignBuilderConfig(TrajectoryBuilderConfig, name="foreign_test_builder"):  # type: ignore[call-arg]
    pass


class ForeignAdapterConfig(TrainerAdapterConfig, name="foreign_test_adapter"):  # type: ignore[call-arg]
    pass


class ForeignBuilder(TrajectoryBuilder):
    """A trajectory builder of another plugin: NAT's interface, nothing else."""

    def __init__(self, collections: list[TrajectoryCollection]) -> None:
        super().__init__(trajectory_builder_config=ForeignBuilderConfig())
        self.collections = collections
        self.started: list[str] = []

    async def start_run(self, run_id: str, meta: dict | None = None) -> None:
        self.started.append(run_id)

    async def finalize(self, run_id: str, meta: dict | None = None) -> TrajectoryCollection:
        return self.collections.pop(0).model_copy(update={"run_id": run_id})

    def log_progress(self, run_id: str, metrics: dict[str, Any], output_dir: str | None = None) -> None:
        pass


class OtherBackendConfig(BaseModel):
    """Its own settings, under a common attribute name: ``validation_fraction`` 0 = the backend holds out data."""

    validation_fraction: float = 0.0


class PlainForeignAdapter(TrainerAdapter):
    """A trainer adapter of another backend: NAT's interface and nothing else."""

    def __init__(self) -> None:
        super().__init__(adapter_config=ForeignAdapterConfig())
        self.submitted: list[TrajectoryCollection] = []

    async def is_healthy(self) -> bool:
        return True

    async def submit(self, trajectories: TrajectoryCollection) -> TrainingJobRef:
        self.submitted.append(trajectories)
        return TrainingJobRef(run_id=trajectories.run_id, backend="other", metadata={"job_id": "other-1"})

    async def status(self, ref: TrainingJobRef) -> TrainingJobStatus:
        return TrainingJobStatus(run_id=ref.run_id, backend="other", status=TrainingStatusEnum.COMPLETED, progress=100)

    async def wait_until_complete(self, ref: TrainingJobRef, poll_interval: float = 10.0) -> TrainingJobStatus:
        return await self.status(ref)

    def log_progress(self, ref: TrainingJobRef, metrics: dict[str, Any], output_dir: str | None = None) -> None:
        pass


class ForeignAdapter(PlainForeignAdapter):
    """The same, with a ``config`` and a synchronous ``aclose`` of its own: none of the trainer's business."""

    def __init__(self) -> None:
        super().__init__()
        self.config = OtherBackendConfig()
        self.closed = 0

    def aclose(self) -> None:
        self.closed += 1


async def _trainer(tmp_path: Path, builder: TrajectoryBuilder, adapter: TrainerAdapter, **config: Any):
    trainer = NeMoCustomizerTrainer(trainer_config=NeMoCustomizerTrainerConfig(**config))
    await trainer.bind_components(builder, adapter)
    await trainer.initialize(FinetuneConfig(output_dir=tmp_path / "finetune"))
    return trainer


async def test_5_the_trainer_s_cleanup_resets_its_run_metrics(tmp_path: Path) -> None:
    builder = ForeignBuilder([collection("x", " a"), collection("x", " b")])
    trainer = await _trainer(tmp_path, builder, PlainForeignAdapter(), num_runs=2)
    (status,) = await trainer.run(num_epochs=1)
    before = await trainer.get_metrics("r")
    await trainer.cleanup()
    after = await trainer.get_metrics("r")
    assert status.status == TrainingStatusEnum.COMPLETED, status.message
    assert before["num_collection_runs"] == 2 and before["total_trajectory_groups"] == 6
    assert (after["num_collection_runs"], after["collection_runs"], after["total_trajectory_groups"]) == (0, [], 0)


async def test_6_any_trainer_adapter_is_used_through_nat_s_interface_only(tmp_path: Path) -> None:
    builder = ForeignBuilder([collection("x", " a"), collection("x", " b")])
    adapter = ForeignAdapter()
    trainer = await _trainer(tmp_path, builder, adapter, num_runs=2)
    (status,) = await trainer.run(num_epochs=1)
    metrics = await trainer.get_metrics("r")
    await trainer.cleanup()
    assert status.status == TrainingStatusEnum.COMPLETED, status.message
    assert len(builder.started) == 2 and len(adapter.submitted) == 1
    assert sum(map(len, adapter.submitted[0].trajectories)) == 6  # both runs' pairs, none lost to a split
    assert metrics["training_job"]["status"] == "completed"
    assert adapter.closed == 0  # its aclose is not NAT's interface: not the trainer's to call


# --------------------------------------------------------------------------- 7: step UUIDs reused across turns


async def test_7_reused_step_uuids_are_kept_and_counted(tmp_path: Path) -> None:
    builder = reference_builder()
    builder.run_config = FinetuneConfig(output_dir=tmp_path)
    builder.evaluation_runs["multi_turn_test"] = await _done(eval_output(("example_multi", MULTI_TURN)))
    collected = await builder.finalize(run_id="multi_turn_test")
    frames = rundir.open_dir(builder.run_dir("multi_turn_test")).record
    assert sum(map(len, collected.trajectories)) == 4  # 1 pair in turn_0, 3 in turn_1 (was 1: 3 "duplicates")
    assert builder._metrics["total_turns"] == 2 and builder._metrics["total_candidates"] == 5
    assert frames.rejects == 0 and frames.extra["reused_step_ids"] == 4 and builder._metrics["reused_step_ids"] == 4


async def test_7_the_same_step_twice_is_still_a_duplicate(tmp_path: Path) -> None:
    builder = reference_builder()
    builder.run_config = FinetuneConfig(output_dir=tmp_path)
    steps = [*MULTI_TURN[:2], MULTI_TURN[1].model_copy(deep=True)]  # step 1 recorded twice, same id, same data
    builder.evaluation_runs["r"] = await _done(eval_output(("e", steps)))
    await builder.finalize(run_id="r")
    record = rundir.open_dir(builder.run_dir("r")).record
    assert (record.candidates, record.rejects_by_reason) == (2, {"duplicate step": 1})


# --------------------------------------------------------------------------- 8: a stale deployment is not reported as made


async def _train_and_deploy(
    url: str, tmp_path: Path, run_id: str, tag: str, **extra: Any
) -> tuple[TrainingJobStatus, str]:
    """The final status of a trained and deployed run, and the model it trained."""
    adapter = NeMoCustomizerTrainerAdapter(
        adapter_config(
            url,
            dataset_output_dir=str(tmp_path / "ds"),
            deploy_on_completion=True,
            deployment_config={"deployment_name": "fixed-name"},
            deployment_timeout_seconds=600,
            **extra,
        )
    )
    try:
        await adapter.initialize(FinetuneConfig(output_dir=tmp_path / "finetune"))
        ref = await adapter.submit(collection(run_id, tag))
        return await adapter.wait_until_complete(ref), ref.metadata["output_model"]
    finally:
        await adapter.aclose()


def _served(url: str) -> list[str]:
    answer = httpx.get(f"{url}/v1/models")
    answer.raise_for_status()
    return [m["id"] for m in answer.json()["data"]]


async def test_8_a_second_run_with_a_fixed_deployment_name_fails_clearly_by_default(tmp_path: Path) -> None:
    async with Emulator(REQUEST_CLOCK) as emu:
        first, model_1 = await _train_and_deploy(emu.url, tmp_path, "run-1", " one")
        with pytest.raises(
            TrainingJobError, match=r"already exists and serves .*, not .*on_existing_deployment"
        ) as info:
            await _train_and_deploy(emu.url, tmp_path, "run-2", " two")
        deployment = emu.state.deployments["test-namespace/fixed-name"]
        served = _served(first.metadata["deployment_url"])
    assert f"serves {model_1}, not " in str(info.value)
    assert served == [model_1] == deployment["models"]
    assert info.value.status.status == TrainingStatusEnum.COMPLETED  # trained; only its deployment failed
    assert "deployment failed" in info.value.status.message


@pytest.mark.parametrize("mode", ["update", "replace"])
async def test_8_update_or_replace_when_the_config_says_so(tmp_path: Path, mode: str) -> None:
    async with Emulator(REQUEST_CLOCK) as emu:
        _, model_1 = await _train_and_deploy(emu.url, tmp_path, "run-1", " one")
        second, model_2 = await _train_and_deploy(emu.url, tmp_path, "run-2", " two", on_existing_deployment=mode)
        assert model_1 != model_2
        assert emu.state.deployments["test-namespace/fixed-name"]["models"] == [model_2]
        again, _ = await _train_and_deploy(emu.url, tmp_path, "run-2", " two")  # same model: reused, not an error
        served = _served(second.metadata["deployment_url"])
    assert served == [model_2] and second.metadata["deployed_model"] == model_2
    assert again.status == TrainingStatusEnum.COMPLETED


# --------------------------------------------------------------------------- 9: unreadable status is a platform error


async def test_9_giving_up_on_an_unreadable_status_says_so_as_a_platform_error(tmp_path: Path) -> None:
    unreadable = StagedFault(path_prefix="/v1/customization/jobs/", method="GET", count=1000, kind="503")
    async with Emulator(REQUEST_CLOCK.model_copy(update={"faults": FaultConfig(fail_first=[unreadable])})) as emu:
        adapter = NeMoCustomizerTrainerAdapter(
            adapter_config(emu.url, dataset_output_dir=str(tmp_path), retry={"attempts": 1})
        )
        try:
            await adapter.initialize(FinetuneConfig(output_dir=tmp_path / "finetune"))
            ref = await adapter.submit(collection("r"))
            with pytest.raises(
                TrainingStatusUnreadableError, match="Failed to get status for job .* 3 consecutive"
            ) as info:
                await adapter.wait_until_complete(ref)
        finally:
            await adapter.aclose()
    error = info.value
    assert isinstance(error, RuntimeError) and isinstance(error, PlatformUnavailableError)
    assert "not a verdict on the job" in str(error) and str(tmp_path / "r") in str(error)
    assert error.status.message.startswith("Error getting status:")


async def test_9_no_trajectories_collected_names_why(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    empty = TrajectoryCollection(trajectories=[], run_id="x")
    trainer = await _trainer(tmp_path, ForeignBuilder([empty]), ForeignAdapter())
    with caplog.at_level(logging.INFO, logger="dpo_frames.nat"):
        (status,) = await trainer.run(num_epochs=1)
    assert status.status == TrainingStatusEnum.FAILED
    assert status.message.startswith("No trajectories collected: collection run 1/1 (")
    assert "the builder returned no trajectories" in status.message
    assert "run 0" not in caplog.text  # the logs count runs as the status does: 1/1
