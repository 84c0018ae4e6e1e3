"""Suite-wide settings."""

from hypothesis import settings

# Same examples on every run and machine: CI is deterministic, and a property failure
# reproduces as is. Explore new examples locally with --hypothesis-profile=explore.
settings.register_profile("default", derandomize=True, deadline=None)
settings.register_profile("explore", derandomize=False, deadline=None, max_examples=2000)
settings.load_profile("default")
