"""``python -m dpo_frames``: the ``dpo-frames`` command."""

from dpo_frames.cli import main

main()
