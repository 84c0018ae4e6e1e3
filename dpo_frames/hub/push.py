"""Push a dataset to the Hugging Face Hub, or any Hub-compatible endpoint, in one commit."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field

import polars as pl

from dpo_frames._extras import require
from dpo_frames.dataset import PromptContext
from dpo_frames.errors import HubError
from dpo_frames.hub.card import dataset_card, split_file
from dpo_frames.hub.convert import _dataset_dict, format_for, hub_dataset

__all__ = ["PushResult", "push_to_hub"]


@dataclass(frozen=True)
class PushResult:
    """What a push made: the repository, its commit, the files and the records of each split."""

    repo_url: str
    commit_url: str
    format: str
    recipe: str
    rows: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)


def push_to_hub(
    dataset: pl.DataFrame | pl.LazyFrame | str | os.PathLike[str],
    repo_id: str,
    *,
    format: str | None = None,
    endpoint: str | None = None,
    token: str | None = None,
    private: bool | None = None,
    commit_message: str | None = None,
    use_full_message_history: bool = False,
    prompt_context: PromptContext | str = PromptContext.REFUSE,
) -> PushResult:
    """Push ``dataset`` (a frame or a directory dpo_frames wrote) to the dataset repository ``repo_id``.

    The repository is created if needed; one commit adds ``data/{split}-00000-of-00001.parquet``
    (written by ``datasets``, so the features travel with the files) and a ``README.md`` dataset
    card (see :func:`~dpo_frames.hub.dataset_card`), so ``load_dataset(repo_id)`` gives the same
    rows as :func:`~dpo_frames.hub.to_hf_dataset`. ``endpoint`` is a Hub-compatible API (default:
    ``HF_ENDPOINT`` or the Hub); ``token`` defaults to ``huggingface_hub``'s (``HF_TOKEN``, the saved
    login); an empty token is no token. Failures of the endpoint raise
    :class:`~dpo_frames.errors.HubError` naming the call.
    """
    hub = require("huggingface_hub", extra="hf", feature="push_to_hub")
    require("datasets", extra="hf", feature="push_to_hub")
    source = hub_dataset(dataset, format=format)
    fmt = format_for(source.recipe, format)
    splits = _dataset_dict(source, fmt, use_full_message_history, False, prompt_context)
    rows = {split: part.num_rows for split, part in splits.items()}
    operations = []
    for split, part in splits.items():
        buffer = io.BytesIO()
        part.to_parquet(buffer)
        operations.append(hub.CommitOperationAdd(path_in_repo=split_file(split), path_or_fileobj=buffer.getvalue()))
    card = dataset_card(repo_id, source.record, recipe=source.recipe, format=fmt, rows=rows)
    operations.append(hub.CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=card.encode()))
    api = hub.HfApi(endpoint=endpoint, token=token or None)
    message = commit_message or f"dpo_frames: {source.recipe} dataset ({fmt}), {sum(rows.values())} records"
    call = "create_repo"
    try:
        repo = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        call = "create_commit"
        commit = api.create_commit(repo_id, operations, commit_message=message, repo_type="dataset")
    except Exception as exc:  # huggingface_hub's HTTP, connection and card-validation errors
        if not _is_hub_failure(exc):
            raise
        where = endpoint or hub.constants.ENDPOINT
        raise HubError(f"{call} of dataset {repo_id} at {where} failed: {' '.join(str(exc).split())}") from None
    return PushResult(
        repo_url=str(repo),
        commit_url=str(commit.commit_url),
        format=fmt,
        recipe=source.recipe,
        rows=rows,
        files=[op.path_in_repo for op in operations],
    )


_HTTP_PACKAGES = frozenset({"huggingface_hub", "httpx", "httpx2", "httpcore", "requests", "urllib3"})
"""Packages whose exceptions a push may meet (huggingface_hub 2 talks through ``httpx2``, 1 through ``httpx``)."""


def _is_hub_failure(exc: Exception) -> bool:
    """An error of the endpoint or the connection (or the card check), not a bug of ours."""
    packages = {kind.__module__.split(".")[0] for kind in type(exc).__mro__}
    return isinstance(exc, (OSError, ValueError)) or bool(packages & _HTTP_PACKAGES)
