"""End to end through NAT's real finetuning harness against the emulator over loopback HTTP.

The tic-tac-toe example workflow runs under ``finetuning_main`` (what ``nat finetune`` runs;
one test uses the command itself); the emulator plays the NeMo platform.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl

import dpo_frames
from dpo_frames.emulator import Emulator, EmulatorConfig
from dpo_frames.nat import DPOTrajBuilderConfig

from ._helpers import ADAPTER, DATASET, EXAMPLE, FINETUNE_YML, NAMESPACE, REPO, TRAINER, run_example

FAST = EmulatorConfig(tick_seconds=0.01, deployment_ready_after=0.05)
REFERENCE_PROGRESS_KEYS = {
    "run_number",
    "timestamp",
    "run_id",
    "num_trajectories",
    "num_dpo_pairs",
    "avg_reward",
    "min_reward",
    "max_reward",
}
REFERENCE_FINAL_KEYS = {
    "run_id",
    "timestamp",
    "status",
    "message",
    "progress",
    "num_collection_runs",
    "total_trajectory_groups",
    "collection_summary",
    "job_metadata",
}


def _jsonl(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.decode().splitlines() if line.strip()]


async def test_two_runs_are_deduplicated_uploaded_trained_and_deployed(out: Path) -> None:
    async with Emulator(FAST) as emu:
        run = await run_example(emu.url, out, **{f"{TRAINER}.num_runs": 2, f"{ADAPTER}.deploy_on_completion": True})
        state = emu.state

        final = run.final_metrics()
        assert final.keys() >= REFERENCE_FINAL_KEYS
        assert final["status"] == "completed" and final["num_collection_runs"] == 2
        # The workflow is deterministic: the second run repeats every pair of the first.
        per_run = [p["num_dpo_pairs"] for p in run.progress()]
        assert per_run[0] == per_run[1] > 0
        assert final["dataset"]["duplicate_pairs"] == per_run[0] and final["dataset"]["pairs"] == per_run[0]

        # Uploaded files are byte for byte the local ones, and hold exactly the dataset.
        (dataset_dir,) = run.dataset_dirs()
        uploaded = {}
        for rel in ("training/training_file.jsonl", "validation/validation_file.jsonl"):
            uploaded[rel] = state.file_bytes(REPO, rel)
            assert uploaded[rel] == (dataset_dir / Path(rel).name).read_bytes()  # kept where the reference keeps it
        train, validation = (_jsonl(b) for b in uploaded.values())
        assert (len(train), len(validation)) == (final["dataset"]["train_pairs"], final["dataset"]["validation_pairs"])
        for record in train + validation:
            assert [m["role"] for m in record["prompt"]] == ["system", "user"]  # use_full_message_history: true
            assert record["chosen_response"] != record["rejected_response"]
        pairs = pl.read_parquet(run.run_dirs()[0] / "pairs.parquet")
        uploaded_pairs = {
            (r["prompt"][-1]["content"], r["chosen_response"], r["rejected_response"]) for r in train + validation
        }
        assert uploaded_pairs == set(pairs.select("prompt_text", "chosen_response", "rejected_response").iter_rows())
        assert not {r["prompt"][-1]["content"] for r in train} & {r["prompt"][-1]["content"] for r in validation}

        # One job, trained with the configured hyperparameters, completed, then deployed.
        (job,) = state.jobs.values()
        assert job["status"] == "completed" and final["job_metadata"]["job_id"] == job["id"]
        assert job["dataset"] in ({"name": DATASET, "namespace": NAMESPACE}, f"{NAMESPACE}/{DATASET}")
        hp = job["hyperparameters"]
        assert (hp["training_type"], hp["finetuning_type"], hp["epochs"], hp["batch_size"]) == ("dpo", "lora", 2, 4)
        assert hp["dpo"]["ref_policy_kl_penalty"] == 0.1
        assert state.datasets[REPO]["files_url"] == f"hf://datasets/{REPO}"
        deployment = state.deployments[f"{NAMESPACE}/dpo-frames-tictactoe"]
        assert deployment["status_details"]["status"].lower() == "ready"
        assert final["status_metadata"]["deployment"] == f"{NAMESPACE}/dpo-frames-tictactoe"


async def test_progress_files_and_rebuildable_frames(out: Path) -> None:
    async with Emulator(FAST) as emu:
        run = await run_example(emu.url, out)
    progress = run.progress()
    assert len(progress) == 1 and progress[0].keys() >= REFERENCE_PROGRESS_KEYS
    history = json.loads((run.finetune_dir / "collection_history.json").read_text())
    assert history == progress
    (run_dir,) = run.run_dirs()
    stats = json.loads((run_dir / "dpo_frames.json").read_text())
    assert stats["kind"] == "run" and stats["producer"] == "dpo_traj_builder"
    assert stats["candidates"] == 119 and stats["rejects"] == 0
    assert stats["pair_stats"]["pairs"] == progress[0]["num_dpo_pairs"]
    assert {k: v for k, v in stats["pair_stats"].items() if k in ("single_candidate_turns", "tied_pairs")} == {
        "single_candidate_turns": 3,
        "tied_pairs": 100,
    }  # counted by reason
    assert sum(row["steps"] for row in stats["steps_by_type"]) == stats["steps"]
    # Pairs rebuild from the saved candidates, without rerunning the workflow, with any settings.
    candidates = dpo_frames.read_frame(run_dir, "candidates")
    config = DPOTrajBuilderConfig(min_score_diff=0.05, max_pairs_per_turn=5).pair_config()
    rebuilt, _ = dpo_frames.build_pairs(candidates, config)
    assert rebuilt.equals(dpo_frames.read_frame(run_dir, "pairs"))
    best_vs_worst, _ = dpo_frames.build_pairs(candidates, config.model_copy(update={"exhaustive_pairs": False}))
    assert 0 < best_vs_worst.height < rebuilt.height


async def test_max_pairs_sample_is_seeded(out: Path) -> None:
    async with Emulator(FAST) as emu:
        first = await run_example(emu.url, out / "a", **{f"{TRAINER}.max_pairs": 20, f"{TRAINER}.seed": 7})
        second = await run_example(emu.url, out / "b", **{f"{TRAINER}.max_pairs": 20, f"{TRAINER}.seed": 7})
    datasets = [pl.read_parquet(r.dataset_dirs()[0] / "dataset.parquet") for r in (first, second)]
    assert datasets[0].height == 20 and first.final_metrics()["dataset"]["sampled_out_pairs"] == 40
    assert datasets[0]["pair_id"].sort().to_list() == datasets[1]["pair_id"].sort().to_list()


async def test_not_waiting_returns_running_with_the_job(out: Path) -> None:
    async with Emulator(EmulatorConfig(tick_seconds=5.0)) as emu:
        run = await run_example(emu.url, out, **{f"{TRAINER}.wait_for_completion": False})
        (job,) = emu.state.jobs.values()
    final = run.final_metrics()
    assert final["status"] == "running" and final["job_metadata"]["job_id"] == job["id"]


def test_nat_finetune_command_with_secrets_from_the_environment(tmp_path: Path) -> None:
    """The real CLI at its default (INFO) log level, configured only through the environment.

    Default log level: NAT 1.9 would die of a RecursionError without the builder's run_eval
    workaround. The platform requires a bearer token; it comes from the environment and
    appears in no output and no file.
    """
    secret = "tok-SECRET-1f2e3d4c5b6a"
    (tmp_path / "examples").symlink_to(EXAMPLE.parent, target_is_directory=True)  # relative paths of the config
    with Emulator(EmulatorConfig(tick_seconds=0.01, token=secret)) as emu:
        env = {
            **os.environ,
            "EMULATOR_PORT": str(emu.port),
            "HF_TOKEN": secret,
            "NEMO_API_TOKEN": secret,
            "TQDM_DISABLE": "1",
        }
        nat = Path(sys.executable).with_name("nat")
        done = subprocess.run(
            [str(nat), "finetune", "--config_file", str(FINETUNE_YML)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        jobs = list(emu.state.jobs.values())
    assert done.returncode == 0, done.stderr[-3000:]
    assert "RecursionError" not in done.stderr
    assert [job["status"] for job in jobs] == ["completed"]
    ft_dir = tmp_path / ".tmp/dpo_frames_tictactoe/finetune"
    assert json.loads((ft_dir / "final_metrics.json").read_text())["status"] == "completed"
    assert secret not in done.stdout + done.stderr
    for path in (tmp_path / ".tmp").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


async def test_dataset_option_given_as_a_path_is_used(out: Path, tmp_path: Path) -> None:
    """`nat finetune --dataset X` hands a Path, which NAT 1.9's own run_eval rejects; ours passes it as text."""
    from nat.data_models.finetuning import FinetuneRunConfig
    from nat.finetuning.finetuning_runtime import finetuning_main

    from dpo_frames.demo import load_config

    from ._helpers import POSITIONS, example_overrides

    two = tmp_path / "two.json"
    two.write_text(json.dumps(json.loads(POSITIONS.read_text())[:2]))
    async with Emulator(FAST) as emu:
        config = load_config(FINETUNE_YML, example_overrides(emu.url, out))
        await finetuning_main(FinetuneRunConfig(config_file=config, dataset=two))
    (stats_file,) = (out / "finetune" / "runs").glob("*/dpo_frames.json")
    assert json.loads(stats_file.read_text())["extra"]["items"] == 2


async def test_its_directories_open_with_every_command(out: Path, tmp_path: Path) -> None:
    from tests.rundir.opens import assert_opens_everywhere

    async with Emulator(FAST) as emu:
        run = await run_example(emu.url, out)
    (run_dir,) = run.run_dirs()
    opened = assert_opens_everywhere(run_dir, tmp_path / "a", kind="run", frames={"candidates", "rejects", "pairs"})
    assert opened.record.producer == "dpo_traj_builder" and opened.record.extra["items"] == 12
    (dataset_dir,) = run.dataset_dirs()
    exported = assert_opens_everywhere(dataset_dir, tmp_path / "b", kind="dataset", frames={"dataset"})
    assert exported.record.producer == "nemo_customizer_trainer_adapter"
    assert exported.record.run_ids == [run_dir.name]  # the collection run its pairs came from
    assert exported.record.dataset.stats.pairs == 60 and exported.record.dataset.format == "customizer"
