"""Flower as deploy/kubernetes runs it (the systemd unit runs the same command): its credentials from the Secret
file FLOWER_BASIC_AUTH_FILE names, through ops/flower_config.py, never the command line. A real Flower process
on the session's broker; tests/test_flower.py covers the config file itself page by page."""

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


def _flower_container() -> dict:
    (flower,) = [o for o in render(KUBERNETES_ROOT / "base") if o["kind"] == "Deployment" and o["metadata"]["name"] == "engage-sync-flower"]
    return flower["spec"]["template"]["spec"]["containers"][0]


@pytest.fixture
def flower_as_deployed(tmp_path, session_broker):
    container = _flower_container()
    # The Secret's file, here in a temporary folder instead of /run/secrets/engage-sync-flower
    (secret_file,) = [e["value"] for e in container["env"] if e["name"] == "FLOWER_BASIC_AUTH_FILE"]
    credentials = tmp_path / "credentials"
    credentials.write_text("ops:correct-horse-battery\n", encoding="utf-8")
    port = _free_port()
    # The container's command, with this test's address and port
    args = [a for a in container["command"][1:] if not a.startswith(("--address=", "--port="))]
    log = (tmp_path / "flower.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", *args, "--address=127.0.0.1", f"--port={port}"],
        cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "CELERY_BROKER_URL": session_broker.url,
             "FLOWER_BASIC_AUTH_FILE": str(credentials)},
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
        yield base, secret_file, args
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_flower_started_as_the_manifest_starts_it_asks_for_the_credentials_of_its_secret_file(flower_as_deployed):
    base, secret_file, args = flower_as_deployed
    # Given the manifest's Flower: credentials from a file on the mounted Secret, none on its command line
    mounted = [m["mountPath"] for m in _flower_container()["volumeMounts"]]
    assert any(secret_file.startswith(f"{path}/") for path in mounted)
    assert not any("basic" in arg or "correct-horse" in arg for arg in args)
    # When a browser asks without credentials, or with wrong ones, then it is refused
    assert httpx.get(base, timeout=10).status_code == 401
    assert httpx.get(base, auth=("ops", "wrong"), timeout=10).status_code == 401
    # And with the file's credentials it is let in
    assert httpx.get(base, auth=("ops", "correct-horse-battery"), timeout=10).status_code == 200
