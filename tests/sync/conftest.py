"""Hypothesis profiles for the sync core: the suite's bounded run, and a long soak for a quiet afternoon.

Run the soak with `pytest tests/sync --hypothesis-profile=sync-soak` (this conftest must be an initial one,
so name tests/sync or a file in it on the command line).
"""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "sync-soak",
    max_examples=5000,
    stateful_step_count=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
