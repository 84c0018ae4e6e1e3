"""``hyperparameters.training_type: sft``: the NAT components build and upload SFT records (not DPO records,
which Customizer's SFT validation rejects: tests/emulator/test_training_types.py shows the emulator refusing a
DPO-shaped file for an SFT job, naming file and line), through the real harness against the emulator."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from nat.data_models.finetuning import FinetuneConfig
from pydantic import ValidationError

import dpo_frames
from dpo_frames import schema
from dpo_frames.emulator import Emulator, EmulatorConfig
from dpo_frames.nat import DPOTrajBuilderConfig, EmptyDatasetError, NeMoCustomizerTrainerAdapterConfig
from dpo_frames.nat.adapter import NeMoCustomizerTrainerAdapter
from dpo_frames.nat.config import NeMoCustomizerHyperparameters, NeMoCustomizerTrainerConfig
from dpo_frames.nat.convert import pairs_to_collection
from dpo_frames.nat.sft import pairs_to_candidates, sft_hyperparameters
from tests.rundir.opens import assert_opens_everywhere

from ._helpers import ADAPTER, BUILDER, EXAMPLE, REPO, TRAINER, FinetuneRun, run_example

FAST = EmulatorConfig(tick_seconds=0.01)
SFT = {f"{ADAPTER}.hyperparameters.training_type": "sft"}
FILES = ("training/training_file.jsonl", "validation/validation_file.jsonl")


def _uploaded(emu: Emulator, repo: str = REPO) -> list[list[dict[str, Any]]]:
    return [[json.loads(line) for line in emu.state.file_bytes(repo, rel).decode().splitlines()] for rel in FILES]


# --- the switch, unit by unit -------------------------------------------------------------------------


def test_the_builder_takes_the_sft_rules_and_refuses_unknown_ones(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="dpo_frames.nat"):
        config = DPOTrajBuilderConfig.model_validate({"sft": {"min_score": 0.5, "min_margin": 0.1}})
    assert config.sft == dpo_frames.SftConfig(min_score=0.5, min_margin=0.1)
    assert "unknown" not in caplog.text
    assert DPOTrajBuilderConfig().sft == dpo_frames.SftConfig()  # unset: the best of every turn
    assert "sft" not in DPOTrajBuilderConfig().pair_config().model_dump()  # the DPO settings are unchanged
    with pytest.raises(ValidationError, match="min_scor"):
        DPOTrajBuilderConfig.model_validate({"sft": {"min_scor": 0.5}})  # a typo would silently admit every turn


def test_an_sft_job_is_sent_without_the_dpo_block() -> None:
    sent = sft_hyperparameters(
        NeMoCustomizerTrainerAdapterConfig(
            entity_host="http://h", datastore_host="http://h", namespace="n", customization_config="c"
        ).hyperparameters.model_dump()
    )
    assert "dpo" not in sent and sent["epochs"] == 3


def test_the_candidates_a_pairs_frame_shows_rebuild_the_best_of_each_turn() -> None:
    steps = dpo_frames.read_steps(EXAMPLE / "data" / "workflow_output.json", run_id="r1")
    candidates, _ = dpo_frames.extract_candidates(steps)
    pairs, _ = dpo_frames.build_pairs(candidates, dpo_frames.PairConfig(min_score_diff=0.05))
    direct, _ = dpo_frames.build_sft(candidates.filter(pl.col("turn_id").is_in(pairs["turn_id"].implode())))
    rebuilt, _ = dpo_frames.build_sft(pairs_to_candidates(pairs))
    key = ["turn_id", "completion", "score"]
    assert rebuilt.height > 0 and rebuilt.select(key).sort(key).equals(direct.select(key).sort(key))


def _adapter(url: str, tmp_path: Path, **update: Any) -> NeMoCustomizerTrainerAdapter:
    return NeMoCustomizerTrainerAdapter(
        NeMoCustomizerTrainerAdapterConfig(
            entity_host=url,
            datastore_host=url,
            namespace="team",
            customization_config="meta/llama-3.2-1b-instruct@v1.0.0+A100",
            hyperparameters={"training_type": "sft", "finetuning_type": "lora"},
            poll_interval_seconds=0.02,
            **update,
        )
    )


async def test_the_adapter_on_its_own_trains_sft_on_a_plain_collection(tmp_path: Path, caplog) -> None:
    """Another trainer hands trajectories of pairs: the adapter keeps the best of each turn, last message only."""
    steps = dpo_frames.read_steps(EXAMPLE / "data" / "workflow_output.json", run_id="r1")
    candidates, _ = dpo_frames.extract_candidates(steps)
    pairs, _ = dpo_frames.build_pairs(candidates, dpo_frames.PairConfig(min_score_diff=0.05))
    async with Emulator(FAST) as emu:
        adapter = _adapter(emu.url, tmp_path)
        try:
            await adapter.initialize(FinetuneConfig(output_dir=tmp_path))
            with caplog.at_level(logging.WARNING, logger="dpo_frames.nat"):
                ref = await adapter.submit(pairs_to_collection(pairs, "plain-sft"))
            final = await adapter.wait_until_complete(ref)
        finally:
            await adapter.aclose()
        train, validation = _uploaded(emu, "team/nat-dpo")
        (job,) = emu.state.jobs.values()
    assert final.status.value == "completed" and job["hyperparameters"]["training_type"] == "sft"
    records = train + validation
    assert len(records) == pairs["turn_id"].n_unique() and all(r.keys() == {"prompt", "completion"} for r in records)
    assert "keep only their last message" in caplog.text and "use_full_message_history: true" in caplog.text
    assert ref.metadata["recipe"] == "sft" and ref.metadata["train_records"] == len(train)


async def test_an_empty_sft_result_is_an_error_naming_the_settings_and_uploads_nothing(tmp_path: Path) -> None:
    empty, stats = dpo_frames.build_sft(schema.empty(schema.CANDIDATES), dpo_frames.SftConfig(min_score=0.9))
    async with Emulator(FAST) as emu:
        adapter = _adapter(emu.url, tmp_path)
        try:
            await adapter.initialize(FinetuneConfig(output_dir=tmp_path))
            with pytest.raises(EmptyDatasetError, match=r"No SFT records for run r: .*min_score=0\.9"):
                await adapter.submit_sft_dataset(empty, run_id="r", sft_stats=stats)
        finally:
            await adapter.aclose()
        assert emu.state.jobs == {} and not (tmp_path / "datasets").exists()


# --- through `nat finetune` ---------------------------------------------------------------------------


async def test_nat_finetune_with_training_type_sft_uploads_sft_records_the_emulator_trains_on(
    out: Path, tmp_path: Path
) -> None:
    rules = {"min_score": 0.5, "min_margin": 0.0}
    async with Emulator(FAST) as emu:
        run = await run_example(emu.url, out, **SFT, **{f"{BUILDER}.sft": rules, f"{TRAINER}.num_runs": 2})
        train, validation = _uploaded(emu)
        (job,) = emu.state.jobs.values()
    final = run.final_metrics()
    assert final["status"] == "completed" and job["status"] == "completed"
    hp = job["hyperparameters"]
    assert hp["training_type"] == "sft" and "dpo" not in hp and final["training_type"] == "sft"

    # use_full_message_history: true (the example's) -> chat records: the whole conversation, then the answer.
    for record in train + validation:
        assert record.keys() == {"messages"}
        assert [m["role"] for m in record["messages"]] == ["system", "user", "assistant"]
    assert not {json.dumps(r["messages"][:-1]) for r in train} & {json.dumps(r["messages"][:-1]) for r in validation}

    # Exactly build_sft of the collected candidates with the builder's rules (the second run repeats the first).
    candidates = pl.concat([dpo_frames.read_frame(d, "candidates") for d in run.run_dirs()])
    expected, stats = dpo_frames.build_sft(candidates, dpo_frames.SftConfig(**rules))
    got = {(r["messages"][-2]["content"], r["messages"][-1]["content"]) for r in train + validation}
    assert got == set(expected.select("prompt_text", "completion").iter_rows()) and len(got) == expected.height
    assert stats.split.duplicate_pairs == expected.height > 0 and stats.below_min_score > 0
    assert final["sft_selection"]["selected"] == stats.selected and final["dataset"]["pairs"] == expected.height

    # The kept files are the uploaded ones; the directory says it is SFT and opens with every command.
    (dataset_dir,) = run.dataset_dirs()
    for rel, records in zip(FILES, (train, validation), strict=True):
        assert _same_records(dataset_dir / Path(rel).name, records)
    opened = assert_opens_everywhere(dataset_dir, tmp_path / "scratch", kind="dataset", frames={"completions"})
    info = opened.record.dataset
    assert (info.recipe, info.format, opened.record.producer) == (
        "sft",
        "customizer-sft",
        "nemo_customizer_trainer_adapter",
    )
    assert info.selection.config == dpo_frames.SftConfig(**rules) and info.context.truncated_prompts == 0
    assert opened.record.run_ids == [run.run_dirs()[0].name]  # the run its (deduplicated) records came from
    assert opened.record.candidates == candidates.height


def _same_records(path: Path, records: list[dict[str, Any]]) -> bool:
    return [json.loads(line) for line in path.read_text().splitlines()] == records


async def test_sft_with_the_last_message_only_warns_and_writes_prompt_completion(out: Path, caplog) -> None:
    async with Emulator(FAST) as emu:
        with caplog.at_level(logging.WARNING, logger="dpo_frames.nat"):
            run = await run_example(emu.url, out, **SFT, **{f"{ADAPTER}.use_full_message_history": False})
        train, validation = _uploaded(emu)
    assert run.final_metrics()["status"] == "completed"
    assert all(r.keys() == {"prompt", "completion"} and isinstance(r["prompt"], str) for r in train + validation)
    warning = next(r.getMessage() for r in caplog.records if "keep only their last message" in r.getMessage())
    assert f"{len(train) + len(validation)} of {len(train) + len(validation)} SFT prompts" in warning
    record = dpo_frames.open_dir(run.dataset_dirs()[0]).record.dataset
    assert record.context.truncated_prompts == len(train) + len(validation)
    assert record.options["use_full_message_history"] is False


async def test_sft_rules_no_turn_passes_fail_naming_them_and_upload_nothing(out: Path) -> None:
    async with Emulator(FAST) as emu:
        run = await run_example(emu.url, out, **SFT, **{f"{BUILDER}.sft": {"min_score": 2.0}})
        assert emu.state.jobs == {} and emu.state.datasets == {}
    final = run.final_metrics()
    assert final["status"] == "failed" and final["message"].startswith("No SFT records for run nemo_dpo_")
    assert "min_score=2.0" in final["message"] and "below min_score: " in final["message"]
    assert run.dataset_dirs() == [] and FinetuneRun(out).run_dirs()  # the collected frames stay


async def test_training_type_dpo_still_uploads_dpo_records(out: Path) -> None:
    async with Emulator(FAST) as emu:
        run = await run_example(emu.url, out, **{f"{BUILDER}.sft": {"min_score": 2.0}})  # ignored for DPO
        train, _ = _uploaded(emu)
        (job,) = emu.state.jobs.values()
    assert run.final_metrics()["status"] == "completed" and "training_type" not in run.final_metrics()
    assert job["hyperparameters"]["training_type"] == "dpo" and "dpo" in job["hyperparameters"]
    assert all(r.keys() == {"prompt", "chosen_response", "rejected_response"} for r in train)


def test_the_readme_sft_yaml_sets_what_it_says() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", readme, flags=re.S) if "training_type: sft" in b]
    config = yaml.safe_load(block)
    builder = DPOTrajBuilderConfig.model_validate(config["trajectory_builders"]["dpo_builder"])
    assert builder.sft == dpo_frames.SftConfig(min_score=0.5, min_margin=0.1)
    adapter = config["trainer_adapters"]["customizer"]
    assert NeMoCustomizerHyperparameters.model_validate(adapter["hyperparameters"]).training_type == "sft"
    assert NeMoCustomizerTrainerConfig.model_validate(config["trainers"]["customizer_trainer"]).max_pairs == 5000


async def test_a_foreign_builder_s_pairs_without_scores_train_sft_on_their_chosen_responses(
    tmp_path: Path, caplog
) -> None:
    """The trainer with another plugin's builder: the candidates come from its pairs (the reference's sample
    trajectories carry no scores, and the chosen response is the preferred one)."""
    from .test_reference_parity import ForeignBuilder, _trainer, collection

    async with Emulator(FAST) as emu:
        adapter = _adapter(emu.url, tmp_path, dataset_output_dir=str(tmp_path / "ds"))
        trainer = await _trainer(tmp_path, ForeignBuilder([collection("x")]), adapter)
        try:
            with caplog.at_level(logging.WARNING, logger="dpo_frames.nat"):
                (status,) = await trainer.run(num_epochs=1)
        finally:
            await trainer.cleanup()
        train, validation = _uploaded(emu, "team/nat-dpo")
    assert status.status.value == "completed", status.message
    records = train + validation
    assert sorted(r["completion"] for r in records) == ["Good response", "The answer is 4.", "Yes"]
    assert "3 of 3 pairs carry no chosen_score" in caplog.text
