"""What the benchmarks share: a throwaway database (alone or with the simulator and Django on it), brokerages
seeded at both ends, an API client, Celery processes and their CPU from /proc, and percentiles.

Everything a benchmark starts here it also stops; databases are dropped, processes get SIGTERM then SIGKILL.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/engage_sync"  # when DATABASE_URL is not set


def percentile(values: list[float], fraction: float) -> float:
    """The value at ``fraction`` (0.95 for p95) of the sorted values, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def create_database(server_url: str, prefix: str = "engage_bench") -> str:
    """CREATE DATABASE <prefix>_<random> on the server of ``server_url``; returns its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_with_db(server_url, "postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return _with_db(server_url, name)


def drop_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(_with_db(url, "postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@contextmanager
def migrated_database_with_simulator(state_prefix: str) -> Iterator[tuple]:
    """A migrated throwaway database on DATABASE_URL's server and the simulator (fast path), Django set up on them.

    Yields (the running simulator, a scratch directory); at exit stops the simulator and drops the database.
    DATABASE_URL, REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE are set in os.environ so child processes inherit them.
    """
    from tests.fixtures.simulator import start_simulator, stop_simulator

    database_url = create_database(os.environ.get("DATABASE_URL", DEFAULT_SERVER_URL))
    os.environ["DATABASE_URL"] = database_url
    try:
        with tempfile.TemporaryDirectory(prefix=state_prefix) as state:
            running = start_simulator(Path(state) / "simulator", "--lenient")  # the fast path: no schema checks
            # requests lets REQUESTS_CA_BUNDLE override the per-brokerage CA; trust the simulator's CA through it too.
            os.environ["REQUESTS_CA_BUNDLE"] = os.environ["CURL_CA_BUNDLE"] = running.ca_bundle_with_system
            try:
                import django
                from django.core.management import call_command

                django.setup()
                call_command("migrate", verbosity=0)
                yield running, Path(state)
            finally:
                stop_simulator(running.process)
                from django.db import connections

                connections.close_all()  # DROP DATABASE ... WITH (FORCE) would end them anyway; this is tidier
    finally:
        drop_database(database_url)


def create_brokerage(sim, name: str, domain: str, local_parts: list[str], **fields):
    """A tenant with the Engage Sync app and these mailboxes at the simulator, and its active Brokerage row here.

    Returns (the Brokerage, the mailbox addresses); ``fields`` are further Brokerage fields (interval, caps).
    """
    from brokerages.models import Brokerage

    tenant = sim.create_tenant(name, [domain])
    app = sim.create_app(tenant["tenant_id"], "Engage Sync")
    addresses = sim.create_mailboxes(tenant["tenant_id"], [f"{local}@{domain}" for local in local_parts])
    brokerage = Brokerage.objects.create(
        name=name, tenant_id=tenant["tenant_id"], client_id=app["client_id"], client_secret=app["secret"]["value"],
        client_secret_expires_on=dt.date.today() + dt.timedelta(days=90),  # beyond every expiry warning
        test_mailbox=addresses[0], email_domains=[domain], authority_host=sim.base_url, ews_url=sim.ews_url,
        ca_bundle_path=sim.ca_path, status=Brokerage.Status.ACTIVE, **fields,
    )  # fmt: skip
    return brokerage, addresses


def api_client():
    """A DRF test client with a fresh all-brokerages API key: the CRM calling the API, in this process."""
    from django.conf import settings
    from rest_framework.test import APIClient

    from apikeys.models import ApiKey, Permission

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    _, raw = ApiKey.objects.create_key(
        name=f"bench-{uuid.uuid4().hex[:6]}", all_brokerages=True, permissions=list(Permission.values)
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def measure_against_server(label: str, count: int, server_pid: int, call) -> float:
    """Time ``count`` calls of ``call`` (after one warm-up), print requests/s and the client's and the server process's
    CPU per request, and return server CPU / client CPU (the simulator benches' aim: below 1)."""
    call()  # warm the connection and caches
    server_before, client_before, started = cpu_seconds(server_pid), time.process_time(), time.perf_counter()
    for _ in range(count):
        call()
    elapsed = time.perf_counter() - started
    client_cpu = time.process_time() - client_before
    server_cpu = cpu_seconds(server_pid) - server_before
    ratio = server_cpu / max(client_cpu, 1e-9)
    print(f"{label:<44} {count / elapsed:8.1f} req/s   client CPU {client_cpu / count * 1000:6.2f} ms/req   "
          f"simulator CPU {server_cpu / count * 1000:6.2f} ms/req   (ratio {ratio:.2f})")
    return ratio


class CeleryProcess:
    """`celery -A engage_sync <args>` in its own process with its own log file (a worker, beat, ...)."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path, ready_marker: bytes,
                 hostname: str | None = None) -> None:  # fmt: skip
        self.name = name
        self.hostname = hostname  # a worker's node name, for remote control (add_consumer, ...) by destination
        self.ready_marker = ready_marker
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "engage_sync", *args],
            env=env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    @classmethod
    def worker(cls, n: int, queues: str, env: dict[str, str], log_dir: Path, concurrency: int = 8) -> CeleryProcess:
        hostname = f"bench{n}-{os.getpid()}@{socket.gethostname()}"
        args = ["worker", "--hostname", hostname, "--queues", queues, "--pool", "threads", "--concurrency",
                str(concurrency), "--loglevel", "INFO", "--without-mingle", "--without-gossip"]  # fmt: skip
        return cls(f"worker{n}", args, env, log_dir, b"ready.", hostname)

    @classmethod
    def beat(cls, env: dict[str, str], log_dir: Path) -> CeleryProcess:
        return cls("beat", ["beat", "--loglevel", "INFO", "--schedule", str(log_dir / "beat-schedule")], env, log_dir,
                   b"beat: Starting")  # fmt: skip

    def wait_ready(self, timeout: float = 60) -> CeleryProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start-up:\n{self.log_path.read_text()[-3000:]}")
            if self.ready_marker in self.log_path.read_bytes():
                return self
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready in {timeout}s:\n{self.log_path.read_text()[-3000:]}")

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.process.pid)

    def task_run_seconds(self, task_name: str) -> list[float]:
        """How long each successful run of ``task_name`` took, from the worker's own INFO log lines, oldest first."""
        pattern = rb"\b" + re.escape(task_name.encode()) + rb"\[[^\]]+\] succeeded in ([0-9.]+)s"
        return [float(value) for value in re.findall(pattern, self.log_path.read_bytes())]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self._log.close()
