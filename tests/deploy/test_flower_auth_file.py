"""Flower as deploy/kubernetes and deploy/systemd run it: basic auth from its own config file (a Secret or a
systemd credential), never from the command line. A real Flower process on the session's broker."""

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from .kubernetes_manifests import KUBERNETES_ROOT, REPO_ROOT, render


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def flower_with_config_file(tmp_path, session_broker):
    config = tmp_path / "flowerconfig.py"
    config.write_text('basic_auth = ["ops:correct-horse-battery"]\n', encoding="utf-8")
    port = _free_port()
    log = (tmp_path / "flower.log").open("wb")
    # The arguments the manifests give it, with this test's address, port and config path
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "engage_sync", "flower", "--address=127.0.0.1", f"--port={port}",
         f"--conf={config}"],
        cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "CELERY_BROKER_URL": session_broker.url},
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "flower.log").read_text()
            try:
                httpx.get(base, timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_flower_started_as_the_manifests_start_it_asks_for_the_credentials_from_its_config_file(flower_with_config_file):
    # Given Flower started with --conf naming a file that holds basic_auth (the manifests' way)
    command = next(o for o in render(KUBERNETES_ROOT / "base") if o["metadata"]["name"] == "engage-sync-flower"
                   and o["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]["command"]  # fmt: skip
    assert any(arg.startswith("--conf=") for arg in command) and not any("basic-auth" in arg for arg in command)
    # When a browser asks without credentials, or with wrong ones, then it is refused
    assert httpx.get(flower_with_config_file, timeout=10).status_code == 401
    assert httpx.get(flower_with_config_file, auth=("ops", "wrong"), timeout=10).status_code == 401
    # And with the file's credentials it is let in
    assert httpx.get(flower_with_config_file, auth=("ops", "correct-horse-battery"), timeout=10).status_code == 200
