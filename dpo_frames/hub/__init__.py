"""The Hugging Face bridge (the ``[hf]`` extra): datasets as ``datasets.DatasetDict``, pushed to the Hub.

- :func:`to_hf_dataset`: a dataset frame (DPO pairs, or SFT/KTO completions) or a dataset directory
  -> ``DatasetDict`` with ``train`` and ``validation``, features typed (strings, message lists,
  ``label`` bool), in the columns of the format (TRL's by default);
- :func:`push_to_hub` (CLI ``dpo-frames push RUN REPO_ID --format F``): the splits as Parquet under
  ``data/`` and a dataset card, in one commit, through ``huggingface_hub`` to the Hub or any
  Hub-compatible endpoint (NeMo Data Store's ``/v1/hf``, the emulator). The card's YAML names the
  files of each split (``configs``), so ``load_dataset(repo_id)`` finds them; its body tells where
  the data came from (runs, settings, statistics, quality checks) and how to train on it with TRL.

Example (needs ``pip install 'dpo_frames[hf]'``)::

    from dpo_frames.hub import push_to_hub, to_hf_dataset

    splits = to_hf_dataset(dataset, format="trl-conversational")     # DatasetDict: train, validation
    push_to_hub("runs/r1/datasets/trl-sft-conversational", "me/ttt-sft")
"""

from dpo_frames.hub.card import dataset_card
from dpo_frames.hub.convert import DEFAULT_FORMATS, HubDataset, hub_dataset, to_hf_dataset
from dpo_frames.hub.push import PushResult, push_to_hub

__all__ = ["DEFAULT_FORMATS", "HubDataset", "PushResult", "dataset_card", "hub_dataset", "push_to_hub", "to_hf_dataset"]
