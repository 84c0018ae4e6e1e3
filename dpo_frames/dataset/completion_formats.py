"""The SFT and KTO formats: how a completions frame (:func:`~dpo_frames.build_sft`,
:func:`~dpo_frames.build_kto`) becomes JSONL records. One record per completion, one file per split:

``customizer-sft``: NeMo Customizer SFT, completion models (``prompt`` the prompt text); with
``use_full_message_history``, chat models (``messages``, the answer as the last, assistant message)::

    {"prompt": "2+2?", "completion": "4"}
    {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}

``trl-sft``: TRL prompt-completion, standard::

    {"prompt": "2+2?", "completion": "4"}

``trl-sft-conversational``: TRL conversational language modeling (``SFTTrainer`` applies the chat template)::

    {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}

``trl-kto``: TRL unpaired preference (``KTOTrainer``), standard::

    {"prompt": "2+2?", "completion": "5", "label": false}

``trl-kto-conversational``: TRL unpaired preference, conversational::

    {"prompt": [{"role": "user", "content": "2+2?"}], "completion": [{"role": "assistant", "content": "5"}],
     "label": false}

Sources: NeMo Customizer's dataset formats by training type (SFT: ``prompt``/``completion`` or
``messages``); TRL https://huggingface.co/docs/trl/dataset_formats (prompt-completion, language
modeling, unpaired preference) and https://huggingface.co/docs/trl/kto_trainer.
"""

from __future__ import annotations

import polars as pl

from dpo_frames.dataset.exprs import assistant, messages_prompt

__all__ = [
    "to_customizer_sft_records",
    "to_trl_kto_records",
    "to_trl_sft_records",
]


def _conversation() -> pl.Expr:
    """The prompt's messages followed by the completion as the assistant's message."""
    return pl.concat_list(messages_prompt(), assistant("completion"))


def to_customizer_sft_records(completions: pl.DataFrame, *, use_full_message_history: bool = False) -> pl.DataFrame:
    """NeMo Customizer SFT: ``prompt``/``completion``, or with ``use_full_message_history`` ``messages``."""
    if use_full_message_history:
        return completions.select(messages=_conversation())
    return completions.select(prompt="prompt_text", completion="completion")


def to_trl_sft_records(completions: pl.DataFrame, *, conversational: bool = False) -> pl.DataFrame:
    """TRL SFT: ``prompt``/``completion`` strings, or conversational ``messages``."""
    if conversational:
        return completions.select(messages=_conversation())
    return completions.select(prompt="prompt_text", completion="completion")


def to_trl_kto_records(completions: pl.DataFrame, *, conversational: bool = False) -> pl.DataFrame:
    """TRL KTO: ``prompt``, ``completion``, ``label`` (strings, or messages when ``conversational``)."""
    if conversational:
        return completions.select(prompt=messages_prompt(), completion=assistant("completion"), label="label")
    return completions.select(prompt="prompt_text", completion="completion", label="label")
