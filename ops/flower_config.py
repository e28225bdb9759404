"""Flower's configuration file (``celery -A engage_sync flower --conf=ops/flower_config.py``): credentials from the
environment or a file, never the command line, and no page of Flower without them.

Flower executes this file before it starts (tornado's config files are Python). It:

- takes the basic-auth credentials from ``FLOWER_BASIC_AUTH_FILE`` (a file of ``user:password`` lines, for
  Docker/Kubernetes secrets) or ``FLOWER_BASIC_AUTH`` (``user:password``, comma-separated for several; Flower
  reads that variable itself too), and refuses to start without either, so Flower is never open by mistake;
- puts ``/metrics`` and ``/healthcheck`` behind the same credentials: Flower 2.2 serves both to anyone even with
  basic auth on (their handlers skip the check every other page makes), and ``/metrics`` names every worker
  host and task. Prometheus scrapes it with ``basic_auth`` (deploy/README.md).

tests/test_flower.py starts a real Flower process as the Procfile does and checks all of this.
"""

import os
import sys
from pathlib import Path

import tornado.web
from flower.views import monitor


def _credentials() -> list[str]:
    path = os.environ.get("FLOWER_BASIC_AUTH_FILE")
    if path:
        return [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    return [item.strip() for item in os.environ.get("FLOWER_BASIC_AUTH", "").split(",") if item.strip()]


def _authenticated(handler_class) -> None:
    """Make the handler's GET check the credentials first (BaseHandler.get_current_user answers 401 without them)."""
    unguarded = handler_class.get

    async def get(self, *args, **kwargs):
        if not self.current_user:
            raise tornado.web.HTTPError(401)
        return await unguarded(self, *args, **kwargs)

    if not getattr(unguarded, "engage_guarded", False):
        get.engage_guarded = True
        handler_class.get = get


basic_auth = _credentials()
if not basic_auth or any(":" not in item for item in basic_auth):
    sys.exit("Flower needs its credentials: set FLOWER_BASIC_AUTH_FILE (a file of user:password lines) or "
             "FLOWER_BASIC_AUTH=user:password. They never go on the command line.")  # fmt: skip
_authenticated(monitor.Metrics)
_authenticated(monitor.Healthcheck)
