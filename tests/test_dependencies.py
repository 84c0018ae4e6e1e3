"""Every module imports only what the install it belongs to declares: the core, or its extra."""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "dpo_frames"

EXTRA_HOMES = {
    "nat": ("nat/", "demo.py"),
    "emulator": ("emulator/", "demo.py"),
    "report": ("explore/report.py",),
    "dask": ("scale/dask/", "cli/build.py"),  # cli/build.py: fsspec for an output URL, only with --engine dask
    "hf": ("hub/",),
}
"""Where each extra's modules may be imported (always inside a check that says which extra is missing)."""


def _requirement_names(requirements: list[str]) -> set[str]:
    names = set()
    for requirement in requirements:
        name = re.split(r"[\s\[<>=~!;]", requirement, maxsplit=1)[0]
        if not name.startswith("dpo_frames"):
            names.add(name.lower().replace("_", "-"))
    return names


def _declared() -> tuple[set[str], dict[str, set[str]]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = {k: _requirement_names(v) for k, v in project["optional-dependencies"].items()}
    return _requirement_names(project["dependencies"]), extras


@functools.cache
def _all_distributions() -> dict[str, list[str]]:
    return dict(importlib.metadata.packages_distributions())


def _distributions_of(module: str) -> set[str]:
    found = _all_distributions().get(module, [])
    return {d.lower().replace("_", "-") for d in found}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in ("dpo_frames", "__future__")}


def _catches_import_error(node: ast.Try) -> bool:
    return any(getattr(h.type, "id", None) in ("ImportError", "ModuleNotFoundError") for h in node.handlers)


def _type_checking_only(path: Path) -> set[str]:
    """Imports only for the type checker, or tried and given up on (``except ImportError``)."""
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        typing_only = isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"
        optional = isinstance(node, ast.Try) and _catches_import_error(node) and node.body
        if typing_only or optional:
            body = node.body if optional else [node]
            for sub in (s for b in body for s in ast.walk(b)):
                if isinstance(sub, ast.ImportFrom) and sub.module:
                    names.add(sub.module.split(".")[0])
                elif isinstance(sub, ast.Import):
                    names |= {a.name.split(".")[0] for a in sub.names}
    return names


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_are_declared(path: Path) -> None:
    core, extras = _declared()
    relative = str(path.relative_to(PACKAGE))
    allowed = set(core)
    for extra, homes in EXTRA_HOMES.items():
        if relative.startswith(homes):
            allowed |= extras[extra]
    for module in _imports(path) - _type_checking_only(path):
        if module == "dpo_frames_tictactoe":  # the example workflow, which demo.py asks to install
            continue
        distributions = _distributions_of(module)
        assert distributions, f"{relative} imports {module}, which no installed distribution provides"
        assert distributions & allowed, (
            f"{relative} imports {module} ({', '.join(sorted(distributions))}), not declared for it "
            f"(core: {sorted(core)})"
        )
