"""`make demo` (scripts/demo.sh) stops every process it started when a supervisor sends it SIGTERM, as on Ctrl-C.

The whole demo runs here — migrations, the simulator, the demo brokerage, and the Procfile under honcho (web,
worker, beat, Flower) — on ports, a database, a state directory and a broker vhost of the test's own, so a demo
already running on this machine is not touched.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.error import HTTPError, URLError

import pytest
from django.db import connection

from tests.fixtures.session_vhost import private_vhost

REPO_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 300.0  # migrations and five Python processes on a busy 2-core machine
STOP_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - a fixed http://127.0.0.1 URL
            return True
    except HTTPError:
        return True  # any HTTP answer (Flower's 401 without its password) means the process serves
    except (URLError, OSError):
        return False


def _process_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, start time in clock ticks), from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        table[int(entry.name)] = (int(fields[1]), fields[19])
    return table


def _descendants(root: int) -> dict[int, str]:
    """Every process below `root` (whatever session or process group it moved to), pid -> start time."""
    table = _process_table()
    found, frontier = {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, started) in table.items():
            if ppid == parent and pid not in found:
                found[pid] = started
                frontier.append(pid)
    return found


def _still_running(processes: dict[int, str]) -> dict[int, str]:
    """Those of `processes` still alive (same pid and start time, so a reused pid does not count)."""
    table = _process_table()
    alive = {}
    for pid, started in processes.items():
        if pid in table and table[pid][1] == started:
            try:
                alive[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
            except OSError:
                continue
    return alive


def _wait_for(condition, what: str, timeout: float, output: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what} (waited {timeout:.0f}s); the demo's output:\n"
                         f"{output.read_text(errors='replace')[-6000:]}")


@pytest.fixture
def demo_broker() -> Iterator[str]:
    """A RabbitMQ vhost of the test's own: the demo's beat and worker must not mix with the suite's messages."""
    with private_vhost(f"engage-test-{os.getpid()}-demo") as url:
        yield url


@pytest.fixture
def demo_database() -> Iterator[str]:
    """A database of the test's own on the suite's PostgreSQL, dropped at the end (demo.sh creates it)."""
    settings = connection.settings_dict
    name = f"engage_demo_test_{os.getpid()}"
    host, port = settings["HOST"] or "127.0.0.1", str(settings["PORT"] or 5432)
    yield f"postgres://postgres@{host}:{port}/{name}"
    subprocess.run(["dropdb", "--if-exists", "--force", "-h", host, "-p", port, "-U", "postgres", name],
                   check=False, capture_output=True, timeout=120)


def _supervisor_sigterm(demo: subprocess.Popen) -> None:
    demo.send_signal(signal.SIGTERM)  # to the top process only, as systemd (KillMode=mixed) or honcho would


def _terminal_ctrl_c(demo: subprocess.Popen) -> None:
    os.killpg(demo.pid, signal.SIGINT)  # to the foreground process group, as a terminal does


@pytest.mark.parametrize(("stop", "exit_code"), [(_supervisor_sigterm, 128 + signal.SIGTERM),
                                                 (_terminal_ctrl_c, 128 + signal.SIGINT)])
def test_stopping_make_demo_stops_every_process_it_started_and_frees_its_ports(stop, exit_code, tmp_path,
                                                                               demo_database, demo_broker):
    # given the demo running on ports, a database, a state directory and a broker vhost of its own
    ports = {"WEB_PORT": _free_port(), "FLOWER_PORT": _free_port(), "SIMULATOR_PORT": _free_port()}
    output = tmp_path / "demo.out"
    env = {**{k: v for k, v in os.environ.items() if k != "VERIFY_ON_CREDENTIAL_CHANGE"},  # a test setting
           **{k: str(v) for k, v in ports.items()}, "DATABASE_URL": demo_database, "CELERY_BROKER_URL": demo_broker,
           "DEMO_VAR_DIR": str(tmp_path / "var"), "DJANGO_SETTINGS_MODULE": "engage_sync.settings"}
    with output.open("wb") as sink:
        demo = subprocess.Popen(["bash", "scripts/demo.sh"], cwd=REPO_ROOT, env=env, stdout=sink,
                                stderr=subprocess.STDOUT, start_new_session=True)
    started: dict[int, str] = {}
    try:
        _wait_for(lambda: demo.poll() is not None or (
            _answers(f"http://127.0.0.1:{ports['WEB_PORT']}/admin/login/")
            and _answers(f"http://127.0.0.1:{ports['FLOWER_PORT']}/")
            and _listening(ports["SIMULATOR_PORT"])
            and b" ready." in output.read_bytes() and b"beat: Starting" in output.read_bytes()),
            "the demo did not come up", START_TIMEOUT, output)
        assert demo.poll() is None, output.read_text(errors="replace")[-6000:]
        started = _descendants(demo.pid)
        commands = " ".join(_still_running(started).values())
        assert all(name in commands for name in ("honcho", "gunicorn", "worker", "beat", "flower", "simulator")), commands

        # when a supervisor sends SIGTERM to the demo's top process, or a terminal's Ctrl-C its process group
        stop(demo)
        demo.wait(timeout=STOP_TIMEOUT)

        # then every process it started has ended and no port it listened on is still open
        _wait_for(lambda: not _still_running(started), f"left running: {_still_running(started)}", 10, output)
        assert [name for name, port in ports.items() if _listening(port)] == []
        assert demo.returncode == exit_code
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait(timeout=30)
        for pid in _still_running(started):
            os.kill(pid, signal.SIGKILL)
