"""The workers' liveness probe in deploy/kubernetes, run as the kubelet would: it passes against a live worker
and fails when no worker of that name answers."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from .kubernetes_manifests import KUBERNETES_ROOT, REPO_ROOT, render

pytestmark = pytest.mark.django_db(transaction=True)


def _probe_command() -> list[str]:
    (sync,) = [o for o in render(KUBERNETES_ROOT / "base") if o["metadata"]["name"] == "engage-sync-worker-sync" and o["kind"] == "Deployment"]
    return sync["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["exec"]["command"]


def _run(command: list[str], hostname: str) -> subprocess.CompletedProcess:
    # The image has celery on its PATH; here the virtualenv's bin stands in for it
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "PATH": path, "HOSTNAME": hostname, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    return subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_the_liveness_probe_passes_for_a_live_worker_and_fails_for_a_missing_one(worker_process):
    # Given a sync worker named as the manifest names it (here its test name stands in for "worker-sync")
    worker = worker_process(queues="sync")
    command = [part.replace("worker-sync@", f"{worker.name}@") for part in _probe_command()]
    # When the kubelet runs the probe in its pod (HOSTNAME is the pod's name, which %h gave the worker), it passes
    assert _run(command, socket.gethostname()).returncode == 0
    # And in a pod whose worker is gone (another host name) it fails
    assert _run(command, "no-such-pod").returncode != 0
