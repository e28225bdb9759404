"""What the fleet benchmarks share: a throwaway database, Celery processes, and their CPU from /proc.

Everything a benchmark starts here it also stops; databases are dropped, processes get SIGTERM then SIGKILL.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


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


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class CeleryProcess:
    """`celery -A engage_sync <args>` in its own process with its own log file (a worker, beat, ...)."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path, ready_marker: bytes) -> None:
        self.name = name
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
        return cls(f"worker{n}", args, env, log_dir, b"ready.")

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

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self._log.close()
