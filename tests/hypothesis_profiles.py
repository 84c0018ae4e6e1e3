"""Hypothesis profiles, chosen by the environment: fast and derandomized in CI, thorough locally.

``DPO_FRAMES_HYPOTHESIS`` names the profile; unset, it is ``ci`` when ``CI`` is set (as
``.ci/run`` does) and ``thorough`` otherwise:

- ``ci``: derandomized (the same examples on every run and machine), a quarter of the examples;
- ``thorough``: derandomized, every example a test asks for;
- ``explore``: random, four times as many (to find new failures; they reproduce from the seed printed).

Tests ask for their count through :func:`examples`, which scales it by the profile.
"""

from __future__ import annotations

import os

from hypothesis import settings

SCALES = {"ci": 0.25, "thorough": 1.0, "explore": 4.0}

PROFILE = os.environ.get("DPO_FRAMES_HYPOTHESIS") or ("ci" if os.environ.get("CI") else "thorough")
if PROFILE not in SCALES:
    raise RuntimeError(f"DPO_FRAMES_HYPOTHESIS={PROFILE!r}: expected one of {', '.join(SCALES)}")

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=25, print_blob=True)
settings.register_profile("thorough", derandomize=True, deadline=None, max_examples=100, print_blob=True)
settings.register_profile("explore", derandomize=False, deadline=None, max_examples=400, print_blob=True)
settings.load_profile(PROFILE)


def examples(count: int) -> int:
    """The examples a test runs under the current profile (``count`` in the thorough one)."""
    return max(10, round(count * SCALES[PROFILE]))
