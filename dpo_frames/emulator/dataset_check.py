"""Validation of a dataset before training, by the job's ``training_type``, as NeMo Customizer does it.

The dataset must be registered in the Entity Store with ``files_url`` ``hf://datasets/{ns}/{name}``;
the repository must hold ``training/training_file.jsonl`` and ``validation/validation_file.jsonl``;
each non-blank line is a JSON object of the job's training type:

- ``dpo``: ``prompt`` (a string, or a non-empty list of ``{role, content}`` messages),
  ``chosen_response`` and ``rejected_response`` (strings);
- ``sft``: ``{"prompt": str, "completion": str}`` (completion models) or ``{"messages": [...]}``
  (chat models), the assistant's answer as the last message. A DPO record is not an SFT record.

The first problem found is reported with the file and the 1-based line number. Other training
types (``distillation``, ``grpo``) are not emulated: their jobs fail saying so.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .state import EmulatorState, repo_key

TRAINING_FILE = "training/training_file.jsonl"
VALIDATION_FILE = "validation/validation_file.jsonl"
DPO_FILES = (TRAINING_FILE, VALIDATION_FILE)
_FILES_URL = re.compile(r"^hf://datasets/(?P<repo>[^/]+/[^/]+?)/?$")


class DatasetInvalid(ValueError):
    """The dataset cannot be trained on; the message says why, naming file and line."""


@dataclass(frozen=True)
class DatasetSummary:
    """What validation learnt: records per file."""

    records: dict[str, int]


def _messages_problem(field: str, messages: list[Any]) -> str | None:
    if not messages:
        return f"field '{field}' is an empty list of messages"
    for index, message in enumerate(messages):
        if not (
            isinstance(message, dict)
            and isinstance(message.get("role"), str)
            and isinstance(message.get("content"), str)
        ):
            return f"field '{field}' message {index} must be an object with string 'role' and 'content'"
    return None


def _dpo_problem(record: Any) -> str | None:
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    for field in ("prompt", "chosen_response", "rejected_response"):
        if field not in record:
            return f"missing required field '{field}'"
    prompt = record["prompt"]
    if isinstance(prompt, list):
        problem = _messages_problem("prompt", prompt)
        if problem is not None:
            return problem
    elif not isinstance(prompt, str):
        return f"field 'prompt' must be a string or a list of messages, got {type(prompt).__name__}"
    for field in ("chosen_response", "rejected_response"):
        if not isinstance(record[field], str):
            return f"field '{field}' must be a string, got {type(record[field]).__name__}"
    return None


_SFT_SHAPES = 'an SFT record is {"prompt": str, "completion": str} or {"messages": [...]}'


def _sft_problem(record: Any) -> str | None:
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    if "messages" in record:
        messages = record["messages"]
        if not isinstance(messages, list):
            return f"field 'messages' must be a list of messages, got {type(messages).__name__}"
        problem = _messages_problem("messages", messages)
        if problem is not None:
            return problem
        if messages[-1]["role"] != "assistant":
            return f"the last message must be the assistant's answer, got role '{messages[-1]['role']}'"
        return None
    if "chosen_response" in record or "rejected_response" in record:
        return f"a DPO record (prompt, chosen_response, rejected_response) in an SFT job; {_SFT_SHAPES}"
    for field in ("prompt", "completion"):
        if field not in record:
            return f"missing required field '{field}' ({_SFT_SHAPES})"
        if not isinstance(record[field], str):
            return f"field '{field}' must be a string, got {type(record[field]).__name__}"
    return None


RECORD_CHECKS: dict[str, Callable[[Any], str | None]] = {"dpo": _dpo_problem, "sft": _sft_problem}
"""The record check of each training type the emulator validates."""


def _check_file(state: EmulatorState, sha256: str, path: str, problem_of: Callable[[Any], str | None]) -> int:
    records = 0
    for number, raw in enumerate(state.blobs.iter_lines(sha256), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
            raise DatasetInvalid(f"{path} line {number}: invalid JSON ({reason})") from None
        except (ValueError, RecursionError) as exc:  # a 5000-digit number, nesting deeper than the parser goes
            kind = "nested too deep" if isinstance(exc, RecursionError) else str(exc).split(":")[0]
            raise DatasetInvalid(f"{path} line {number}: unreadable JSON ({kind})") from None
        problem = problem_of(record)
        if problem is not None:
            raise DatasetInvalid(f"{path} line {number}: {problem}")
        records += 1
    if records == 0:
        raise DatasetInvalid(f"{path}: the file has no records")
    return records


def validate_dpo_dataset(state: EmulatorState, namespace: str, name: str, min_records: int = 1) -> DatasetSummary:
    """Check the registered dataset ``namespace/name`` for a DPO job; raise :class:`DatasetInvalid` if unusable."""
    return validate_dataset(state, namespace, name, training_type="dpo", min_records=min_records)


def validate_dataset(
    state: EmulatorState, namespace: str, name: str, *, training_type: str = "sft", min_records: int = 1
) -> DatasetSummary:
    """Check the registered dataset ``namespace/name`` for a job of ``training_type`` (the service's
    default is ``sft``); raise :class:`DatasetInvalid`, naming file and line, if it cannot train."""
    problem_of = RECORD_CHECKS.get(training_type)
    if problem_of is None:
        raise DatasetInvalid(
            f"training_type '{training_type}' is not emulated; the emulator validates {sorted(RECORD_CHECKS)} datasets"
        )
    key = f"{namespace}/{name}"
    dataset = state.datasets.get(key)
    if dataset is None:
        raise DatasetInvalid(f"dataset '{key}' is not registered in the Entity Store")
    files_url = str(dataset.get("files_url", ""))
    match = _FILES_URL.match(files_url)
    if match is None:
        raise DatasetInvalid(f"dataset '{key}': files_url {files_url!r} is not of the form hf://datasets/<ns>/<name>")
    repo = state.repos.get(repo_key("dataset", match["repo"]))
    if repo is None:
        raise DatasetInvalid(f"dataset '{key}': repository {files_url} does not exist in the Data Store")
    counts = {}
    for path in DPO_FILES:
        item = repo.files.get(path)
        if item is None:
            raise DatasetInvalid(f"required file '{path}' not found in {files_url}")
        counts[path] = _check_file(state, item.sha256, path, problem_of)
        if counts[path] < min_records:
            raise DatasetInvalid(
                f"{path}: {counts[path]} records, fewer than one global batch ({min_records}); training would fail"
            )
    return DatasetSummary(counts)
