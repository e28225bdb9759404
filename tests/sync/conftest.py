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
# The production-path model (test_model_engine.py): each step is real requests, so far fewer, longer histories.
settings.register_profile(
    "sync-engine-soak",
    max_examples=600,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


# --- The engine and the API against the simulator (H6): a simulated mailbox, the CRM client, one sync ---------

import pytest  # noqa: E402


@pytest.fixture
def sync_once(sim_mailbox):
    """Run the real engine once on the simulated mailbox through the real gateway; returns its EngineResult."""
    from brokerages.gateways import gateway_for_mailbox
    from brokerages.models import Mailbox
    from sync.engine import sync_mailbox

    def run(**overrides):
        row = Mailbox.objects.select_related("brokerage").get(pk=sim_mailbox.pk)
        for name, value in overrides.items():
            setattr(row, name, value)
        return sync_mailbox(row, gateway_for_mailbox(row), lambda: None)

    return run
