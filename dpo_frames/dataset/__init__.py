"""Stage 4: pairs -> the dataset (dedup, seeded sample, leak-free split) -> files in a trainer's format.

- :mod:`~dpo_frames.dataset.finalize`: :func:`finalize_dataset` and its narrow per-pair decisions;
- :mod:`~dpo_frames.dataset.formats`: the formats registry (records of each format);
- :mod:`~dpo_frames.dataset.writers`: the JSONL writers;
- :mod:`~dpo_frames.dataset.sft`, :mod:`~dpo_frames.dataset.kto`: the SFT and KTO recipes from
  the same candidates (:func:`build_sft`, :func:`build_kto`; records in
  :mod:`~dpo_frames.dataset.completion_formats`);
- :mod:`~dpo_frames.dataset.context`: no message of a prompt dropped unasked.
"""

from dpo_frames.dataset.completion_formats import (
    to_customizer_sft_records,
    to_trl_kto_records,
    to_trl_sft_records,
)
from dpo_frames.dataset.completions import finalize_completions
from dpo_frames.dataset.context import ContextStats, PromptContext
from dpo_frames.dataset.finalize import (
    KEY_COLUMNS,
    DatasetStats,
    DedupMode,
    decide,
    dedup_mode_of,
    finalize_dataset,
    normalized_prompt,
    normalized_text,
    pair_keys,
)
from dpo_frames.dataset.formats import (
    FORMATS,
    RECIPES,
    REGISTRY,
    DatasetFormat,
    Format,
    to_customizer_records,
    to_nemo_rl_binary_records,
    to_nemo_rl_rank_records,
    to_openai_records,
    to_records,
    to_trl_records,
)
from dpo_frames.dataset.kto import KtoConfig, KtoStats, build_kto
from dpo_frames.dataset.sft import SftConfig, SftStats, build_sft
from dpo_frames.dataset.writers import (
    CHUNK_ROWS,
    append_jsonl,
    export_context,
    write_customizer_jsonl,
    write_dataset,
    write_jsonl,
    write_trl_jsonl,
)
from dpo_frames.layout import CUSTOMIZER_FILES, TRAIN_VALIDATION_FILES
from dpo_frames.schema import TRAIN, VALIDATION

TRL_FILES = TRAIN_VALIDATION_FILES
"""The name of :data:`~dpo_frames.layout.TRAIN_VALIDATION_FILES` in dpo_frames 0.1 (``dpo_frames.export``)."""

__all__ = [
    "CHUNK_ROWS",
    "CUSTOMIZER_FILES",
    "FORMATS",
    "KEY_COLUMNS",
    "RECIPES",
    "REGISTRY",
    "TRAIN",
    "TRL_FILES",
    "VALIDATION",
    "ContextStats",
    "DatasetFormat",
    "DatasetStats",
    "DedupMode",
    "Format",
    "KtoConfig",
    "KtoStats",
    "PromptContext",
    "SftConfig",
    "SftStats",
    "append_jsonl",
    "build_kto",
    "build_sft",
    "decide",
    "dedup_mode_of",
    "export_context",
    "finalize_completions",
    "finalize_dataset",
    "normalized_prompt",
    "normalized_text",
    "pair_keys",
    "to_customizer_records",
    "to_customizer_sft_records",
    "to_nemo_rl_binary_records",
    "to_nemo_rl_rank_records",
    "to_openai_records",
    "to_records",
    "to_trl_kto_records",
    "to_trl_records",
    "to_trl_sft_records",
    "write_customizer_jsonl",
    "write_dataset",
    "write_jsonl",
    "write_trl_jsonl",
]
