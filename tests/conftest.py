"""Fixtures shared by the whole suite. The services are real: PostgreSQL, RabbitMQ, Redis — on the session's own
database (pytest-django) and RabbitMQ vhost (tests/fixtures/session_vhost.py), so a test run disturbs no other."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker

from engage_sync.celery import app as celery_app

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def celery_worker(transactional_db):
    """A real Celery worker in this process, consuming every queue from the real RabbitMQ broker.

    The worker runs in a thread with its own database connection, so the test needs committed data
    (transactional_db), as production does.
    """
    from celery.contrib.testing.tasks import ping

    # start_worker proves the worker is up with celery.ping, which needs a result despite our default.
    ping.ignore_result = False
    with start_worker(celery_app, pool="threads", concurrency=2, perform_ping_check=True, shutdown_timeout=30) as worker:
        yield worker


class WorkerProcess:
    """A Celery worker in its own OS process (so a test can SIGKILL it), on the test database and broker."""

    def __init__(self, name: str, queues: str, env: dict[str, str], log_path) -> None:
        self.name = name
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "engage_sync", "worker", "--hostname", f"{name}@%h",
             "--queues", queues, "--pool", "threads", "--concurrency", "2", "--loglevel", "INFO",
             "--without-mingle", "--without-gossip"],
            env=env, stdout=self._log, stderr=subprocess.STDOUT, cwd=str(PROJECT_ROOT),
        )  # fmt: skip

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited at start-up:\n{self.log_path.read_text()[-4000:]}")
            if b" ready." in self.log_path.read_bytes():
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker {self.name} not ready in {timeout}s:\n{self.log_path.read_text()[-4000:]}")

    def kill(self) -> None:
        """SIGKILL, as the OOM killer or a lost host would: no warm shutdown, no acknowledgements."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


@pytest.fixture
def worker_process(transactional_db, tmp_path, session_broker):
    """Factory: start real worker processes on the test database and the session's broker vhost; every one is
    stopped at the end.

    ``worker_process(queues="mail", failpoints="outbox.after_create=kill")`` arms a failpoint in that
    worker only (see engage_sync/failpoints.py).
    """
    from django.db import connection

    if session_broker.owned:
        celery_app.control.purge()  # earlier tests' leftovers in the session's own vhost would only add noise
    database = connection.settings_dict
    started: list[WorkerProcess] = []

    def start(queues: str = "dispatch,sync,mail,verify,maintenance", failpoints: str = "", extra_env=None) -> WorkerProcess:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "ENGAGE_FAILPOINTS": failpoints,
               "DATABASE_URL": _database_url(database),
               **(extra_env or {})}  # fmt: skip
        name = f"w{len(started) + 1}-{os.getpid()}"
        worker = WorkerProcess(name, queues, env, tmp_path / f"{name}.log")
        started.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.stop()


def _database_url(database: dict) -> str:
    """The URL of the database this test runs on (pytest-django's test database), for a child process."""
    from urllib.parse import quote

    credentials = quote(database["USER"] or "") + (f":{quote(database['PASSWORD'])}" if database.get("PASSWORD") else "")
    return f"postgres://{credentials}@{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}/{database['NAME']}"


pytest_plugins = [
    "tests.fixtures.session_vhost",  # the session's own RabbitMQ vhost (autouse): `session_broker`
    "tests.fixtures.simulator",  # the Microsoft 365 simulator: `simulator`, `sim_tenant`
    "tests.simulator.graph_support",  # `graph`: httpx clients with a real MSAL Graph token
    "tests.fixtures.crm",  # `brokerage`, `mailbox`, `sim_mailbox`, `crm_client`, `backend`
    "tests.fixtures.outlook",  # `outlook`: the agent's side of `sim_mailbox`, by the ids the backend stores
]
