"""The preference formats of common trainers: how a dataset frame becomes JSONL records.

One record per pair, one file per split. The formats (:data:`FORMATS`, written by
:func:`~dpo_frames.write_dataset`), each with one example record:

``customizer``: NeMo Customizer DPO (``prompt`` is the prompt text, or with
``use_full_message_history`` the message list)::

    {"prompt": "2+2?", "chosen_response": "4", "rejected_response": "5"}

``trl``: TRL explicit-prompt preference, standard (strings)::

    {"prompt": "2+2?", "chosen": "4", "rejected": "5"}

``trl-conversational``: TRL explicit-prompt preference, conversational (messages)::

    {"prompt": [{"role": "user", "content": "2+2?"}], "chosen": [{"role": "assistant", "content": "4"}],
     "rejected": [{"role": "assistant", "content": "5"}]}

``nemo-rl-binary``: NeMo RL ``BinaryPreferenceDataset`` (default keys ``prompt``,
``chosen``, ``rejected``; the prompt is a message list, which its
``to_preference_data_format`` takes as the context as it is)::

    {"prompt": [{"role": "user", "content": "2+2?"}], "chosen": "4", "rejected": "5"}

``nemo-rl-rank``: NeMo RL ``PreferenceDataset`` rank format (lower rank preferred)::

    {"context": [{"role": "user", "content": "2+2?"}],
     "completions": [{"rank": 0, "completion": [{"role": "assistant", "content": "4"}]},
                     {"rank": 1, "completion": [{"role": "assistant", "content": "5"}]}]}

``openai``: OpenAI preference (DPO) fine-tuning::

    {"input": {"messages": [{"role": "user", "content": "2+2?"}]},
     "preferred_output": [{"role": "assistant", "content": "4"}],
     "non_preferred_output": [{"role": "assistant", "content": "5"}]}

The SFT and KTO formats (``customizer-sft``, ``trl-sft``, ``trl-sft-conversational``, ``trl-kto``,
``trl-kto-conversational``) are made from a completions frame; their records are in
:mod:`~dpo_frames.dataset.completion_formats`.

A format whose prompt is one string (``customizer`` without ``use_full_message_history``, ``trl``)
refuses prompts of several messages unless asked to keep the last one (see
:mod:`~dpo_frames.dataset.context`).

With ``rewards=True`` every DPO format but ``openai`` also carries ``"chosen_reward"`` and
``"rejected_reward"`` (the two candidates' scores) for reward-aware losses; readers that
do not use them ignore extra keys. A string prompt becomes one user message wherever a
format wants messages.

Sources of the formats: NeMo RL
https://docs.nvidia.com/nemo/rl/latest/apidocs/nemo_rl/nemo_rl.data.datasets.preference_datasets.binary_preference_dataset.html
and .../preference_datasets.preference_dataset.html (``context``/``completions``/``rank``);
OpenAI https://developers.openai.com/api/docs/guides/direct-preference-optimization;
TRL https://huggingface.co/docs/trl/dataset_formats (preference, explicit prompt).

Each format is a :class:`DatasetFormat` in :data:`REGISTRY`: how a dataset frame becomes
its records, and which files hold the splits (named in :mod:`dpo_frames.layout`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

import polars as pl

from dpo_frames import layout
from dpo_frames.dataset.completion_formats import to_customizer_sft_records, to_trl_kto_records, to_trl_sft_records
from dpo_frames.dataset.context import ContextStats, PromptContext, check_prompt_context
from dpo_frames.dataset.exprs import assistant, messages_prompt
from dpo_frames.errors import ConfigError

_messages_prompt = messages_prompt
_assistant = assistant


def _rewards() -> list[pl.Expr]:
    return [pl.col("chosen_score").alias("chosen_reward"), pl.col("rejected_score").alias("rejected_reward")]


def to_customizer_records(dataset: pl.DataFrame, *, use_full_message_history: bool = False) -> pl.DataFrame:
    """The NeMo Customizer DPO columns: ``prompt``, ``chosen_response``, ``rejected_response``.

    ``prompt`` is the prompt text (a message prompt's last message), or with
    ``use_full_message_history`` the whole message list (a string prompt becomes one
    user message), as NAT's reference adapter formats it.
    """
    prompt = _messages_prompt() if use_full_message_history else pl.col("prompt_text")
    return dataset.select(prompt.alias("prompt"), "chosen_response", "rejected_response")


def to_trl_records(dataset: pl.DataFrame, *, conversational: bool = False) -> pl.DataFrame:
    """TRL's explicit-prompt preference columns ``prompt``, ``chosen``, ``rejected``.

    Plain: three strings. Conversational: the prompt as messages and each response as a
    one-message assistant turn.
    """
    if not conversational:
        return dataset.select(prompt="prompt_text", chosen="chosen_response", rejected="rejected_response")
    return dataset.select(
        prompt=_messages_prompt(), chosen=_assistant("chosen_response"), rejected=_assistant("rejected_response")
    )


def to_nemo_rl_binary_records(dataset: pl.DataFrame) -> pl.DataFrame:
    """NeMo RL ``BinaryPreferenceDataset`` columns: ``prompt`` (messages), ``chosen``, ``rejected`` (strings)."""
    return dataset.select(prompt=_messages_prompt(), chosen="chosen_response", rejected="rejected_response")


def to_nemo_rl_rank_records(dataset: pl.DataFrame) -> pl.DataFrame:
    """NeMo RL rank format: ``context`` (messages) and ``completions`` (rank 0 chosen, rank 1 rejected)."""

    def completion(rank: int, col: str) -> pl.Expr:
        return pl.struct(rank=pl.lit(rank, dtype=pl.Int64), completion=_assistant(col))

    return dataset.select(
        context=_messages_prompt(),
        completions=pl.concat_list(completion(0, "chosen_response"), completion(1, "rejected_response")),
    )


def to_openai_records(dataset: pl.DataFrame) -> pl.DataFrame:
    """OpenAI preference fine-tuning: ``input.messages``, ``preferred_output``, ``non_preferred_output``."""
    return dataset.select(
        input=pl.struct(messages=_messages_prompt()),
        preferred_output=_assistant("chosen_response"),
        non_preferred_output=_assistant("rejected_response"),
    )


@dataclass(frozen=True)
class DatasetFormat:
    """A dataset format: its records, its split files and the options it takes."""

    name: str
    records: Callable[[pl.DataFrame], pl.DataFrame]
    """Dataset frame -> one row per record, the columns of one JSON object."""
    files: Mapping[str, PurePosixPath]
    """The file of each split, relative to the output directory."""
    description: str
    rewards: bool = True
    """Whether ``rewards=True`` (``chosen_reward``/``rejected_reward``) applies."""
    recipe: str = "dpo"
    """The training recipe: ``dpo`` (a dataset frame of pairs), ``sft`` or ``kto`` (a completions frame)."""
    plain_prompt: bool = False
    """Whether the prompt is one string (a message prompt keeps its last message only)."""
    keep_hint: str = ""
    """How to keep every message of a prompt when ``plain_prompt`` (for the refusal's message)."""
    full_history: Callable[[pl.DataFrame], pl.DataFrame] | None = None
    """The records with ``use_full_message_history`` (the prompt as messages), for the formats that take it."""

    @property
    def frame_name(self) -> str:
        """The frame its records are made from: ``dataset`` (pairs) or ``completions``."""
        return "dataset" if self.recipe == "dpo" else "completions"


_KEEP_TRL = "use --format trl-conversational (prompt, chosen and rejected as messages)"
_KEEP_CUSTOMIZER = "pass use_full_message_history=True (CLI: --full-message-history; the prompt as messages)"

REGISTRY: Mapping[str, DatasetFormat] = {
    f.name: f
    for f in (
        DatasetFormat(
            "customizer",
            to_customizer_records,
            layout.CUSTOMIZER_FILES,
            "NeMo Customizer DPO files (prompt, chosen_response, rejected_response)",
            plain_prompt=True,
            keep_hint=_KEEP_CUSTOMIZER,
            full_history=lambda d: to_customizer_records(d, use_full_message_history=True),
        ),
        DatasetFormat(
            "trl",
            to_trl_records,
            layout.TRAIN_VALIDATION_FILES,
            "TRL preference, prompt/chosen/rejected strings",
            plain_prompt=True,
            keep_hint=_KEEP_TRL,
        ),
        DatasetFormat(
            "trl-conversational",
            lambda d: to_trl_records(d, conversational=True),
            layout.TRAIN_VALIDATION_FILES,
            "TRL preference with message lists",
        ),
        DatasetFormat(
            "nemo-rl-binary",
            to_nemo_rl_binary_records,
            layout.TRAIN_VALIDATION_FILES,
            "NeMo RL BinaryPreferenceDataset: prompt messages, chosen/rejected strings",
        ),
        DatasetFormat(
            "nemo-rl-rank",
            to_nemo_rl_rank_records,
            layout.TRAIN_VALIDATION_FILES,
            "NeMo RL PreferenceDataset: context and ranked completions",
        ),
        DatasetFormat(
            "openai", to_openai_records, layout.TRAIN_VALIDATION_FILES, "OpenAI preference fine-tuning", rewards=False
        ),
        DatasetFormat(
            "customizer-sft",
            to_customizer_sft_records,
            layout.CUSTOMIZER_FILES,
            "NeMo Customizer SFT files (prompt, completion; messages with the full message history)",
            rewards=False,
            recipe="sft",
            plain_prompt=True,
            keep_hint=_KEEP_CUSTOMIZER,
            full_history=lambda d: to_customizer_sft_records(d, use_full_message_history=True),
        ),
        DatasetFormat(
            "trl-sft",
            to_trl_sft_records,
            layout.TRAIN_VALIDATION_FILES,
            "TRL SFT prompt/completion strings",
            rewards=False,
            recipe="sft",
            plain_prompt=True,
            keep_hint="use --format trl-sft-conversational (messages)",
        ),
        DatasetFormat(
            "trl-sft-conversational",
            lambda d: to_trl_sft_records(d, conversational=True),
            layout.TRAIN_VALIDATION_FILES,
            "TRL SFT conversational messages",
            rewards=False,
            recipe="sft",
        ),
        DatasetFormat(
            "trl-kto",
            to_trl_kto_records,
            layout.TRAIN_VALIDATION_FILES,
            "TRL KTO prompt/completion/label, strings",
            rewards=False,
            recipe="kto",
            plain_prompt=True,
            keep_hint="use --format trl-kto-conversational (prompt and completion as messages)",
        ),
        DatasetFormat(
            "trl-kto-conversational",
            lambda d: to_trl_kto_records(d, conversational=True),
            layout.TRAIN_VALIDATION_FILES,
            "TRL KTO with message lists",
            rewards=False,
            recipe="kto",
        ),
    )
}
"""Every format :func:`~dpo_frames.write_dataset` writes, by name."""

Format = Literal[
    "customizer",
    "trl",
    "trl-conversational",
    "nemo-rl-binary",
    "nemo-rl-rank",
    "openai",
    "customizer-sft",
    "trl-sft",
    "trl-sft-conversational",
    "trl-kto",
    "trl-kto-conversational",
]
FORMATS: tuple[str, ...] = tuple(REGISTRY)
"""The format names (see the module docstring for one record of each)."""
RECIPES: Mapping[str, tuple[str, ...]] = {
    recipe: tuple(name for name, f in REGISTRY.items() if f.recipe == recipe) for recipe in ("dpo", "sft", "kto")
}
"""The formats of each training recipe."""


def dataset_format(name: str) -> DatasetFormat:
    """The format called ``name``; :class:`~dpo_frames.errors.ConfigError` naming the formats otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown format {name!r}; expected one of {list(FORMATS)}") from None


def check_options(format: str, use_full_message_history: bool = False, rewards: bool = False) -> DatasetFormat:
    """The format, after checking that the options apply to it."""
    spec = dataset_format(format)
    if use_full_message_history and spec.full_history is None:
        with_history = [name for name, f in REGISTRY.items() if f.full_history is not None]
        raise ConfigError(
            f"use_full_message_history only applies to the {' and '.join(with_history)} formats "
            "(the message formats always carry the whole message list)"
        )
    if rewards and not spec.rewards:
        raise ConfigError(f"the {format} format has no reward fields; write it without rewards")
    return spec


def check_records(
    frame: pl.DataFrame,
    spec: DatasetFormat,
    *,
    use_full_message_history: bool = False,
    prompt_context: PromptContext | str = PromptContext.REFUSE,
) -> ContextStats:
    """Check that ``frame`` suits ``spec`` (an SFT format takes desirable completions only) and that no
    message of a prompt is dropped unasked (:func:`~dpo_frames.dataset.context.check_prompt_context`)."""
    if spec.recipe == "sft" and "label" in frame.columns:
        undesirable = int((~frame["label"].fill_null(False)).sum())
        if undesirable:
            raise ConfigError(
                f"{undesirable} of {frame.height} completions are labelled undesirable; the {spec.name} format "
                "(SFT) would train on them as good answers: write a KTO format, or build the data with build_sft"
            )
    responses = ["chosen_response", "rejected_response"] if spec.recipe == "dpo" else ["completion", "label"]
    return check_prompt_context(
        frame,
        format=spec.name,
        plain_prompt=spec.plain_prompt and not use_full_message_history,
        responses=responses,
        keep_hint=spec.keep_hint,
        prompt_context=prompt_context,
    )


def to_records(
    dataset: pl.DataFrame,
    format: Format = "customizer",
    *,
    use_full_message_history: bool = False,
    rewards: bool = False,
    prompt_context: PromptContext | str = PromptContext.REFUSE,
) -> pl.DataFrame:
    """The records of ``format`` (one row per record, the columns of one JSON object).

    ``dataset`` is a dataset frame (pairs and their split) for the DPO formats and a completions
    frame (:func:`~dpo_frames.build_sft`, :func:`~dpo_frames.build_kto`) for the SFT and KTO formats.
    Raises :class:`~dpo_frames.errors.ConfigError` (a ``ValueError``) for an unknown format,
    ``use_full_message_history`` with a format that does not take it, ``rewards`` with a format
    that has no reward fields, undesirable completions in an SFT format, and
    (:class:`~dpo_frames.errors.PromptContextError`) a plain format of prompts of several messages
    unless ``prompt_context="last_message"`` (see :mod:`~dpo_frames.dataset.context`).
    """
    spec = check_options(format, use_full_message_history, rewards)
    check_records(dataset, spec, use_full_message_history=use_full_message_history, prompt_context=prompt_context)
    if use_full_message_history and spec.full_history is not None:
        records = spec.full_history(dataset)
    else:
        records = spec.records(dataset)
    if rewards:
        records = pl.concat([records, dataset.select(_rewards())], how="horizontal")
    return records
