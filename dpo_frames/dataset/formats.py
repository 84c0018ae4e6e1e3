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

With ``rewards=True`` every format but ``openai`` also carries ``"chosen_reward"`` and
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
from dpo_frames.errors import ConfigError


def _messages_prompt() -> pl.Expr:
    """The prompt as a message list; a string prompt becomes one user message."""
    as_user = pl.concat_list(pl.struct(role=pl.lit("user"), content=pl.col("prompt_text")))
    return pl.coalesce(pl.col("prompt_messages"), as_user)


def _assistant(col: str) -> pl.Expr:
    """A response as a one-message assistant turn."""
    return pl.concat_list(pl.struct(role=pl.lit("assistant"), content=pl.col(col)))


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
    """Dataset frame -> one row per pair, the columns of one JSON object."""
    files: Mapping[str, PurePosixPath]
    """The file of each split, relative to the output directory."""
    description: str
    rewards: bool = True
    """Whether ``rewards=True`` (``chosen_reward``/``rejected_reward``) applies."""


REGISTRY: Mapping[str, DatasetFormat] = {
    f.name: f
    for f in (
        DatasetFormat(
            "customizer",
            to_customizer_records,
            layout.CUSTOMIZER_FILES,
            "NeMo Customizer DPO files (prompt, chosen_response, rejected_response)",
        ),
        DatasetFormat(
            "trl", to_trl_records, layout.TRAIN_VALIDATION_FILES, "TRL preference, prompt/chosen/rejected strings"
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
    )
}
"""Every format :func:`~dpo_frames.write_dataset` writes, by name."""

Format = Literal["customizer", "trl", "trl-conversational", "nemo-rl-binary", "nemo-rl-rank", "openai"]
FORMATS: tuple[str, ...] = tuple(REGISTRY)
"""The format names (see the module docstring for one record of each)."""


def dataset_format(name: str) -> DatasetFormat:
    """The format called ``name``; :class:`~dpo_frames.errors.ConfigError` naming the formats otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown format {name!r}; expected one of {list(FORMATS)}") from None


def check_options(format: str, use_full_message_history: bool = False, rewards: bool = False) -> DatasetFormat:
    """The format, after checking that the options apply to it."""
    spec = dataset_format(format)
    if use_full_message_history and format != "customizer":
        raise ConfigError(
            "use_full_message_history only applies to the customizer format "
            "(the message formats always carry the whole message list)"
        )
    if rewards and not spec.rewards:
        raise ConfigError(f"the {format} format has no reward fields; write it without rewards")
    return spec


def to_records(
    dataset: pl.DataFrame,
    format: Format = "customizer",
    *,
    use_full_message_history: bool = False,
    rewards: bool = False,
) -> pl.DataFrame:
    """The records of ``format`` (one row per pair, the columns of one JSON object).

    Raises :class:`~dpo_frames.errors.ConfigError` (a ``ValueError``) for an unknown format,
    ``use_full_message_history`` with a format other than ``customizer``, and ``rewards``
    with ``openai`` (not a field of OpenAI's format, whose files are validated on upload).
    """
    spec = check_options(format, use_full_message_history, rewards)
    if format == "customizer":
        records = to_customizer_records(dataset, use_full_message_history=use_full_message_history)
    else:
        records = spec.records(dataset)
    if rewards:
        records = pl.concat([records, dataset.select(_rewards())], how="horizontal")
    return records
