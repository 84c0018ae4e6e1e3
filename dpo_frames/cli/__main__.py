"""``python -m dpo_frames.cli``: the same as the ``dpo-frames`` script."""

from dpo_frames.cli import main

main()
