"""Shared helpers of the NAT plugin tests: the example config, pointed at a loopback emulator."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dpo_frames.demo import example_dir, finetune, load_config

EXAMPLE = example_dir()
FINETUNE_YML = EXAMPLE / "configs" / "finetune.yml"
POSITIONS = EXAMPLE / "data" / "positions.json"
ADAPTER = "trainer_adapters.customizer"
TRAINER = "trainers.customizer_trainer"
BUILDER = "trajectory_builders.dpo_builder"
NAMESPACE = "dpo-frames-demo"
DATASET = "tictactoe-dpo"
REPO = f"{NAMESPACE}/{DATASET}"


@dataclass
class FinetuneRun:
    """Where one finetuning run wrote its files."""

    out: Path

    @property
    def finetune_dir(self) -> Path:
        return self.out / "finetune"

    @property
    def datasets_dir(self) -> Path:
        return self.out / "datasets"

    def final_metrics(self) -> dict[str, Any]:
        return json.loads((self.finetune_dir / "final_metrics.json").read_text())

    def progress(self) -> list[dict[str, Any]]:
        lines = (self.finetune_dir / "data_collection_progress.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines]

    def run_dirs(self) -> list[Path]:
        return sorted((self.finetune_dir / "runs").iterdir())

    def dataset_dirs(self) -> list[Path]:
        return sorted(self.datasets_dir.iterdir()) if self.datasets_dir.exists() else []


def example_overrides(url: str, out: Path, **extra: Any) -> tuple[tuple[str, Any], ...]:
    """The example config with the emulator's URL, every path under ``out``, fast polling, and
    ``extra`` overrides (``"trainers.customizer_trainer.num_runs": 2`` ...)."""
    base: dict[str, Any] = {
        f"{ADAPTER}.entity_host": url,
        f"{ADAPTER}.datastore_host": url,
        f"{ADAPTER}.dataset_output_dir": str(out / "datasets"),
        f"{ADAPTER}.poll_interval_seconds": 0.05,
        f"{ADAPTER}.retry": {"attempts": 2, "backoff_base": 0.01, "backoff_max": 0.05, "jitter": 0.0},
        "finetuning.output_dir": str(out / "finetune"),
        "eval.general.output.dir": str(out / "eval"),
        "eval.general.dataset.file_path": str(POSITIONS),
    }
    base.update(extra)
    return tuple(base.items())


async def run_example(url: str, out: Path, **extra: Any) -> FinetuneRun:
    """``nat finetune`` in process (NAT's finetuning_main) on the example config."""
    await finetune(load_config(FINETUNE_YML, example_overrides(url, out, **extra)))
    return FinetuneRun(out)
