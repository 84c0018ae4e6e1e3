"""dpo_frames: NeMo Agent Toolkit runs -> Polars frames -> DPO preference data.

The flow, each step a function on frames::

    steps = read_steps(source)                          # NAT eval output, steps JSONL, Parquet ...
    candidates, rejects = extract_candidates(steps)     # scored TTC candidates + what was rejected
    pairs, pair_stats = build_pairs(candidates, PairConfig())
    dataset, dataset_stats = finalize_dataset(pairs, max_pairs=10_000, seed=0)
    write_customizer_jsonl(dataset, "out/dataset")      # NeMo Customizer DPO files
"""

from dpo_frames.candidates import RejectReason, extract_candidates, summarize_steps
from dpo_frames.config import PairConfig, PairStrategy
from dpo_frames.dataset import DatasetStats, DedupMode, finalize_dataset
from dpo_frames.errors import DpoFramesError, SchemaError, SourceError
from dpo_frames.export import (FORMATS, read_frame, to_customizer_records, to_records, to_trl_records,
                               write_customizer_jsonl, write_dataset, write_frames, write_trl_jsonl)
from dpo_frames.pairs import PairStats, build_pairs
from dpo_frames.quality import QualityReport, quality_checks
from dpo_frames.steps import read_steps

__version__ = "0.1.0"

__all__ = [
    "FORMATS", "DatasetStats", "DedupMode", "DpoFramesError", "PairConfig", "PairStats", "PairStrategy",
    "QualityReport", "RejectReason", "SchemaError", "SourceError", "build_pairs", "extract_candidates",
    "finalize_dataset", "quality_checks", "read_frame", "read_steps", "summarize_steps", "to_customizer_records",
    "to_records", "to_trl_records", "write_customizer_jsonl", "write_dataset", "write_frames", "write_trl_jsonl",
]
