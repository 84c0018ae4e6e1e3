"""Commands on the NeMo platform: ``emulator``, ``submit``, ``status``.

The client settings come from the environment (``NEMO_MICROSERVICES_BASE_URL``,
``NEMO_API_TOKEN``, ...: see :class:`dpo_frames.customizer.CustomizerSettings`);
``--host`` overrides the base URL. Tokens are read from the environment only, never
from the command line, and never printed.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from dpo_frames.cli.console import err_console, mapping_table, out_console, percent_progress
from dpo_frames.cli.errors import EXIT_BAD_INPUT, EXIT_JOB, EXIT_PLATFORM, CliError, one_line

__all__ = ["emulator_command", "status_command", "submit_command"]

DEFAULT_CONFIG = "meta/llama-3.2-1b-instruct@v1.0.0+A100"


@click.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port to listen on (the example config's EMULATOR_PORT default).",
)
@click.option(
    "--clock",
    type=click.Choice(["wall", "request"]),
    default=None,
    help="What moves the job clock: wall time, or one tick per request received (deterministic dry runs) "
    "[default: wall].",
)
@click.option(
    "--tick-seconds",
    type=click.FloatRange(min=0.0, min_open=True),
    default=None,
    help="One step of the job clock, in seconds [default: 0.05].",
)
@click.option(
    "--job-steps", type=click.IntRange(min=1), default=None, help="Training steps from 0% to 100% [default: 10]."
)
@click.option(
    "--default-epochs",
    "epochs",
    type=click.IntRange(min=1),
    default=None,
    help="Epochs of a job whose hyperparameters give none [default: 2].",
)
@click.option(
    "--deployment-ready-after",
    type=click.FloatRange(min=0.0),
    default=None,
    help="Seconds until a model deployment is ready [default: 0.2].",
)
@click.option(
    "--persist-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep state and uploaded files here, across restarts.",
)
@click.option(
    "--require-full-batch",
    is_flag=True,
    help="Fail jobs whose training or validation file has fewer records than batch_size.",
)
@click.option(
    "--token-env",
    metavar="VAR",
    default=None,
    help="Require 'Authorization: Bearer <token>', the token read from environment variable VAR.",
)
@click.option(
    "--job-fail-at-percent",
    type=click.FloatRange(0.0, 100.0),
    default=None,
    help="Fault injection: jobs fail when their progress reaches this percentage.",
)
@click.option(
    "--unavailable-rate",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    help="Fault injection: fraction of requests answered 503.",
)
def emulator_command(
    host: str,
    port: int,
    token_env: str | None,
    job_fail_at_percent: float | None,
    unavailable_rate: float | None,
    **options: Any,
) -> None:
    """Serve the local NeMo platform emulator in the foreground (Ctrl-C stops it).

    It plays the Entity Store, Data Store (Hugging Face API), Customizer and Deployment
    management on one URL, for offline work and tests:

    \b
      dpo-frames emulator &                    # on 127.0.0.1:8765
      NEMO_MICROSERVICES_BASE_URL=http://127.0.0.1:8765 dpo-frames submit runs/r1/datasets/customizer ...
    """
    import os

    from dpo_frames.emulator import EmulatorConfig, FaultConfig, serve

    values: dict[str, Any] = {k: v for k, v in options.items() if v not in (None, False)}
    faults = {
        k: v
        for k, v in (("job_fail_at_percent", job_fail_at_percent), ("unavailable_rate", unavailable_rate))
        if v is not None
    }
    if faults:
        values["faults"] = FaultConfig(**faults)
    if token_env:
        token = os.environ.get(token_env)
        if not token:
            raise click.UsageError(f"--token-env {token_env}: that environment variable is not set or empty")
        values["token"] = token
    try:
        config = EmulatorConfig(**values)
    except ValidationError as exc:
        raise click.UsageError(one_line(exc, all_lines=True)) from None
    err_console().print(f"emulator on http://{host}:{port} (Ctrl-C to stop)")
    serve(host=host, port=port, config=config)


def _settings(host: str | None) -> Any:
    from dpo_frames.customizer import CustomizerSettings

    try:
        return CustomizerSettings.from_env(entity_host=host) if host else CustomizerSettings.from_env()
    except ValidationError as exc:
        missing = any(e["type"] == "missing" for e in exc.errors())
        if missing:
            raise click.UsageError("no platform URL: set NEMO_MICROSERVICES_BASE_URL or pass --host") from None
        raise click.UsageError(f"bad platform settings: {exc.errors()[0]['msg']}") from None


def _run(coro: Any) -> Any:
    """Run a client coroutine; map the client's errors to exit codes."""
    from dpo_frames.customizer import CustomizerError, JobError, LocalDatasetError, RunConflictError

    try:
        return asyncio.run(coro)
    except (LocalDatasetError, RunConflictError) as exc:
        raise CliError(one_line(exc, all_lines=True), EXIT_BAD_INPUT) from None
    except JobError as exc:
        raise CliError(one_line(exc, all_lines=True), EXIT_JOB) from None
    except CustomizerError as exc:
        raise CliError(one_line(exc, all_lines=True), EXIT_PLATFORM) from None


async def _follow(
    client: Any, job_id: str, poll_interval: float, timeout: float | None, dataset_dir: str | None = None
) -> Any:
    from dpo_frames.customizer import wait_for_job

    with percent_progress(err_console()) as progress:
        task = progress.add_task(f"job {job_id}", total=100)

        def on_progress(status: Any) -> None:
            progress.update(task, completed=status.percentage_done or 0, description=f"job {job_id}: {status.status}")

        return await wait_for_job(
            client,
            job_id,
            poll_interval=poll_interval,
            timeout=timeout,
            on_progress=on_progress,
            dataset_dir=dataset_dir,
        )


def _status_rows(status: Any) -> dict[str, Any]:
    rows = {
        "status": status.status,
        "percentage done": status.percentage_done,
        "epochs completed": status.epochs_completed,
        "steps completed": status.steps_completed,
        "train loss": status.train_loss,
        "val loss": status.val_loss,
    }
    rows = {k: v for k, v in rows.items() if v is not None}
    messages = status.last_messages()
    if messages:
        rows["last messages"] = messages
    return rows


host_option = click.option(
    "--host", default=None, metavar="URL", help="Platform base URL [default: $NEMO_MICROSERVICES_BASE_URL]."
)
wait_options = [
    click.option(
        "--poll-interval",
        type=click.FloatRange(min=0.0),
        default=5.0,
        show_default=True,
        help="Seconds between status reads while waiting.",
    ),
    click.option(
        "--timeout",
        type=click.FloatRange(min=0.0),
        default=None,
        help="Give up waiting after this many seconds (exit 5).",
    ),
]


def _with(options: list[Any]) -> Any:
    def decorate(f: Any) -> Any:
        for option in reversed(options):
            f = option(f)
        return f

    return decorate


def _default_run_id(dataset_dir: Path) -> str:
    """The run id of a dataset directory: its record's (one run), else the name above it (0.1 layout)."""
    from dpo_frames.errors import RunDirError
    from dpo_frames.rundir import open_dir

    try:
        record = open_dir(dataset_dir).record
    except RunDirError:
        return dataset_dir.resolve().parent.name
    if record.run_id:
        return record.run_id
    raise click.UsageError(
        f"{dataset_dir} holds the pairs of {len(record.run_ids) or 'no'} runs: name the submission with --run-id"
    )


@click.command("submit")
@click.argument("dataset_dir", type=click.Path(path_type=Path))
@click.option("--namespace", required=True, help="Platform namespace (created if missing).")
@click.option("--dataset-name", required=True, help="Name of the dataset repository to upload to.")
@click.option(
    "--run-id",
    default=None,
    help="Idempotency key: a second submit with the same run id reuses its job "
    "[default: the run of the dataset's record].",
)
@click.option(
    "--config",
    "config_name",
    default=DEFAULT_CONFIG,
    show_default=True,
    help="Customization config (namespace/name@version+GPU).",
)
@click.option("--output-model", default=None, help="Name of the trained model.")
@click.option("--finetuning-type", default="lora", show_default=True, help="lora, lora_merged or all_weights.")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Training epochs.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Training batch size.")
@click.option("--learning-rate", type=click.FloatRange(min=0.0, min_open=True), default=None, help="Learning rate.")
@click.option("--wait/--no-wait", default=False, show_default=True, help="Follow the job until it ends.")
@_with(wait_options)
@host_option
@click.option("--json", "as_json", is_flag=True, help="Print the job reference as JSON.")
def submit_command(
    dataset_dir: Path,
    namespace: str,
    dataset_name: str,
    run_id: str | None,
    config_name: str,
    output_model: str | None,
    finetuning_type: str,
    epochs: int | None,
    batch_size: int | None,
    learning_rate: float | None,
    wait: bool,
    poll_interval: float,
    timeout: float | None,
    host: str | None,
    as_json: bool,
) -> None:
    """Upload a dataset directory and submit a DPO customization job (once per run id).

    DATASET_DIR holds training/training_file.jsonl and validation/validation_file.jsonl
    (what `dpo-frames dataset` writes). Prints the job id; with --wait, follows the job
    and exits 5 if it fails, is cancelled or times out.
    """
    from dpo_frames.customizer import CustomizerClient, DpoParameters, Hyperparameters, submit_dataset_job

    settings = _settings(host)
    run_id = run_id or _default_run_id(dataset_dir)
    hyperparameters = Hyperparameters(
        training_type="dpo",
        finetuning_type=finetuning_type,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        dpo=DpoParameters(),
    )

    async def go() -> tuple[Any, Any]:
        async with CustomizerClient(settings) as client:
            ref = await submit_dataset_job(
                client,
                dataset_dir=dataset_dir,
                namespace=namespace,
                dataset_name=dataset_name,
                run_id=run_id,
                config=config_name,
                hyperparameters=hyperparameters,
                output_model=output_model,
            )
            final = await _follow(client, ref.job_id, poll_interval, timeout, str(dataset_dir)) if wait else None
            return ref, final

    ref, final = _run(go())
    if as_json:
        click.echo(
            json.dumps({**ref.model_dump(mode="json", exclude={"uploads"}), "status": final.status if final else None})
        )
        return
    console = out_console()
    console.print(
        mapping_table(
            {
                "job id": ref.job_id,
                "run id": ref.run_id,
                "dataset": ref.dataset.files_url,
                "output model": ref.output_model,
                "reused job": ref.reused_job,
                "files uploaded": sum(1 for u in ref.uploads if u.mode != "skipped"),
            },
            title="submitted",
        )
    )
    if final is not None:
        console.print(mapping_table(_status_rows(final), title=f"job {ref.job_id}"))


@click.command("status")
@click.argument("job_id")
@host_option
@click.option("--wait", is_flag=True, help="Follow the job until it ends (exit 5 if it fails or is cancelled).")
@_with(wait_options)
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status_command(
    job_id: str, host: str | None, wait: bool, poll_interval: float, timeout: float | None, as_json: bool
) -> None:
    """Show the status of customization job JOB_ID.

    Exits 0 whenever the status could be read (whatever the job's state); with --wait,
    0 only when the job completed.
    """
    from dpo_frames.customizer import CustomizerClient

    settings = _settings(host)

    async def go() -> Any:
        async with CustomizerClient(settings) as client:
            if wait:
                return await _follow(client, job_id, poll_interval, timeout)
            return await client.jobs.status(job_id)

    status = _run(go())
    if as_json:
        click.echo(status.model_dump_json(exclude_none=True))
        return
    out_console().print(mapping_table(_status_rows(status), title=f"job {job_id}"))
