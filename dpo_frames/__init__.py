"""dpo_frames: NeMo Agent Toolkit runs -> Polars frames -> DPO preference data.

The flow, each step a function on frames, each stage a subpackage::

    steps = read_steps(source)                          # steps/       NAT eval output, steps JSONL, Parquet ...
    candidates, rejects = extract_candidates(steps)     # candidates/  scored TTC candidates + what was rejected
    pairs, pair_stats = build_pairs(candidates, PairConfig())          # pairs/
    dataset, dataset_stats = finalize_dataset(pairs, max_pairs=10_000, seed=0)   # dataset/
    write_customizer_jsonl(dataset, "out/dataset")      # NeMo Customizer DPO files
    sft, sft_stats = build_sft(candidates, SftConfig(min_score=0.5))    # or build_kto: other recipes

Then the edges: ``scale`` (beyond memory, on Dask), ``explore`` (SQL, quality, report),
``customizer`` (the platform client), ``emulator`` (a local platform), ``nat`` (the NAT
finetuning plugin) and ``cli`` (the ``dpo-frames`` command). ``import dpo_frames`` loads
none of DuckDB, NAT, the emulator's server, Altair or Dask; each is imported where used.
"""

from dpo_frames import _compat
from dpo_frames._version import __version__
from dpo_frames.candidates import RejectReason, extract_candidates, summarize_steps
from dpo_frames.dataset import (
    FORMATS,
    DatasetStats,
    DedupMode,
    KtoConfig,
    SftConfig,
    build_kto,
    build_sft,
    finalize_dataset,
    to_customizer_records,
    to_records,
    to_trl_records,
    write_customizer_jsonl,
    write_dataset,
    write_trl_jsonl,
)
from dpo_frames.errors import DpoFramesError, SchemaError, SourceError
from dpo_frames.explore.quality import QualityReport, quality_checks
from dpo_frames.pairs import PairConfig, PairStats, PairStrategy, build_pairs
from dpo_frames.rundir import open_dir, read_frame, write_frames
from dpo_frames.steps import read_steps

_compat.install()

__all__ = [
    "FORMATS",
    "DatasetStats",
    "DedupMode",
    "DpoFramesError",
    "KtoConfig",
    "PairConfig",
    "PairStats",
    "PairStrategy",
    "QualityReport",
    "RejectReason",
    "SchemaError",
    "SftConfig",
    "SourceError",
    "__version__",
    "build_kto",
    "build_pairs",
    "build_sft",
    "extract_candidates",
    "finalize_dataset",
    "open_dir",
    "quality_checks",
    "read_frame",
    "read_steps",
    "summarize_steps",
    "to_customizer_records",
    "to_records",
    "to_trl_records",
    "write_customizer_jsonl",
    "write_dataset",
    "write_frames",
    "write_trl_jsonl",
]
