"""The simulated life of a customization job, one clock tick at a time.

Tick 1: ``created`` -> ``pending``. Tick 2: the dataset is validated for the job's training type; ``failed`` (with a
status log naming the file and line) or ``running`` at 0%. Each further tick is one training
step: ``percentage_done``, ``steps_completed``, ``epochs_completed``, losses and metrics
advance and ``status_logs`` grows, until 100% and ``completed``, when the output model is
registered in the Entity Store. A cancelled job goes ``cancelling`` -> ``cancelled`` on the next
tick. Injected job faults fail or cancel a job once it reaches a percentage.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from .config import EmulatorConfig
from .dataset_check import DatasetInvalid, validate_dataset
from .entity import register_model
from .http import ApiError, now_iso
from .state import EmulatorState, JobRun

TERMINAL = frozenset({"completed", "failed", "cancelled"})
DEFAULT_BATCH_SIZE = 16


def initial_status(created_at: str, steps_per_epoch: int) -> dict[str, Any]:
    """The status details of a job just created: numbers at zero, never null."""
    return {
        "status": "created",
        "created_at": created_at,
        "updated_at": created_at,
        "percentage_done": 0.0,
        "epochs_completed": 0,
        "steps_completed": 0,
        "steps_per_epoch": steps_per_epoch,
        "best_epoch": None,
        "elapsed_time": 0.0,
        "train_loss": None,
        "val_loss": None,
        "metrics": {"keys": ["train_loss", "val_loss"], "metrics": {"train_loss": [], "val_loss": []}},
        "status_logs": [{"updated_at": created_at, "message": "Job created.", "detail": "JobCreated"}],
    }


def total_epochs(job: dict[str, Any], config: EmulatorConfig) -> int:
    """Epochs of the job: its hyperparameters', else the emulator's default."""
    epochs = job["hyperparameters"].get("epochs")
    return int(epochs) if epochs else config.epochs


def _loss(job_id: str, step: int, steps: int, offset: float) -> float:
    jitter = int(hashlib.sha256(f"{job_id}:{step}".encode()).hexdigest()[:6], 16) / 0xFFFFFF
    return round(0.69 * (0.35 + 0.65 * math.exp(-3.0 * step / steps)) + offset + 0.01 * jitter, 5)


class JobSimulator:
    """Advances every active job of ``state`` to the current time of the clock."""

    def __init__(self, state: EmulatorState, config: EmulatorConfig) -> None:
        self.state = state
        self.config = config

    def advance(self, now: float | None = None) -> None:
        """Play the ticks that are due for every job that has not finished."""
        now = self.state.clock.now() if now is None else now
        with self.state.lock:
            for job_id, job in self.state.jobs.items():
                run = self.state.job_runs[job_id]
                # a hair of tolerance: 6 ticks of 0.1 s sum to 0.5999999999999999 s, which is six ticks
                due = int((now - run.origin) / self.config.tick_seconds + 1e-9)
                while run.ticks_done < due and job["status"] not in TERMINAL:
                    run.ticks_done += 1
                    self._tick(job, run)
                    self.state.touch("jobs", job_id)
                    self.state.touch("job_runs", job_id)

    def cancel(self, job: dict[str, Any]) -> None:
        """Ask to cancel ``job``: it becomes ``cancelling``, then ``cancelled`` on the next tick."""
        if job["status"] in TERMINAL:
            raise ApiError(
                409, f"Job {job['id']} is already {job['status']} and cannot be cancelled.", {"x-should-retry": "false"}
            )
        if job["status"] != "cancelling":
            self._set_status(job, "cancelling", "Job cancellation requested by the user.", "JobCancelling")

    # --- transitions -------------------------------------------------------------------------
    def _tick(self, job: dict[str, Any], run: JobRun) -> None:
        status = job["status"]
        if status == "created":
            self._set_status(job, "pending", "Job is waiting for resources.", "JobPending")
        elif status == "pending":
            self._start(job, run)
        elif status == "running":
            self._step(job, run)
        elif status == "cancelling":
            self._set_status(job, "cancelled", "Job was cancelled.", "JobCancelled")

    def _start(self, job: dict[str, Any], run: JobRun) -> None:
        dataset = job["dataset"]
        batch = job["hyperparameters"].get("batch_size") or DEFAULT_BATCH_SIZE
        try:
            summary = validate_dataset(
                self.state,
                dataset["namespace"],
                dataset["name"],
                training_type=job["hyperparameters"].get("training_type", "sft"),
                min_records=batch if self.config.require_full_batch else 1,
            )
        except DatasetInvalid as exc:
            self._fail(job, f"Dataset validation failed: {exc}")
            return
        except (ValueError, RecursionError) as exc:  # a record no JSON reader takes (a 5000-digit number, deep nesting)
            self._fail(job, f"Dataset validation failed: a record cannot be read ({type(exc).__name__}: {exc})")
            return
        counts = ", ".join(f"{path}: {count} records" for path, count in summary.records.items())
        self._log(job, "TrainingJobRunning", f"Dataset validated ({counts}). Training started.")
        job["status"] = job["status_details"]["status"] = "running"
        self._check_faults(job, run)

    def _step(self, job: dict[str, Any], run: JobRun) -> None:
        details = job["status_details"]
        steps = self.config.job_steps
        epochs = run.epochs
        run.step += 1
        stamp = now_iso()
        details["steps_completed"] = run.step
        details["percentage_done"] = round(100.0 * run.step / steps, 3)
        details["elapsed_time"] = round(run.step * self.config.tick_seconds, 3)
        details["train_loss"] = _loss(job["id"], run.step, steps, 0.0)
        details["metrics"]["metrics"]["train_loss"].append(
            {"step": run.step, "timestamp": stamp, "value": details["train_loss"]}
        )
        epochs_done = run.step * epochs // steps
        if epochs_done > details["epochs_completed"]:
            details["epochs_completed"] = epochs_done
            details["val_loss"] = _loss(job["id"], run.step, steps, 0.03)
            val_losses = details["metrics"]["metrics"]["val_loss"]
            val_losses.append({"step": run.step, "timestamp": stamp, "value": details["val_loss"]})
            details["best_epoch"] = min(range(len(val_losses)), key=lambda index: val_losses[index]["value"])
            self._log(
                job, "EpochCompleted", f"Epoch {epochs_done}/{epochs} completed: val_loss {details['val_loss']:.4f}."
            )
        details["updated_at"] = job["updated_at"] = stamp
        if run.step >= steps:
            self._complete(job)
        else:
            self._check_faults(job, run)

    def _check_faults(self, job: dict[str, Any], run: JobRun) -> None:
        if not run.faults_apply:
            return
        faults = self.config.faults
        done = job["status_details"]["percentage_done"]
        if faults.job_fail_at_percent is not None and done >= faults.job_fail_at_percent:
            self._fail(job, f"Training failed at {done:.1f}%: worker process exited with code 1 (injected fault).")
        elif faults.job_cancel_at_percent is not None and done >= faults.job_cancel_at_percent:
            self._set_status(
                job,
                "cancelling",
                f"Job is being cancelled by the platform at {done:.1f}% (injected fault).",
                "JobCancelling",
            )

    def _complete(self, job: dict[str, Any]) -> None:
        message = "Training completed."
        output_model = job.get("output_model")
        if output_model:
            namespace, name = output_model.split("/", 1)
            fields = {
                "namespace": namespace,
                "name": name,
                "description": f"Output of customization job {job['id']}",
                "base_model": job.get("base_model"),
                "artifact": {
                    "files_url": f"hf://models/{output_model}",
                    "status": "upload_completed",
                    "backend_engine": "nemo",
                },
                "custom_fields": {"customization_job_id": job["id"]},
            }
            if job["hyperparameters"].get("finetuning_type") in ("lora", "lora_merged"):
                fields["peft"] = {"finetuning_type": "lora"}
            try:
                register_model(self.state, fields)
                message += f" Output model '{output_model}' registered in the Entity Store."
            except ApiError:
                message += f" Output model '{output_model}' already existed in the Entity Store; kept it."
        self._set_status(job, "completed", message, "TrainingJobCompleted")

    def _fail(self, job: dict[str, Any], message: str) -> None:
        self._set_status(job, "failed", message, "TrainingJobFailed")

    def _set_status(self, job: dict[str, Any], status: str, message: str, event: str) -> None:
        job["status"] = job["status_details"]["status"] = status
        self._log(job, event, message)

    def _log(self, job: dict[str, Any], event: str, message: str) -> None:
        """Append a status log: ``message`` is the sentence, ``detail`` the event's code name."""
        stamp = now_iso()
        details = job["status_details"]
        details["status_logs"].append({"updated_at": stamp, "message": message, "detail": event})
        details["updated_at"] = job["updated_at"] = stamp
