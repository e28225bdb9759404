"""A test run keeps to a RabbitMQ vhost of its own: created at the start, removed at the end, and the default
vhost `/` (a running demo's) is never the one the tests publish to or purge."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from engage_sync.celery import app as celery_app
from tests.fixtures.session_vhost import vhost_of

REPO_ROOT = Path(__file__).resolve().parent.parent
THIS_TEST = "tests/test_session_broker.py::test_the_session_publishes_to_its_vhost_and_hands_it_to_child_processes"


def _vhosts() -> set[str]:
    return set(subprocess.run(["rabbitmqctl", "-q", "list_vhosts"], capture_output=True, text=True, check=True,
                              timeout=120).stdout.split())


def _pytest(nodeid: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", nodeid], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=300, check=False)


def test_the_session_publishes_to_its_vhost_and_hands_it_to_child_processes(session_broker):
    # given this session's broker, then the Celery app and every child process use it, and it is not `/`
    assert session_broker.vhost != "/"
    with celery_app.connection_for_write() as publishing, celery_app.connection_for_read() as consuming:
        assert vhost_of(publishing.as_uri()) == vhost_of(consuming.as_uri()) == session_broker.vhost
    assert os.environ["CELERY_BROKER_URL"] == session_broker.url
    report = os.environ.get("ENGAGE_TEST_VHOST_REPORT")
    if report:  # run by the test below in a session of its own
        Path(report).write_text(json.dumps({"vhost": session_broker.vhost, "owned": session_broker.owned,
                                            "existed": session_broker.vhost in _vhosts()}))


def test_a_session_without_a_broker_url_makes_its_own_vhost_and_removes_it(tmp_path):
    # given a test session started with no CELERY_BROKER_URL in its environment
    report = tmp_path / "vhost.json"
    env = {k: v for k, v in os.environ.items() if k != "CELERY_BROKER_URL"}
    result = _pytest(THIS_TEST, {**env, "ENGAGE_TEST_VHOST_REPORT": str(report)})

    # then it ran on a vhost it created, named after its process, and the vhost is gone once it ended
    assert result.returncode == 0, result.stdout + result.stderr
    seen = json.loads(report.read_text())
    assert seen["owned"] and seen["existed"] and seen["vhost"].startswith("engage-test-")
    assert seen["vhost"] not in _vhosts()


def test_a_session_pointed_at_the_default_vhost_refuses_to_run():
    # given CELERY_BROKER_URL naming the default vhost `/`, when a test session starts
    result = _pytest(THIS_TEST, {**os.environ, "CELERY_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//"})

    # then it stops before any test, saying why
    assert result.returncode == 3, result.stdout + result.stderr
    assert "default vhost" in result.stdout + result.stderr
