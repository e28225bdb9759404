"""Production settings pass Django's deployment checklist, and HTTPS behind a TLS proxy works as documented."""

import os
import subprocess
import sys

import pytest
from django.test import override_settings

from tests.conftest import PROJECT_ROOT


def _deploy_check(**env: str) -> subprocess.CompletedProcess:
    kept = {name: os.environ[name] for name in ("PATH", "HOME", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL") if name in os.environ}
    production = {
        **kept,
        "DJANGO_SETTINGS_MODULE": "engage_sync.settings",
        "DJANGO_SECRET_KEY": "k" + "9Zq3-x_Lm7Pw2Rt5Yv8Bn4Hc6Jd1Gf0Sa" * 2,
        "ENGAGE_ENCRYPTION_KEYS": "yFk2D0m5pa3Wq1YwQn9gqfFQe1Y2mXx0V8oQ1cR9s2E=",
        "ALLOWED_HOSTS": "sync.example.com",
        **env,
    }
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                          cwd=PROJECT_ROOT, env=production, capture_output=True, text=True, timeout=120)  # fmt: skip


def test_the_deploy_check_passes_with_the_production_defaults():
    result = _deploy_check()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_the_deploy_check_passes_behind_a_tls_proxy_as_deploy_readme_configures_it():
    result = _deploy_check(SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto", TRUSTED_PROXY_COUNT="1",
                           CSRF_TRUSTED_ORIGINS="https://sync.example.com")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_switching_hsts_off_is_reported_by_the_deploy_check():
    result = _deploy_check(SECURE_HSTS_SECONDS="0")
    assert result.returncode != 0
    assert "security.W004" in result.stdout + result.stderr


HTTPS_BEHIND_PROXY = {"SECURE_SSL_REDIRECT": True, "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
                      "SECURE_HSTS_SECONDS": 31536000, "SECURE_REDIRECT_EXEMPT": ["^metrics$"]}  # fmt: skip


@pytest.mark.django_db
@override_settings(**HTTPS_BEHIND_PROXY)
def test_behind_the_proxy_https_requests_are_served_with_hsts_and_plain_http_redirected(client):
    served = client.get("/admin/login/", HTTP_X_FORWARDED_PROTO="https")
    assert served.status_code == 200
    assert served["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    redirected = client.get("/admin/login/")
    assert (redirected.status_code, redirected["Location"]) == (301, "https://testserver/admin/login/")


@override_settings(**HTTPS_BEHIND_PROXY, METRICS_TOKEN="")
def test_metrics_are_not_redirected_so_an_internal_scrape_over_http_works(client):
    assert client.get("/metrics").status_code == 404  # off without a token: answered, not redirected to https
