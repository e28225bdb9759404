"""The deployments hand every secret over as a file named by NAME_FILE (deploy/kubernetes, deploy/systemd): a
process reads it from there, and one whose file is missing stops at start, naming the setting."""

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PRINT_SETTINGS = "import django; django.setup(); from django.conf import settings as s; print(s.DATABASES['default']['NAME'], s.CELERY_BROKER_URL)"


def _start(env: dict[str, str]) -> subprocess.CompletedProcess:
    """A process loading the production settings module (as every deployed process does) with this environment."""
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    return subprocess.run([sys.executable, "-c", PRINT_SETTINGS], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
                          env={**base, "DJANGO_SETTINGS_MODULE": "engage_sync.settings", "DJANGO_SECRET_KEY": "k", **env})  # fmt: skip


def test_settings_are_read_from_the_files_the_file_variables_name(tmp_path):
    # Given the database and broker URLs only as files, as the Secret volume or systemd credentials hold them
    (tmp_path / "database-url").write_text("postgres://app:s3cret@db.internal:5432/engage_prod\n", encoding="utf-8")
    (tmp_path / "broker-url").write_text("amqp://app:s3cret@mq.internal:5672/engage", encoding="utf-8")
    done = _start({"DATABASE_URL_FILE": str(tmp_path / "database-url"), "CELERY_BROKER_URL_FILE": str(tmp_path / "broker-url")})
    # Then the process runs with their contents
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["engage_prod", "amqp://app:s3cret@mq.internal:5672/engage"]


def test_a_process_whose_secret_file_is_missing_stops_at_start_naming_the_setting(tmp_path):
    done = _start({"DATABASE_URL_FILE": str(tmp_path / "not-mounted")})
    assert done.returncode != 0
    assert "DATABASE_URL_FILE" in done.stderr and "cannot be read" in done.stderr
