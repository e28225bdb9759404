"""Settings for the test suite: the real settings module, with test defaults for what it requires.

Only defaults are set here: a value exported in the environment (another DATABASE_URL, say) wins.
The services are the real ones (PostgreSQL, RabbitMQ, Redis), as in production.
"""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-not-for-production")
# Two fixed test keys (newest first), so rotation can be exercised; never used outside tests.
os.environ.setdefault(
    "ENGAGE_ENCRYPTION_KEYS",
    "yFk2D0m5pa3Wq1YwQn9gqfFQe1Y2mXx0V8oQ1cR9s2E=,ZmFrZS1vbGQta2V5LWZvci10ZXN0cy0wMTIzNDU2Nzg=",
)
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/1")
# Credential saves publish no verification unless a test asks (tests/brokerages/test_verification*.py do).
os.environ.setdefault("VERIFY_ON_CREDENTIAL_CHANGE", "0")
# Bursts and the API fuzz stay under the rate limit; tests/api/test_rate_limits.py sets its own low rate.
os.environ.setdefault("API_RATE_LIMIT", "100000/minute")
# The test client speaks plain HTTP; tests/test_deploy_settings.py checks the production defaults.
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")

from engage_sync.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; tests only
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# WhiteNoise serves collected static files; tests collect none, so leave it out rather than warn.
MIDDLEWARE = [entry for entry in MIDDLEWARE if "whitenoise" not in entry]  # noqa: F405
