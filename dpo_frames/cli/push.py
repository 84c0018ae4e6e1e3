"""``dpo-frames push``: a dataset to the Hugging Face Hub (or a Hub-compatible endpoint), with its card."""

from __future__ import annotations

from pathlib import Path

import click

from dpo_frames.cli.console import mapping_table, out_console
from dpo_frames.cli.dataset import FORMAT_HELP, FULL_HISTORY_HELP, LAST_MESSAGE_HELP
from dpo_frames.cli.errors import EXIT_BAD_INPUT, reraise_as
from dpo_frames.cli.options import INPUT_ERRORS
from dpo_frames.dataset import FORMATS, PromptContext

__all__ = ["push_command"]


@click.command("push")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.argument("repo_id")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help=FORMAT_HELP,
)
@click.option(
    "--endpoint",
    envvar="HF_ENDPOINT",
    default=None,
    help="A Hub-compatible API, e.g. a NeMo Data Store's http://host/v1/hf [env HF_ENDPOINT; default: the Hub].",
)
@click.option("--private", is_flag=True, default=None, help="Create the repository private.")
@click.option("--full-message-history", is_flag=True, help=FULL_HISTORY_HELP)
@click.option("--last-message-only", is_flag=True, help=LAST_MESSAGE_HELP)
@click.option("--message", "commit_message", default=None, help="The commit message.")
def push_command(
    run_dir: Path,
    repo_id: str,
    fmt: str | None,
    endpoint: str | None,
    private: bool | None,
    full_message_history: bool,
    last_message_only: bool,
    commit_message: str | None,
) -> None:
    """Push the dataset of RUN_DIR to the dataset repository REPO_ID, with a dataset card.

    RUN_DIR is a dataset export (its dataset as it is) or a run (a dataset made from its pairs
    or, for an SFT or KTO format, its candidates, with default settings). The splits go to
    data/*.parquet and README.md says where they came from and how to train on them with TRL;
    `datasets.load_dataset(REPO_ID)` loads them. The token is huggingface_hub's (HF_TOKEN or
    the saved login).

    \b
    Example:
      dpo-frames push runs/r1/datasets/trl-sft-conversational me/ttt-sft
      dpo-frames push runs/r1 team/ttt-dpo --endpoint http://127.0.0.1:8765/v1/hf
    """
    from dpo_frames.hub import push_to_hub

    context = PromptContext.LAST_MESSAGE if last_message_only else PromptContext.REFUSE
    with reraise_as(EXIT_BAD_INPUT, *INPUT_ERRORS, prefix=f"{run_dir}: "):
        result = push_to_hub(
            run_dir,
            repo_id,
            format=fmt,
            endpoint=endpoint,
            private=private,
            commit_message=commit_message,
            use_full_message_history=full_message_history,
            prompt_context=context,
        )
    rows = {f"{split} records": n for split, n in result.rows.items()}
    summary = {"repository": result.repo_url, "commit": result.commit_url, "recipe": result.recipe, **rows}
    out_console().print(
        mapping_table({**summary, "format": result.format, "files": ", ".join(result.files)}, title=f"pushed {repo_id}")
    )
