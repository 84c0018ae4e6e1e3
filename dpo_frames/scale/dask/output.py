"""The output directory, local or any fsspec URL, as workers and the driver write it.

Layout (the single-machine path's, see :func:`~dpo_frames.scale.partitioned.build_dataset_partitioned`)::

    pairs/part-NNNNN.parquet            every pair, one file per partition (workers)
    dataset/part-NNNNN.parquet          the kept pairs with their split (workers)
    training/training_file.jsonl        NeMo Customizer files: the workers' JSONL parts,
    validation/validation_file.jsonl    concatenated in partition order by the driver
    dpo_frames.json                     the record, written last: its presence marks a complete build

While a build runs, the JSONL parts live under ``_parts/``; it is removed at the end.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

import fsspec
from fsspec.core import url_to_fs

from dpo_frames import layout
from dpo_frames.layout import CUSTOMIZER_FILES
from dpo_frames.schema import TRAIN, VALIDATION

PARTS = "_parts"
RECORD = layout.RECORD_FILE
_COPY_CHUNK = 16 * 2**20


@dataclass(frozen=True)
class OutputDir:
    """A build's output directory; picklable, so tasks get it as an argument."""

    url: str
    storage_options: Mapping[str, Any] = field(default_factory=dict, repr=False)  # may hold credentials

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        return url_to_fs(self.url, **self.storage_options)[0]

    def path(self, *parts: str) -> str:
        """The fsspec path (no protocol) of ``parts`` below the directory."""
        root = url_to_fs(self.url, **self.storage_options)[1].rstrip("/")
        return "/".join([root, *parts])

    def url_of(self, *parts: str) -> str:
        """The URL of ``parts`` below the directory, as the caller spelt the directory."""
        return "/".join([self.url.rstrip("/"), *parts])

    def write(self, relative: tuple[str, ...], write: Callable[[IO[bytes]], object]) -> None:
        """Write a file below the directory (parents created) under a temporary name, then move it into place."""
        fs, path = self.fs, self.path(*relative)
        parent, name = path.rsplit("/", 1)
        fs.makedirs(parent, exist_ok=True)
        tmp = f"{parent}/{layout.temp_name(name)}"
        try:
            with fs.open(tmp, "wb") as handle:
                write(handle)
            fs.mv(tmp, path)
        finally:
            if fs.exists(tmp):
                fs.rm(tmp)

    def reset(self, *directories: str) -> None:
        """Remove what an earlier build left in these subdirectories, and its record (first)."""
        fs = self.fs
        for name in (RECORD, *directories):
            path = self.path(name)
            if fs.exists(path):
                fs.rm(path, recursive=True)


def part_name(part: int, suffix: str) -> str:
    return layout.part_file(part, suffix)


def jsonl_part(split: str, part: int) -> tuple[str, ...]:
    """Where a worker writes one partition's JSONL lines of a split."""
    return (PARTS, split, part_name(part, "jsonl"))


def concatenate_jsonl(out: OutputDir, partitions: int) -> dict[str, str]:
    """Join each split's JSONL parts, in partition order, into the Customizer file; remove the parts.

    The file is written under a temporary name and moved into place, so a failure leaves
    no half-written file where a complete one is expected.
    """
    fs = out.fs
    targets: dict[str, str] = {}
    for split in (TRAIN, VALIDATION):
        relative = tuple(CUSTOMIZER_FILES[split].parts)
        target = out.path(*relative)
        tmp = out.path(*relative[:-1], layout.temp_name(relative[-1]))
        fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        try:
            with fs.open(tmp, "wb") as sink:
                for part in range(partitions):
                    path = out.path(*jsonl_part(split, part))
                    if fs.exists(path):
                        with fs.open(path, "rb") as piece:
                            shutil.copyfileobj(piece, sink, _COPY_CHUNK)
            fs.mv(tmp, target)
        finally:
            if fs.exists(tmp):
                fs.rm(tmp)
        targets[split] = out.url_of(*relative)
    if fs.exists(out.path(PARTS)):
        fs.rm(out.path(PARTS), recursive=True)
    return targets
