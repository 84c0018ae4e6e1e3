"""The dataset card of a pushed dataset: YAML metadata the Hub and ``load_dataset`` read, and a body
that says where the data came from and how to train on it with TRL, from the directory's record."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from dpo_frames._extras import require
from dpo_frames._version import __version__
from dpo_frames.dataset import REGISTRY
from dpo_frames.rundir import RunRecord

__all__ = ["DATA_DIR", "dataset_card", "split_file"]

DATA_DIR = "data"
"""Where the split files go in the repository."""


def split_file(split: str) -> str:
    """The Parquet file of a split in the repository (the Hub's own naming of shards)."""
    return f"{DATA_DIR}/{split}-00000-of-00001.parquet"


_TRAINERS = {
    "dpo": ("DPOConfig", "DPOTrainer", "preference"),
    "sft": ("SFTConfig", "SFTTrainer", "supervised fine-tuning (best of n)"),
    "kto": ("KTOConfig", "KTOTrainer", "unpaired preference"),
}


def _metadata(repo_id: str, recipe: str, fmt: str, rows: Mapping[str, int]) -> dict[str, Any]:
    total = sum(rows.values())
    size = next(name for limit, name in ((1e3, "n<1K"), (1e4, "1K<n<10K"), (1e5, "10K<n<100K")) if total < limit)
    return {
        "pretty_name": f"{repo_id.split('/')[-1]} ({recipe}, {fmt})",
        "tags": ["dpo_frames", "nemo-agent-toolkit", "trl", recipe],
        "size_categories": [size if total < 1e5 else "100K<n<1M" if total < 1e6 else "n>1M"],
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": split, "path": split_file(split)} for split in rows],
            }
        ],
        "dataset_info": {"splits": [{"name": split, "num_examples": n} for split, n in rows.items()]},
    }


def _table(values: Mapping[str, Any]) -> str:
    lines = ["| | |", "|---|---|"]
    for key, value in values.items():
        text = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
        lines.append(f"| {key} | {text.replace('|', '/')} |")
    return "\n".join(lines)


def _quality(record: RunRecord) -> list[str]:
    """The checks the record can answer, one line each."""
    info = record.dataset
    checks = []
    if info is not None:
        stats = info.stats
        leak = stats.prompts_in_both_splits
        checks.append(
            f"- prompts on both sides of the split: {leak} ({'none: the split is leak-free' if not leak else 'all records share one prompt'})"
        )
        checks.append(
            f"- duplicates removed: {stats.duplicate_pairs} ({stats.dedup_mode}); sampled out: {stats.sampled_out_pairs}"
        )
        if info.context is not None:
            c = info.context
            checks.append(
                f"- prompts of several messages: {c.multi_message_prompts}; cut to their last message: "
                f"{c.truncated_prompts}; records collapsed by the cut: {c.collapsed_records}"
            )
        selection = info.selection
        if selection is not None and selection.recipe == "kto":
            checks.append(
                f"- class balance (train): {selection.train_desirable} desirable, {selection.train_undesirable} "
                f"undesirable; KTOConfig(desirable_weight={selection.desirable_weight}, "
                f"undesirable_weight={selection.undesirable_weight}) puts it within TRL's 1 to 4/3"
            )
    if record.pair_stats is not None:
        skipped = record.pair_stats.skipped()
        checks.append(f"- pairs skipped while pairing: {json.dumps(skipped) if skipped else 'none'}")
    if record.rejects:
        checks.append(f"- malformed candidate steps rejected: {record.rejects} {json.dumps(record.rejects_by_reason)}")
    return checks


def _training(repo_id: str, recipe: str, record: RunRecord) -> str:
    config, trainer, _ = _TRAINERS[recipe]
    options = 'output_dir="out"'
    selection = record.dataset.selection if record.dataset is not None else None
    if selection is not None and selection.recipe == "kto":
        options += f", desirable_weight={selection.desirable_weight}, undesirable_weight={selection.undesirable_weight}"
    return "\n".join(
        [
            "```python",
            "from datasets import load_dataset",
            "from transformers import AutoModelForCausalLM, AutoTokenizer",
            f"from trl import {config}, {trainer}",
            "",
            f'dataset = load_dataset("{repo_id}")',
            'model_id = "Qwen/Qwen2.5-0.5B-Instruct"  # any causal LM with a chat template',
            "model, tokenizer = AutoModelForCausalLM.from_pretrained(model_id), AutoTokenizer.from_pretrained(model_id)",
            f"trainer = {trainer}(",
            f"    model=model, args={config}({options}), processing_class=tokenizer,",
            '    train_dataset=dataset["train"], eval_dataset=dataset["validation"],',
            ")",
            "trainer.train()",
            "```",
        ]
    )


def dataset_card(repo_id: str, record: RunRecord, *, recipe: str, format: str, rows: Mapping[str, int]) -> str:
    """The ``README.md`` of a pushed dataset: YAML front matter (``configs`` naming each split's file,
    split sizes, tags) and a body with provenance, settings, statistics, quality checks and a TRL example."""
    hub = require("huggingface_hub", extra="hf", feature="the dataset card")
    yaml = hub.DatasetCardData(**_metadata(repo_id, recipe, format, rows)).to_yaml()
    _, trainer, kind = _TRAINERS[recipe]
    info = record.dataset
    body = [
        f"# {repo_id}",
        "",
        f"A {kind} dataset for TRL's `{trainer}`, in dpo_frames' `{format}` format "
        f"({REGISTRY[format].description}), made by dpo_frames {__version__} from scored candidates of "
        "NeMo Agent Toolkit runs.",
        "",
        "## Splits",
        "",
        _table({split: f"{n} records" for split, n in rows.items()}),
        "",
        "## Where it came from",
        "",
        _table(
            {
                "run ids": ", ".join(record.run_ids) or "-",
                "sources": ", ".join(record.sources) or "-",
                "written by": record.producer,
                "created": record.created_at,
                "steps read": record.steps,
                "candidates": record.candidates,
            }
        ),
        "",
        "## Settings",
        "",
    ]
    settings: dict[str, Any] = {}
    if record.config is not None:
        settings.update({f"pairs: {k}": v for k, v in record.config.model_dump(mode="json").items()})
    if info is not None:
        if info.selection is not None:
            settings.update({f"{recipe}: {k}": v for k, v in info.selection.config.model_dump(mode="json").items()})
        settings.update({f"dataset: {k}": v for k, v in info.options.items()})
    body += [_table(settings) if settings else "Default settings.", "", "## Statistics", ""]
    if info is not None:
        body += [_table(info.stats.model_dump(mode="json")), ""]
        if info.selection is not None:
            body += [_table(info.selection.model_dump(mode="json", exclude={"split", "config"})), ""]
    if record.pair_stats is not None:
        body += [_table(record.pair_stats.model_dump(mode="json")), ""]
    body += ["## Quality checks", "", *(_quality(record) or ["- none recorded"]), ""]
    body += ["## Train on it with TRL", "", _training(repo_id, recipe, record), ""]
    return f"---\n{yaml}\n---\n\n" + "\n".join(body)
