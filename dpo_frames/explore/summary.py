"""What a report is drawn from (:class:`RunData`, read from a directory by :func:`load_run`) and
its headline: the :func:`funnel` from steps to the dataset, each stage with what removed the rest.

Needs no extra: the charts (:mod:`~dpo_frames.explore.report`) do, the numbers here do not.

Example:
    >>> import dpo_frames
    >>> from dpo_frames.explore.summary import RunData, funnel
    >>> steps = dpo_frames.read_steps("examples/tictactoe/data/workflow_output.json")
    >>> candidates, rejects = dpo_frames.extract_candidates(steps)
    >>> pairs, stats = dpo_frames.build_pairs(candidates)
    >>> [(s.key, s.count) for s in funnel(RunData(candidates=candidates, pairs=pairs, pair_stats=stats))]
    [('candidates', 119), ('candidate_pairs', 160), ('pairs', 60)]
    >>> funnel(RunData(pair_stats=stats))[-1].removed
    (('tied', 100),)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from dpo_frames.dataset.finalize import DatasetStats
from dpo_frames.errors import RunDirError
from dpo_frames.pairs.stats import PairStats
from dpo_frames.rundir import RunDir, RunRecord, open_dir

__all__ = ["Frame", "RunData", "Stage", "funnel", "load_run", "load_runs"]

Frame = pl.DataFrame | pl.LazyFrame


@dataclass
class RunData:
    """What a report is drawn from; any part may be missing (what needs it then says so).

    ``label`` names the run where several are compared (default: the title).
    """

    candidates: Frame | None = None
    rejects: Frame | None = None
    pairs: Frame | None = None
    dataset: Frame | None = None
    pair_stats: PairStats | None = None
    dataset_stats: DatasetStats | None = None
    info: RunRecord | None = None
    title: str = "dpo_frames run"
    label: str | None = None
    path: Path | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        """The label, else the title."""
        return self.label or self.title

    def trained(self) -> tuple[str, Frame] | None:
        """The frame the pair-level numbers describe: ``("dataset", ...)`` when there is one (what is
        trained on), else ``("pairs", ...)``; None without either."""
        if self.dataset is not None:
            return "dataset", self.dataset
        if self.pairs is not None:
            return "pairs", self.pairs
        return None


def load_run(run_dir: str | os.PathLike[str], label: str | None = None) -> RunData:
    """The frames (scanned lazily) and the record of a directory dpo_frames wrote.

    A dataset export holds only its dataset frame: the candidates, rejects and pairs it
    was made from are read from the run its record names, when that is still there.
    """
    run = open_dir(run_dir)
    info = run.record
    frames = {name: run.frame(name) for name in ("candidates", "rejects", "pairs", "dataset")}
    source = _source_run(run)
    if source is not None:
        frames.update({name: source.frame(name) for name in ("candidates", "rejects", "pairs") if frames[name] is None})
    return RunData(
        **frames,
        pair_stats=info.pair_stats,
        dataset_stats=info.dataset.stats if info.dataset else None,
        info=info,
        title=f"dpo_frames {info.kind.value} {run.title}",
        label=label or run.title,
        path=run.path,
    )


def load_runs(run_dirs: Sequence[str | os.PathLike[str]]) -> list[RunData]:
    """:func:`load_run` of each directory, labelled so that no two labels are equal (the run's
    title, then the directory's path where titles repeat)."""
    runs = [load_run(d) for d in run_dirs]
    labels = [r.name for r in runs]
    for run, label in zip(runs, labels, strict=True):
        paths = {str(r.path) for r, other in zip(runs, labels, strict=True) if other == label}
        if len(paths) > 1:  # one title, several directories: the directory tells them apart
            run.label = str(run.path)
    seen: dict[str, int] = {}
    for run in runs:  # the same directory twice: number them
        seen[run.name] = seen.get(run.name, 0) + 1
        if seen[run.name] > 1:
            run.label = f"{run.name} ({seen[run.name]})"
    return runs


def _source_run(run: RunDir) -> RunDir | None:
    """The run a dataset export was made from, if it still opens."""
    source = run.record.dataset.source if run.record.dataset else None
    if source is None or Path(source).resolve() == run.path.resolve():
        return None
    try:
        return open_dir(source)
    except RunDirError:
        return None


def height(frame: Frame | None) -> int | None:
    """Rows of a frame (a scan is counted, not loaded), None without one."""
    if frame is None:
        return None
    if isinstance(frame, pl.DataFrame):
        return frame.height
    return int(frame.select(pl.len()).collect().item())


@dataclass(frozen=True)
class Stage:
    """One stage of the :func:`funnel`: its count, what removed the rest of the stage before it
    (``removed``, by reason, non-zero only) and side counts (``notes``: rejects, the splits...)."""

    key: str
    label: str
    count: int | None
    removed: tuple[tuple[str, int], ...] = ()
    notes: tuple[tuple[str, int], ...] = ()
    unit: str = ""


def _nonzero(parts: Sequence[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    return tuple((k, v) for k, v in parts if v)


def funnel(data: RunData) -> list[Stage]:
    """Steps -> candidates (+ rejects) -> candidate pairs -> pairs -> dataset (train / validation).

    Counts come from the record and the statistics, else from the frames; a stage nothing
    says anything about is left out. The removals partition the difference between two
    stages where the statistics say so: ``candidate_pairs - pairs`` is the sum of the
    pairs stage's ``removed`` (:class:`~dpo_frames.PairStats`' partition), ``input_pairs -
    pairs`` that of the dataset stage.
    """
    info, ps, ds = data.info, data.pair_stats, data.dataset_stats
    stages: list[Stage] = []
    candidates = info.candidates if info and info.candidates is not None else None
    if candidates is None:
        candidates = ps.candidates if ps is not None else height(data.candidates)
    rejects = info.rejects if info and info.rejects is not None else height(data.rejects)
    if info is not None and info.steps is not None:
        other = info.steps - (candidates or 0) - (rejects or 0)
        stages.append(Stage("steps", "steps", info.steps, unit="steps"))
        stages.append(
            Stage(
                "candidates",
                "candidates",
                candidates,
                removed=_nonzero([("rejected (malformed)", rejects or 0), ("other steps", max(other, 0))]),
                notes=_nonzero([("rejects", rejects or 0)]),
                unit="candidates",
            )
        )
    elif candidates is not None:
        stages.append(
            Stage(
                "candidates", "candidates", candidates, notes=_nonzero([("rejects", rejects or 0)]), unit="candidates"
            )
        )
    if ps is not None:
        stages.append(
            Stage(
                "candidate_pairs",
                "candidate pairs",
                ps.candidate_pairs,
                removed=_nonzero(
                    [
                        ("invalid candidates", ps.invalid_candidates),
                        ("single-candidate turns", ps.single_candidate_turns),
                        ("cross-prompt pairs (never paired)", ps.cross_prompt_pairs),
                    ]
                ),
                unit="pairs",
            )
        )
        stages.append(Stage("pairs", "pairs", ps.pairs, removed=_pair_removals(ps), unit="pairs"))
    elif data.pairs is not None:
        stages.append(Stage("pairs", "pairs", height(data.pairs), unit="pairs"))
    if ds is not None:
        removed = [("duplicates", ds.duplicate_pairs), ("sampled out (max_pairs)", ds.sampled_out_pairs)]
        notes = [("train", ds.train_pairs), ("validation", ds.validation_pairs)]
        if not stages or stages[-1].count != ds.input_pairs:  # made from other pairs than these
            notes.append(("made from pairs", ds.input_pairs))
        stages.append(
            Stage("dataset", "dataset", ds.pairs, removed=_nonzero(removed), notes=tuple(notes), unit="pairs")
        )
    return stages


def _pair_removals(ps: PairStats) -> tuple[tuple[str, int], ...]:
    return _nonzero(
        [
            ("over max_candidates_per_turn", ps.trimmed_pairs),
            ("tied", ps.tied_pairs),
            ("below min_score_diff", ps.below_margin_pairs),
            ("identical responses", ps.identical_response_pairs),
            ("not best vs worst", ps.not_best_vs_worst_pairs),
            ("not selected by the strategy", ps.not_selected_pairs),
            ("over max_pairs_per_turn", ps.capped_pairs),
        ]
    )
