"""Flower as the Procfile starts it (through honcho, as `make demo` does): its password is on no command line,
and every page, /metrics and /healthcheck included, needs the credentials (ops/flower_config.py)."""

from __future__ import annotations

import base64
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

PASSWORD = "flower-test-password-5b1e"
HONCHO = str(Path(sys.executable).with_name("honcho"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def _command_line(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _get(port: int, path: str, password: str | None = None, user: str = "admin") -> int:
    headers = {}
    if password is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


def _start(env_extra: dict[str, str], log_path: Path) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("FLOWER_")}
    env = {**inherited, "DJANGO_SETTINGS_MODULE": "tests.settings", "FLOWER_PORT": str(port), **env_extra}
    log = log_path.open("wb")
    process = subprocess.Popen([HONCHO, "start", "-f", "Procfile", "flower"], cwd=PROJECT_ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    return process, port


def _wait_listening(process: subprocess.Popen, port: int, log_path: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"flower exited:\n{log_path.read_text()[-3000:]}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise RuntimeError(f"flower did not listen in time:\n{log_path.read_text()[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


@pytest.fixture
def flower(tmp_path):
    """Flower started from the Procfile with its credentials in FLOWER_BASIC_AUTH, as scripts/demo.sh sets them."""
    log_path = tmp_path / "flower.log"
    process, port = _start({"FLOWER_BASIC_AUTH": f"admin:{PASSWORD}"}, log_path)
    try:
        _wait_listening(process, port, log_path)
        yield process, port
    finally:
        _stop(process)


def test_the_password_is_on_no_command_line_of_the_flower_processes(flower):
    process, _ = flower
    command_lines = [_command_line(pid) for pid in _descendants(process.pid)]
    assert any(" flower " in line and "--conf=ops/flower_config.py" in line for line in command_lines), command_lines
    assert not [line for line in command_lines if PASSWORD in line]


@pytest.mark.parametrize("path", ["/", "/workers", "/metrics", "/healthcheck", "/api/workers"])
def test_every_page_needs_the_credentials(flower, path):
    _, port = flower
    assert _get(port, path) == 401
    assert _get(port, path, password="wrong") == 401
    assert _get(port, path, password=PASSWORD) == 200


def test_credentials_from_a_file_work_too(tmp_path):
    secret = tmp_path / "flower_credentials"
    secret.write_text(f"ops:{PASSWORD}\n")
    log_path = tmp_path / "flower.log"
    process, port = _start({"FLOWER_BASIC_AUTH_FILE": str(secret)}, log_path)
    try:
        _wait_listening(process, port, log_path)
        assert _get(port, "/metrics", password=PASSWORD, user="ops") == 200
        assert _get(port, "/metrics") == 401
    finally:
        _stop(process)


def test_without_credentials_flower_refuses_to_start(tmp_path):
    log_path = tmp_path / "flower.log"
    process, _ = _start({}, log_path)
    try:
        process.wait(timeout=90)  # honcho stops when its only process exits
        assert "Flower needs its credentials" in log_path.read_text()
    finally:
        _stop(process)
