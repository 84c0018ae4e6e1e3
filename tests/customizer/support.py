"""Shared pieces of the client tests: datasets on disk, emulator configs, clients, a submit shortcut."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dpo_frames.customizer import (
    CustomizerClient,
    CustomizerSettings,
    DpoParameters,
    Hyperparameters,
    JobRef,
    RetryPolicy,
    submit_dataset_job,
)
from dpo_frames.customizer.flow import RUN_ID_FIELD
from dpo_frames.emulator import Emulator, EmulatorConfig

CONFIG = "meta/llama-3.2-1b-instruct@v1.0.0+A100"
HYPER = Hyperparameters(training_type="dpo", finetuning_type="lora", epochs=1, batch_size=2, dpo=DpoParameters())
FAST_RETRY = RetryPolicy(attempts=8, backoff_base=0.01, backoff_max=0.05, jitter=0.01, retry_after_max=0.05)


def record(i: int, tag: str = "") -> dict[str, Any]:
    return {"prompt": f"{tag}question {i}?", "chosen_response": f"good answer {i}", "rejected_response": f"bad {i}"}


def write_dataset(root: Path, tag: str = "", train: int = 6, val: int = 3) -> Path:
    """The two Customizer files under ``root``, their content marked by ``tag``."""
    for rel, rows in (
        ("training/training_file.jsonl", [record(i, tag) for i in range(train)]),
        ("validation/validation_file.jsonl", [record(100 + i, tag) for i in range(val)]),
    ):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def emulator_config(**overrides: Any) -> EmulatorConfig:
    """A manual clock by default: jobs stay where they are unless a test moves them."""
    values: dict[str, Any] = {"clock": "manual", "tick_seconds": 0.05, "job_steps": 4}
    values.update(overrides)
    return EmulatorConfig(**values)


def client_for(server: Emulator, **settings: Any) -> CustomizerClient:
    settings.setdefault("retry", FAST_RETRY)
    return CustomizerClient(CustomizerSettings(entity_host=server.url, **settings))


async def submit(client: CustomizerClient, dataset_dir: Path, run_id: str = "run-1", **kw: Any) -> JobRef:
    return await submit_dataset_job(
        client,
        dataset_dir=dataset_dir,
        namespace=kw.pop("namespace", "team"),
        dataset_name=kw.pop("dataset_name", "pairs"),
        run_id=run_id,
        config=CONFIG,
        hyperparameters=HYPER,
        **kw,
    )


def jobs_of_run(server: Emulator, run_id: str, namespace: str = "team") -> list[dict[str, Any]]:
    """Every job the emulator holds for ``run_id`` (by the run id it carries), whatever its state."""
    with server.state.lock:
        return [
            job
            for job in server.state.jobs.values()
            if job.get("namespace") == namespace and job.get("custom_fields", {}).get(RUN_ID_FIELD) == run_id
        ]
