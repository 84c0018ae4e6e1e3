"""Data Store: ``POST /v1/hf/api/validate-yaml``, the check ``huggingface_hub`` makes of a ``README.md``'s
YAML front matter before it commits a repository card (``create_commit``, ``upload_file``,
``DatasetCard.push_to_hub``). Without this route a card upload fails with a 404.

The answer is the Hub's: ``200 {"errors": [], "warnings": [...]}`` when the metadata is usable,
``400`` with ``errors`` (each ``{"message"}``) when it is not: YAML that does not parse or is not a
mapping, and for datasets a ``configs`` list the ``datasets`` library could not use (each config a
unique ``config_name`` and ``data_files`` as a path, a list of paths, or ``{split, path}`` entries)
or ``dataset_info`` splits without a name and a whole number of examples.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .hf import HF_PREFIX
from .http import parse_body

__all__ = ["front_matter_problems", "routes"]


class ValidateYaml(BaseModel):
    """Body of ``POST /api/validate-yaml`` as ``HfApi`` sends it."""

    model_config = ConfigDict(extra="ignore")

    content: str
    repoType: str = "model"


def _front_matter(content: str) -> str | None:
    """The YAML between a leading ``---`` line and the next one, or None without front matter."""
    lines = content.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        return None
    for end, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            return "\n".join(lines[1:end])
    return None


def _paths_problem(where: str, paths: Any) -> str | None:
    if isinstance(paths, str) or (isinstance(paths, list) and paths and all(isinstance(p, str) for p in paths)):
        return None
    return f"{where}: path must be a string or a non-empty list of strings"


def _data_files_problem(where: str, data_files: Any) -> str | None:
    if isinstance(data_files, str):
        return None
    if not isinstance(data_files, list) or not data_files:
        return f"{where}: data_files must be a path, a list of paths or a list of {{split, path}}"
    splits = set()
    for index, entry in enumerate(data_files):
        if isinstance(entry, str):
            continue
        if not (isinstance(entry, dict) and isinstance(entry.get("split"), str) and "path" in entry):
            return f"{where}.data_files[{index}]: expected a path or {{split: str, path: ...}}"
        if entry["split"] in splits:
            return f"{where}.data_files: split '{entry['split']}' is listed twice"
        splits.add(entry["split"])
        problem = _paths_problem(f"{where}.data_files[{index}]", entry["path"])
        if problem is not None:
            return problem
    return None


def _configs_problems(configs: Any) -> list[str]:
    if not isinstance(configs, list):
        return ["configs must be a list"]
    problems, names = [], set()
    for index, config in enumerate(configs):
        where = f"configs[{index}]"
        if not isinstance(config, dict) or not isinstance(config.get("config_name"), str):
            problems.append(f"{where}: config_name (a string) is required")
            continue
        if config["config_name"] in names:
            problems.append(f"{where}: config_name '{config['config_name']}' is used twice")
        names.add(config["config_name"])
        if "data_files" in config:
            problem = _data_files_problem(where, config["data_files"])
            if problem is not None:
                problems.append(problem)
    return problems


def _info_problems(info: Any) -> list[str]:
    infos = info if isinstance(info, list) else [info]
    problems = []
    for entry in infos:
        if not isinstance(entry, dict):
            problems.append("dataset_info must be a mapping or a list of mappings")
            continue
        for split in entry.get("splits", []) or []:
            if not (
                isinstance(split, dict)
                and isinstance(split.get("name"), str)
                and isinstance(split.get("num_examples", 0), int)
            ):
                problems.append(f"dataset_info.splits: {split!r} needs a name and an integer num_examples")
    return problems


def front_matter_problems(content: str, repo_type: str) -> tuple[list[str], list[str]]:
    """``(errors, warnings)`` of a card's metadata, as the Hub reports them.

    Example:
        >>> front_matter_problems("---\\nconfigs:\\n- config_name: default\\n  data_files: data/*.jsonl\\n---\\n", "dataset")
        ([], [])
        >>> front_matter_problems("---\\nconfigs: [{data_files: x}]\\n---\\n", "dataset")[0]
        ['configs[0]: config_name (a string) is required']
    """
    import yaml  # the emulator extra

    text = _front_matter(content)
    if text is None or not text.strip():
        return [], ["Empty metadata: the README has no YAML front matter (between --- lines)"]
    try:
        metadata = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return [f"Invalid YAML in the front matter: {' '.join(str(exc).split())}"], []
    if not isinstance(metadata, dict):
        return [f"The front matter must be a YAML mapping, got {type(metadata).__name__}"], []
    errors: list[str] = []
    if repo_type == "dataset":
        if "configs" in metadata:
            errors += _configs_problems(metadata["configs"])
        if "dataset_info" in metadata:
            errors += _info_problems(metadata["dataset_info"])
    return errors, []


def routes() -> list[Route]:
    """The card check of the Hugging Face compatible API."""

    async def validate_yaml(request: Request) -> Response:
        body = await parse_body(request, ValidateYaml)
        errors, warnings = front_matter_problems(body.content, body.repoType)
        answer = {"errors": [{"message": e} for e in errors], "warnings": [{"message": w} for w in warnings]}
        return JSONResponse(answer, status_code=400 if errors else 200)

    return [Route(f"{HF_PREFIX}/api/validate-yaml", validate_yaml, methods=["POST"])]
