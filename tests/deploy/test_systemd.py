"""deploy/systemd: the units pass `systemd-analyze verify` with no diagnostic at all, a broken copy does not, and
their stop timeouts and worker pools are the ones deploy/README.md and the Kubernetes manifests use."""

import shutil
import subprocess
from pathlib import Path

import pytest

from .kubernetes_manifests import KUBERNETES_ROOT, render

REPO_ROOT = Path(__file__).resolve().parents[2]
UNITS = REPO_ROOT / "deploy" / "systemd"
INSTALL_PREFIX = "/opt/engage-sync"  # where the units expect the checkout; verify checks that ExecStart exists


def _installed_copy(tmp_path: Path) -> Path:
    """The units as installed from this checkout: the prefix replaced by the repository's own path."""
    target = tmp_path / "units"
    target.mkdir()
    for unit in [*UNITS.glob("*.service"), *UNITS.glob("*.target")]:
        (target / unit.name).write_text(unit.read_text(encoding="utf-8").replace(INSTALL_PREFIX, str(REPO_ROOT)), encoding="utf-8")
    return target


def _verify(units: Path) -> subprocess.CompletedProcess:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: scripts/setup.sh installs Debian's systemd package"
    files = sorted(str(p) for p in units.iterdir())
    return subprocess.run([analyze, "verify", "--man=no", *files], capture_output=True, text=True, timeout=120, cwd=units)


def _settings(unit: Path) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in unit.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def test_every_unit_passes_systemd_analyze_verify_without_a_diagnostic(tmp_path):
    done = _verify(_installed_copy(tmp_path))
    # systemd-analyze exits 0 on an unknown key or a bad value (it only logs them), so any output is a failure too
    assert (done.returncode, done.stdout.strip(), done.stderr.strip()) == (0, "", "")


@pytest.mark.parametrize(
    ("good", "broken", "reported"),
    [
        ("TimeoutStopSec=90", "TimeoutStopSecs=90", "Unknown key"),
        ("TimeoutStopSec=90", "TimeoutStopSec=ninety", "Failed to parse"),
        ("/.venv/bin/celery ", "/.venv/bin/celeri ", "not executable"),
    ],
)
def test_a_broken_unit_is_reported(tmp_path, good, broken, reported):
    # Given an installed copy with one mistake in the sync worker's unit
    units = _installed_copy(tmp_path)
    unit = units / "engage-sync-worker-sync.service"
    text = unit.read_text(encoding="utf-8")
    assert good in text
    unit.write_text(text.replace(good, broken, 1), encoding="utf-8")
    # When verified, then the mistake is reported
    done = _verify(units)
    assert reported in done.stderr + done.stdout


def test_stop_timeouts_and_pools_match_the_kubernetes_grace_periods():
    # Given the units and the Kubernetes production rendering
    deployments = {o["metadata"]["name"]: o for o in render(KUBERNETES_ROOT / "overlays/production") if o["kind"] == "Deployment"}
    for unit_name, deployment in [("web", "engage-sync-web"), ("worker-sync", "engage-sync-worker-sync"),
                                  ("worker-mail", "engage-sync-worker-mail"), ("worker-verify", "engage-sync-worker-verify"),
                                  ("beat", "engage-sync-beat"), ("flower", "engage-sync-flower")]:  # fmt: skip
        settings = _settings(UNITS / f"engage-sync-{unit_name}.service")
        pod = deployments[deployment]["spec"]["template"]["spec"]
        # Then each stops on SIGTERM to the main process, SIGKILL only after the same grace Kubernetes gives it
        assert settings["KillSignal"] == ["SIGTERM"] and settings["KillMode"] == ["mixed"], unit_name
        assert settings["TimeoutStopSec"] == [str(pod["terminationGracePeriodSeconds"])], unit_name
        assert settings["Restart"] == ["always"], unit_name
        # And runs the same program with the same queues, pool and concurrency (or gunicorn's workers and timeouts)
        unit_args, pod_args = settings["ExecStart"][0].split(), pod["containers"][0]["command"]
        assert Path(unit_args[0]).name == pod_args[0], unit_name
        for option in ("--queues", "--pool", "--concurrency", "--workers", "--graceful-timeout", "--timeout", "--port"):
            assert _option(unit_args, option) == _option(pod_args, option), (unit_name, option)


def _option(args: list[str], name: str) -> str | None:
    """The value of ``--name value`` or ``--name=value`` in a command line, None when absent."""
    for index, arg in enumerate(args):
        if arg == name:
            return args[index + 1]
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
    return None


def test_secrets_reach_the_services_only_as_credential_files():
    for unit in UNITS.glob("*.service"):
        settings = _settings(unit)
        file_settings = [entry for line in settings.get("Environment", []) for entry in line.split()]
        assert all(entry.split("=", 1)[0].endswith("_FILE") and "=%d/" in entry for entry in file_settings), unit.name
        credentials = {c.split(":", 1)[0] for c in settings.get("LoadCredential", [])}
        assert {entry.split("=%d/", 1)[1] for entry in file_settings} <= credentials, unit.name
