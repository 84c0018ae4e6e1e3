"""The directories dpo_frames writes, and the one record every writer writes and every reader reads.

Every directory dpo_frames writes -- a run (``dpo-frames pairs``, each NAT collection run),
a dataset export (``dpo-frames dataset``, the NAT adapter), a scaled build
(``dpo-frames build``) -- carries a :class:`RunRecord` in ``dpo_frames.json``
(:data:`~dpo_frames.layout.RECORD_FILE`): what produced it, from which sources, with which
settings, what it counted, and which files hold which frame. Every reader (``stats``,
``report``, ``sql``, ``dataset``, ``submit``, re-pairing) opens a directory with
:func:`open_dir` and finds its frames through the record, whatever wrote it::

    run = open_dir("runs/r1")
    run.record.pair_stats.pairs, run.frame("pairs").collect()

Directories written by dpo_frames 0.1.0 (a ``stats.json`` in one of four shapes) open too,
read-only: :func:`upgrade` writes their record. A directory is *ours*, and may be replaced
by ``--overwrite``, only when it carries the record (:func:`check_replaceable`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dpo_frames import layout, schema
from dpo_frames._atomic import atomic_path, write_text
from dpo_frames._version import __version__
from dpo_frames.dataset.context import ContextStats
from dpo_frames.dataset.finalize import DatasetStats
from dpo_frames.dataset.kto import KtoStats
from dpo_frames.dataset.sft import SftStats
from dpo_frames.errors import (
    ConfigError,
    FrameNotFoundError,
    LegacyRunDirError,
    OutputExistsError,
    RunDirError,
)
from dpo_frames.pairs.config import PairConfig
from dpo_frames.pairs.stats import PairStats

__all__ = [
    "RECORD_VERSION",
    "DatasetInfo",
    "DirKind",
    "RunDir",
    "RunRecord",
    "check_replaceable",
    "dataset_record",
    "frame_entries",
    "now",
    "open_dir",
    "read_frame",
    "rejects_by_reason",
    "upgrade",
    "write_frames",
    "write_record",
]

RECORD_VERSION = 1
"""The version of the record's shape; a reader refuses records of a newer version."""


class DirKind(StrEnum):
    """What a directory holds."""

    RUN = "run"
    """Frames of one or more runs: steps, candidates, rejects, pairs (any of them)."""
    DATASET = "dataset"
    """A dataset export: the dataset frame and its split files, in one format."""
    BUILD = "build"
    """A scaled build: pairs and dataset frames in parts, and the Customizer split files."""


class DatasetInfo(BaseModel):
    """How a dataset was made and where its split files are."""

    model_config = ConfigDict(extra="ignore")

    format: str = Field(description="The format of the split files (dpo_frames.dataset.FORMATS).")
    recipe: str = Field("dpo", description="The training recipe the records are for.")
    stats: DatasetStats
    files: dict[str, str] = Field(
        default_factory=dict, description="Split name -> file, relative to the directory (or absolute)."
    )
    options: dict[str, Any] = Field(default_factory=dict, description="The settings it was made with.")
    source: str | None = Field(None, description="The directory of the pairs it was made from.")
    selection: SftStats | KtoStats | None = Field(
        None, discriminator="recipe", description="sft, kto: how the completions were chosen and labelled."
    )
    context: ContextStats | None = Field(None, description="What the export did with prompts of several messages.")


class RunRecord(BaseModel):
    """The metadata record of a directory dpo_frames wrote (``dpo_frames.json``)."""

    model_config = ConfigDict(extra="ignore")

    written_by: Literal["dpo_frames"] = "dpo_frames"
    record_version: int = RECORD_VERSION
    kind: DirKind = DirKind.RUN
    dpo_frames_version: str = __version__
    created_at: str = Field(default_factory=lambda: now())
    producer: str = Field(description="What wrote it: a command, a NAT component, a Python function.")
    run_ids: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    config: PairConfig | None = None
    steps: int | None = None
    candidates: int | None = None
    rejects: int | None = None
    rejects_by_reason: dict[str, int] = Field(default_factory=dict)
    steps_by_type: list[dict[str, Any]] = Field(default_factory=list)
    pair_stats: PairStats | None = None
    dataset: DatasetInfo | None = None
    frames: dict[str, list[str]] = Field(
        default_factory=dict, description="Frame name -> its Parquet files (or globs of parts), relative."
    )
    seconds: dict[str, float] = Field(default_factory=dict, description="Wall time of each stage.")
    extra: dict[str, Any] = Field(default_factory=dict, description="What a producer adds (items, engine, ...).")

    @property
    def run_id(self) -> str | None:
        """The run id when the directory holds one run, else None."""
        return self.run_ids[0] if len(self.run_ids) == 1 else None

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2) + "\n"


def now() -> str:
    """The current UTC time as the records write it."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def rejects_by_reason(rejects: pl.DataFrame) -> dict[str, int]:
    """The rejects frame counted by reason, largest first."""
    counts = rejects.group_by("reason").len().sort(["len", "reason"], descending=[True, False])
    return dict(counts.iter_rows())


def write_record(directory: str | os.PathLike[str], record: RunRecord) -> Path:
    """Write ``directory/dpo_frames.json`` atomically."""
    return write_text(Path(directory) / layout.RECORD_FILE, record.to_json())


# --- frames -------------------------------------------------------------------------------------


def _check_frame_names(names: Sequence[str]) -> None:
    unknown = sorted(set(names) - set(schema.FRAMES))
    if unknown:
        raise ConfigError(f"unknown frame name(s) {unknown}; expected some of {list(schema.FRAMES)}")


def write_frames(out_dir: str | os.PathLike[str], **frames: pl.DataFrame) -> dict[str, Path]:
    """Write frames as ``{name}.parquet`` under ``out_dir``; names are those of ``schema.FRAMES``.

    Each file is checked against its schema and written atomically.

    Example: ``write_frames("run1", candidates=candidates, rejects=rejects, pairs=pairs)``.
    """
    _check_frame_names(list(frames))
    out = Path(out_dir)
    written = {}
    for name, frame in frames.items():
        checked = schema.conform(frame, schema.FRAMES[name], name)
        with atomic_path(out / layout.frame_file(name)) as tmp:
            write_parquet(checked, tmp, name)
        written[name] = out / layout.frame_file(name)
    return written


_REPEATED_PROMPTS = frozenset({"pairs", "dataset"})
"""Frames whose rows repeat their turn's prompt (every pair carries it)."""


def write_parquet(frame: pl.DataFrame, path: Path, name: str) -> None:
    """Write the frame ``name`` as Parquet. Pairs and dataset rows repeat their turn's prompt (text
    and messages), which pyarrow's writer dictionary-encodes: at 1M candidates, the 2.3M pairs in
    7.1 s against 10.8 s for Polars' writer; the other frames are faster with Polars' (candidates
    2.5 s against 3.4 s). The file reads back to the same frame either way."""
    frame.write_parquet(path, use_pyarrow=name in _REPEATED_PROMPTS)


def _scan(files: Sequence[Path], name: str, where: str) -> pl.LazyFrame:
    expected = schema.FRAMES[name]
    lf = pl.scan_parquet([str(f) for f in files])
    found = lf.collect_schema()
    schema.conform(pl.DataFrame(schema=found), expected, f"{name} ({where})")
    return lf.select([pl.col(c).cast(d) for c, d in expected.items()] + [c for c in found if c not in expected])


def read_frame(
    path: str | os.PathLike[str], name: str | None = None, *, lazy: bool = False
) -> pl.DataFrame | pl.LazyFrame:
    """Read a frame, checked against its schema.

    ``path`` is a Parquet file (its name says the frame, or give ``name``), or a directory
    dpo_frames wrote together with ``name`` (the frame's files come from its record: one
    file, or the parts of a scaled build). ``lazy=True`` returns a ``LazyFrame`` over a
    Parquet scan (large files are scanned, not loaded).

    Example:
        >>> import tempfile, dpo_frames
        >>> steps = dpo_frames.read_steps("examples/tictactoe/data/workflow_output.json")
        >>> out = tempfile.mkdtemp()
        >>> _ = dpo_frames.write_frames(out, steps=steps)
        >>> dpo_frames.read_frame(out, "steps").height == steps.height
        True
    """
    p = Path(path)
    if p.is_dir():
        if name is None:
            raise ConfigError(f"{p} is a directory: name the frame to read (one of {list(schema.FRAMES)})")
        try:
            frame = open_dir(p).frame(name)
        except RunDirError as exc:
            raise FrameNotFoundError(f"no {name} frame in {p}: {exc}") from None
        if frame is None:
            raise FrameNotFoundError(f"no {name} frame in {p}")
        return frame if lazy else frame.collect()
    name = name or p.stem
    _check_frame_names([name])
    if not p.is_file():
        raise FrameNotFoundError(f"no {name} frame at {p}")
    lf = _scan([p], name, str(p))
    return lf if lazy else lf.collect()


# --- reading a directory ------------------------------------------------------------------------


@dataclass(frozen=True)
class RunDir:
    """A directory dpo_frames wrote, opened: its record and its frames."""

    path: Path
    record: RunRecord
    has_record: bool = True
    """False for a 0.1.0 directory (record converted from its stats.json) or bare frame files."""

    def files(self, name: str) -> list[Path]:
        """The existing Parquet files of frame ``name`` (parts in order), empty when it has none."""
        found: list[Path] = []
        for entry in self.record.frames.get(name, []):
            target = Path(entry) if Path(entry).is_absolute() else self.path / entry
            if any(c in entry for c in "*?["):
                found += sorted(target.parent.glob(target.name))
            elif target.is_file():
                found.append(target)
        return found

    def has(self, name: str) -> bool:
        """Whether the directory holds frame ``name``."""
        return bool(self.files(name))

    def frame(self, name: str) -> pl.LazyFrame | None:
        """Frame ``name`` as a checked ``LazyFrame`` over its files, or None when there is none."""
        _check_frame_names([name])
        files = self.files(name)
        return _scan(files, name, str(self.path)) if files else None

    def dataset_files(self) -> dict[str, Path]:
        """The split files of its dataset, by split name (empty when it holds no dataset)."""
        if self.record.dataset is None:
            return {}
        return {
            split: (Path(f) if Path(f).is_absolute() else self.path / f)
            for split, f in self.record.dataset.files.items()
        }

    @property
    def title(self) -> str:
        """A short name for messages and pages: the run id(s), else the directory's name."""
        ids = self.record.run_ids
        if len(ids) == 1:
            return ids[0]
        return f"{self.path.name} ({len(ids)} runs)" if ids else self.path.name


def _frames_on_disk(path: Path) -> dict[str, list[str]]:
    """The frames a directory holds without a record: ``name.parquet`` or ``name/part-*.parquet``."""
    frames: dict[str, list[str]] = {}
    for name in schema.FRAMES:
        if (path / layout.frame_file(name)).is_file():
            frames[name] = [layout.frame_file(name)]
        elif any((path / name).glob("part-*.parquet")):
            frames[name] = [layout.parts_glob(name)]
    return frames


def open_dir(path: str | os.PathLike[str]) -> RunDir:
    """Open a directory dpo_frames wrote (any kind, any version), or raise :class:`RunDirError`.

    Reads ``dpo_frames.json``; a 0.1.0 directory's ``stats.json`` is converted in memory; a
    directory of bare frame files (``write_frames`` from Python) opens with a minimal
    record. Anything else is an error that says what the directory holds instead.
    """
    p = Path(path)
    if not p.exists():
        raise RunDirError(f"{p} does not exist")
    if not p.is_dir():
        raise RunDirError(f"{p} is not a directory; expected one written by dpo-frames (holding {layout.RECORD_FILE})")
    record_file = p / layout.RECORD_FILE
    if record_file.is_file():
        return RunDir(p, _load_record(record_file))
    legacy = p / layout.LEGACY_STATS_FILE
    if legacy.is_file():
        return RunDir(p, _legacy_record(p, legacy), has_record=False)
    frames = _frames_on_disk(p)
    if frames:
        return RunDir(p, RunRecord(producer="frame files (no record)", frames=frames), has_record=False)
    raise RunDirError(
        f"{p} is not a directory dpo_frames wrote (no {layout.RECORD_FILE}); make one with "
        f"`dpo-frames pairs SOURCE --out {p}`"
    )


def _load_record(path: Path) -> RunRecord:
    try:
        raw = json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunDirError(f"{path} is unreadable: {exc}") from None
    if not isinstance(raw, dict) or raw.get("written_by") != "dpo_frames":
        raise RunDirError(f"{path} is not a dpo_frames record")
    version = raw.get("record_version")
    if isinstance(version, int) and version > RECORD_VERSION:
        raise RunDirError(
            f"{path} was written by a newer dpo_frames ({raw.get('dpo_frames_version')}, record "
            f"version {version}); upgrade dpo_frames to read it"
        )
    try:
        return RunRecord.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise RunDirError(
            f"{path} is not a valid dpo_frames record: {err['msg']} at {'.'.join(map(str, err['loc']))}"
        ) from None


# --- dpo_frames 0.1.0 directories ---------------------------------------------------------------


def _legacy_record(path: Path, stats_file: Path) -> RunRecord:
    """The record of a directory written by dpo_frames 0.1.0, from its ``stats.json``.

    Four writers wrote four shapes: ``dpo-frames pairs``/``dataset`` (a RunInfo), the NAT
    builder's per-run directories, and the local and Dask builds (pair and dataset stats).
    """
    try:
        raw = json.loads(stats_file.read_bytes())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunDirError(f"{stats_file} is unreadable: {exc}") from None
    frames = _frames_on_disk(path)
    try:
        if isinstance(raw, dict) and {"dpo_frames_version", "source", "config", "pair_stats"} <= raw.keys():
            return _legacy_cli_run(path, raw, frames)
        if isinstance(raw, dict) and {"run_id", "workflow_interrupted", "pair_stats"} <= raw.keys():
            return _legacy_nat_run(raw, frames)
        if isinstance(raw, dict) and {"pair_stats", "dataset_stats", "partitions"} <= raw.keys():
            return _legacy_build(raw, frames)
    except (ValidationError, TypeError, KeyError) as exc:
        raise RunDirError(
            f"{stats_file} looks like a dpo_frames 0.1.0 stats file but does not validate: {str(exc).splitlines()[0]}"
        ) from None
    raise RunDirError(
        f"{path} is not a directory dpo_frames wrote: its {layout.LEGACY_STATS_FILE} is not one of "
        f"dpo_frames' (and there is no {layout.RECORD_FILE})"
    )


def _legacy_counts(raw: Mapping[str, Any]) -> dict[str, Any]:
    """What the two run shapes of 0.1.0 counted, in the same keys."""
    return {
        "steps": raw.get("steps"),
        "candidates": raw.get("candidates"),
        "rejects": raw.get("rejects"),
        "rejects_by_reason": raw.get("rejects_by_reason", {}),
        "steps_by_type": raw.get("steps_by_type", []),
        "pair_stats": PairStats(**raw["pair_stats"]),
    }


def _legacy_files(path: Path, out_dir: str, files: Mapping[str, str]) -> dict[str, str]:
    """0.1.0 kept absolute paths of the split files; its default ``RUN/dataset`` is found where the run is now."""
    found = {}
    for split, name in files.items():
        try:
            relative = Path(name).relative_to(out_dir)
        except ValueError:
            found[split] = name
            continue
        moved = f"{Path(out_dir).name}/{relative.as_posix()}"
        found[split] = moved if (path / moved).is_file() else name
    return found


def _legacy_cli_run(path: Path, raw: dict[str, Any], frames: dict[str, list[str]]) -> RunRecord:
    dataset = None
    if raw.get("dataset"):
        old = raw["dataset"]
        dataset = DatasetInfo(
            format=old.get("format", "customizer"),
            stats=DatasetStats(**old["stats"]),
            files=_legacy_files(path, old.get("out_dir", ""), old.get("files", {})),
            options={k: old[k] for k in ("deduplicate", "max_pairs", "full_message_history") if k in old},
        )
    return RunRecord(
        kind=DirKind.RUN,
        dpo_frames_version=raw["dpo_frames_version"],
        created_at=raw["created_at"],
        producer="dpo-frames pairs (0.1.0)",
        run_ids=[raw["run_id"]] if raw.get("run_id") else [],
        sources=[raw["source"]],
        config=PairConfig(**raw["config"]),
        **_legacy_counts(raw),
        dataset=dataset,
        frames=frames,
        seconds=raw.get("seconds", {}),
    )


def _legacy_nat_run(raw: dict[str, Any], frames: dict[str, list[str]]) -> RunRecord:
    config = raw.get("config")
    return RunRecord(
        kind=DirKind.RUN,
        dpo_frames_version="0.1.0",
        created_at="",
        producer="dpo_traj_builder (0.1.0)",
        run_ids=[str(raw["run_id"])],
        config=PairConfig(**config) if config else None,
        **_legacy_counts(raw),
        frames=frames,
        extra={"items": raw.get("items"), "workflow_interrupted": raw.get("workflow_interrupted")},
    )


def _legacy_build(raw: dict[str, Any], frames: dict[str, list[str]]) -> RunRecord:
    engine = raw.get("engine", "local")
    dataset = DatasetInfo(
        format="customizer",
        stats=DatasetStats(**raw["dataset_stats"]),
        files={split: str(rel) for split, rel in layout.CUSTOMIZER_FILES.items()},
    )
    extra = {k: raw[k] for k in ("partitions", "engine", "worker_threads") if k in raw}
    return RunRecord(
        kind=DirKind.BUILD,
        dpo_frames_version="0.1.0",
        created_at="",
        producer=f"dpo-frames build --engine {engine} (0.1.0)",
        pair_stats=PairStats(**raw["pair_stats"]),
        dataset=dataset,
        frames=frames,
        extra=extra,
    )


def upgrade(path: str | os.PathLike[str]) -> Path:
    """Write the record of a directory written by dpo_frames 0.1.0 (its ``stats.json`` is left as it is).

    Afterwards the directory is one like any other: every command writes into it and
    ``--overwrite`` may replace it. Returns the record's path.
    """
    run = open_dir(path)
    if run.has_record:
        raise RunDirError(f"{run.path} already has a {layout.RECORD_FILE}; nothing to upgrade")
    if not (run.path / layout.LEGACY_STATS_FILE).is_file():
        raise RunDirError(
            f"{run.path} holds frame files but no {layout.LEGACY_STATS_FILE}: it was not written by a "
            "dpo-frames command, so there is nothing to upgrade from"
        )
    record = run.record.model_copy(update={"producer": f"{run.record.producer}, upgraded by dpo_frames {__version__}"})
    return write_record(run.path, record)


# --- replacing ----------------------------------------------------------------------------------


def check_replaceable(target: str | os.PathLike[str], *, overwrite: bool) -> None:
    """Raise :class:`~dpo_frames.errors.OutputExistsError` unless ``target`` may be (re)written.

    Free: a path that does not exist, or an empty directory. With ``overwrite``, also a
    directory carrying dpo_frames' record (which only dpo_frames writes). Anything else
    -- a file, a directory of other files, a 0.1.0 directory -- is refused with the reason.
    """
    path = Path(target)
    if not path.exists():
        return
    if not path.is_dir():
        raise OutputExistsError(f"{path} exists and is not a directory")
    if not any(path.iterdir()):
        return
    if not overwrite:
        raise OutputExistsError(f"{path} already exists; pass --overwrite to replace it")
    if (path / layout.RECORD_FILE).is_file():
        _load_record(path / layout.RECORD_FILE)  # ours only if it is a record, not a file of that name
        return
    if (path / layout.LEGACY_STATS_FILE).is_file():
        try:
            open_dir(path)
        except RunDirError:
            pass
        else:
            raise LegacyRunDirError(
                f"{path} was written by dpo_frames 0.1.0; run `dpo-frames upgrade {path}` before replacing it"
            )
    raise OutputExistsError(
        f"{path} was not written by dpo_frames (no {layout.RECORD_FILE}); not replacing it (choose another --out)"
    )


def frame_entries(frames: Mapping[str, Any]) -> dict[str, list[str]]:
    """The ``frames`` field of a record for frames written with :func:`write_frames`."""
    return {name: [layout.frame_file(name)] for name in frames}


def dataset_record(
    runs: RunDir | Sequence[RunDir], info: DatasetInfo, frames: dict[str, list[str]], *, producer: str
) -> RunRecord:
    """The record of a dataset made from the pairs of ``runs``: its own files, their provenance (run ids,
    settings, counts and pair statistics, summed over several), so it describes itself even when moved."""
    sources = [runs] if isinstance(runs, RunDir) else list(runs)
    records = [run.record for run in sources]
    configs = {r.config.model_dump_json() for r in records if r.config is not None}
    return RunRecord(
        kind=DirKind.DATASET,
        producer=producer,
        run_ids=sorted({run_id for r in records for run_id in r.run_ids}),
        sources=[str(run.path.resolve()) for run in sources],
        config=_common_config(records),
        steps=_total(r.steps for r in records),
        candidates=_total(r.candidates for r in records),
        rejects=_total(r.rejects for r in records),
        rejects_by_reason=_summed([r.rejects_by_reason for r in records]),
        pair_stats=_summed_stats([r.pair_stats for r in records]),
        dataset=info,
        frames=frames,
        extra={} if len(configs) <= 1 else {"configs_differ": True},
    )


def _common_config(records: Sequence[RunRecord]) -> PairConfig | None:
    configs = [r.config for r in records]
    first = configs[0]
    return first if first is not None and all(c == first for c in configs) else None


def _total(values: Iterable[int | None]) -> int | None:
    known = list(values)
    return None if any(v is None for v in known) else sum(v for v in known if v is not None)


def _summed(counts: Sequence[Mapping[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for each in counts:
        for key, value in each.items():
            total[key] = total.get(key, 0) + value
    return total


def _summed_stats(stats: Sequence[PairStats | None]) -> PairStats | None:
    if any(s is None for s in stats):
        return None
    return PairStats(**_summed([s.model_dump() for s in stats if s is not None]))
