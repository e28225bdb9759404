"""The Celery app, configured from Django settings under the CELERY_ namespace (see settings.py)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "engage_sync.settings")

app = Celery("engage_sync")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Tasks are not per-app modules but the top-level tasks/ package, one module per queue.
app.conf.imports = ("tasks.maintenance", "tasks.mail", "tasks.verify", "tasks.sync", "tasks.dispatch")
