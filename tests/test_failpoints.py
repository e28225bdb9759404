"""Failpoints are inert unless armed, and armed ones act exactly where they are named."""

import subprocess
import sys

import pytest

from engage_sync import failpoints


def test_an_unarmed_failpoint_does_nothing():
    failpoints.failpoint("outbox.after_create")


def test_a_failpoint_without_an_action_is_a_configuration_error():
    with pytest.raises(ValueError, match="needs an action"):
        failpoints._parse("outbox.after_create")


def test_an_armed_kill_failpoint_kills_its_process_and_only_at_that_point():
    script = (
        "from engage_sync.failpoints import failpoint\n"
        "failpoint('other.point'); print('passed other', flush=True)\n"
        "failpoint('outbox.after_create'); print('survived', flush=True)\n"
    )
    env = {"ENGAGE_FAILPOINTS": "outbox.after_create=kill", "PYTHONPATH": "."}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == -9
    assert result.stdout == "passed other\n"
