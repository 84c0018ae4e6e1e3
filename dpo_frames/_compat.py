"""The import paths of dpo_frames 0.1, kept working after the package was laid out by stage.

``import dpo_frames.sql`` (0.1) finds :mod:`dpo_frames.explore.sql` (0.2) and so on: a
finder on ``sys.meta_path`` answers, for a module name of :data:`ALIASES` (or below one),
with the module it moved to. The module is the same object under both names, so
``dpo_frames.sql.query is dpo_frames.explore.sql.query``. The finder comes first: below an
aliased package (``dpo_frames.customizer.emulator.server``) the path finder would otherwise
load a second copy of the module under the old name. It answers no other name.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType

ALIASES: dict[str, str] = {
    "dpo_frames.config": "dpo_frames.pairs.config",
    "dpo_frames.ingest": "dpo_frames.candidates.objects",
    "dpo_frames.export": "dpo_frames.dataset",
    "dpo_frames.partitioned": "dpo_frames.scale.partitioned",
    "dpo_frames.distributed": "dpo_frames.scale.dask",
    "dpo_frames.distributed.dask_engine": "dpo_frames.scale.dask.engine",
    "dpo_frames.distributed.errors": "dpo_frames.errors",
    "dpo_frames.sql": "dpo_frames.explore.sql",
    "dpo_frames.quality": "dpo_frames.explore.quality",
    "dpo_frames.report": "dpo_frames.explore.report",
    "dpo_frames.customizer.emulator": "dpo_frames.emulator",
    "dpo_frames.customizer.errors": "dpo_frames.errors",
    "dpo_frames.nat.errors": "dpo_frames.errors",
}
"""0.1 module -> where it lives now (submodules of an aliased package follow it)."""


def target_of(name: str) -> str | None:
    """The module an old name stands for, or None when ``name`` is not an old name."""
    if name in ALIASES:
        return ALIASES[name]
    parent, _, child = name.rpartition(".")
    while parent:
        if parent in ALIASES:
            return f"{ALIASES[parent]}.{child}"
        parent, _, rest = parent.rpartition(".")
        child = f"{rest}.{child}"
    return None


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        """The target module is already executed."""


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        moved = target_of(fullname) if fullname.startswith("dpo_frames.") else None
        if moved is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(moved))


def install() -> None:
    """Put the finder at the front of ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _AliasFinder())
