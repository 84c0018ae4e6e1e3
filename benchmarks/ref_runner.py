"""Time the reference plugin (``nvidia-nat-nemo-customizer``) stage by stage.

Runs inside ``benchmarks/.venv-ref`` (see ``setup_ref_env.sh``); ``run.py`` starts it as
a subprocess so that its memory is its own. Every stage calls the reference's own code,
in the order its trainer drives it (``NeMoCustomizerTrainer.run`` -> builder
``finalize`` -> trainer dedup/sampling -> adapter ``submit``):

==============  ==========================================================================
stage           reference code
==============  ==========================================================================
parse           ``DPOTrajectoryBuilder._collect_candidates(eval_output)``
pairs           ``DPOTrajectoryBuilder._generate_preference_pairs(candidates_by_turn)``
trajectories    ``_build_trajectories(pairs)`` + ``_group_by_example`` +
                ``TrajectoryCollection(...)``; ends like ``finalize`` returning (the
                candidates and pairs are released)
dedup_sample    ``NeMoCustomizerTrainer._deduplicate_trajectories`` (+
                ``_sample_trajectories`` when ``--max-pairs`` is given)
jsonl           ``NeMoCustomizerTrainerAdapter._trajectory_to_dpo_jsonl(collection)``
write           ``NeMoCustomizerTrainerAdapter._setup_dataset(...)``, which writes
                ``training_file.jsonl``/``validation_file.jsonl`` under
                ``dataset_output_dir``; its Hugging Face and Entity Store clients are
                replaced by no-op stubs (no network), so only the write is timed
==============  ==========================================================================

The input is an in-memory NAT ``EvaluationRunOutput`` rebuilt from the cached synthetic
tables (``synth.py``) before any timing starts. Output: a JSON file of per-stage seconds
and peak RSS (see ``measure.py``) plus counts.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import measure
import synth

RUN_ID = "bench"


class _NoopHfApi:
    """Stands in for ``huggingface_hub.HfApi``: accepts the calls, sends nothing."""

    def create_repo(self, *args: Any, **kwargs: Any) -> None:
        return None

    def upload_file(self, *args: Any, **kwargs: Any) -> None:
        return None


class _NoopDatasets:
    def create(self, *args: Any, **kwargs: Any) -> None:
        return None


class _NoopEntityClient:
    """Stands in for ``nemo_microservices.NeMoMicroservices`` (only ``datasets.create``
    is used by the timed code)."""

    datasets = _NoopDatasets()


def _components(out_dir: Path, max_pairs: int | None) -> tuple[Any, Any, Any]:
    from nat.plugins.customizer.dpo.config import (
        DPOTrajectoryBuilderConfig,
        NeMoCustomizerTrainerAdapterConfig,
        NeMoCustomizerTrainerConfig,
    )
    from nat.plugins.customizer.dpo.trainer import NeMoCustomizerTrainer
    from nat.plugins.customizer.dpo.trainer_adapter import NeMoCustomizerTrainerAdapter
    from nat.plugins.customizer.dpo.trajectory_builder import DPOTrajectoryBuilder

    builder = DPOTrajectoryBuilder(DPOTrajectoryBuilderConfig())  # the documented defaults
    trainer = NeMoCustomizerTrainer(NeMoCustomizerTrainerConfig(deduplicate_pairs=True, max_pairs=max_pairs))
    adapter = NeMoCustomizerTrainerAdapter(
        NeMoCustomizerTrainerAdapterConfig(
            entity_host="http://127.0.0.1:9",  # never contacted: the clients below are stubs
            datastore_host="http://127.0.0.1:9",
            namespace="bench",
            customization_config="bench/model@v1",
            dataset_output_dir=str(out_dir),
            use_full_message_history=False,
        )
    )
    adapter._hf_api = _NoopHfApi()
    adapter._entity_client = _NoopEntityClient()
    builder._metrics = {"run_id": RUN_ID, "total_candidates": 0, "skipped_single_candidate": 0, "skipped_score_diff": 0}
    return builder, trainer, adapter


def run(data_dir: Path, out_dir: Path, max_pairs: int | None, sample_seed: int) -> measure.StageMeter:
    """Build the input, then run and measure every reference stage."""
    from nat.data_models.finetuning import TrajectoryCollection

    meter = measure.StageMeter()
    t0 = time.perf_counter()
    tables = synth.SynthTables.read(data_dir)
    eval_output = synth.build_eval_output(tables)
    del tables
    meter.info["setup_seconds"] = time.perf_counter() - t0
    meter.info["steps"] = sum(len(i.trajectory) for i in eval_output.eval_input.eval_input_items)
    builder, trainer, adapter = _components(out_dir, max_pairs)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    meter.set_baseline()
    print(
        f"  input built in {meter.info['setup_seconds']:.1f} s, {meter.info['steps']} steps, "
        f"baseline {meter.baseline_mib:.0f} MiB",
        file=sys.stderr,
        flush=True,
    )

    with meter.stage("walk_floor"):
        synth.attribute_walk(eval_output)

    with meter.stage("parse"):
        candidates_by_turn = builder._collect_candidates(eval_output)
    with meter.stage("pairs"):
        pairs = builder._generate_preference_pairs(candidates_by_turn)
    n_turns, n_candidates, n_pairs = len(candidates_by_turn), builder._metrics["total_candidates"], len(pairs)
    with meter.stage("trajectories"):
        trajectories = builder._build_trajectories(pairs)
        grouped = builder._group_by_example(trajectories)
        collection = TrajectoryCollection(trajectories=grouped, run_id=RUN_ID)
        del candidates_by_turn, pairs, trajectories, grouped  # finalize() returns here
    with meter.stage("dedup_sample"):
        collection = trainer._deduplicate_trajectories(collection)
        if max_pairs is not None:
            random.seed(sample_seed)  # the reference samples with the global, unseeded RNG
            collection = trainer._sample_trajectories(collection, max_pairs)
    n_after_dedup = sum(len(g) for g in collection.trajectories)
    with meter.stage("jsonl"):
        training_jsonl, validation_jsonl = adapter._trajectory_to_dpo_jsonl(collection)
    measure.prepare_write(out_dir, len(training_jsonl) + len(validation_jsonl))  # untimed
    with meter.stage("write"):
        asyncio.run(adapter._setup_dataset(RUN_ID, training_jsonl, validation_jsonl))

    written = out_dir / RUN_ID
    meter.info.update(
        {
            "candidates": n_candidates,
            "turns": n_turns,
            "pairs": n_pairs,
            "pairs_after_dedup_sample": n_after_dedup,
            "skipped_single_candidate": builder._metrics.get("skipped_single_candidate", 0),
            "skipped_score_diff": builder._metrics.get("skipped_score_diff", 0),
            "training_records": training_jsonl.count("\n") + 1,
            "validation_records": validation_jsonl.count("\n") + 1,
            "bytes_written": sum(p.stat().st_size for p in written.glob("*.jsonl")),
            "output_dir": str(written),
            "config": {
                "builder": builder.config.model_dump(mode="json"),
                "trainer": {"deduplicate_pairs": True, "max_pairs": max_pairs, "sample_seed": sample_seed},
                "adapter": {"use_full_message_history": False},
            },
        }
    )
    return meter


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="cache dir of one synthetic data set (synth.py)")
    p.add_argument("--out", type=Path, required=True, help="JSON file to write the measurements to")
    p.add_argument("--work", type=Path, required=True, help="directory for the dataset files the stages write")
    p.add_argument("--max-pairs", type=int, default=None, help="trainer max_pairs (default: none, as the reference)")
    p.add_argument("--sample-seed", type=int, default=0)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    meter = run(args.data, args.work, args.max_pairs, args.sample_seed)
    meter.write(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
