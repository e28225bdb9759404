"""JSON log lines that say which task, mailbox and brokerage they came from (LOG_FORMAT=json).

Celery's task_prerun signal binds the running task's id and the ids among its arguments (parameters named
``mailbox_id``, ``brokerage_id``, ``email_id``) to a context variable; TaskContextFilter copies them onto
every record emitted while the task runs, in whichever module; task_postrun clears them. A context variable
is per thread (and per greenlet), so the threads of one worker never mix their tasks' ids.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from celery.signals import task_postrun, task_prerun
from django.conf import settings

CONTEXT_FIELDS = ("task_id", "task_name", "brokerage_id", "mailbox_id", "email_id")
_ID_PARAMETERS = ("mailbox_id", "brokerage_id", "email_id")
_context: ContextVar[dict[str, Any]] = ContextVar("engage_log_context", default={})  # noqa: B039  (never mutated)

# Last line of defence for invariant 1: whatever slipped into a message, these shapes never leave the process.
_SECRET_SHAPES = (
    re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),  # a JWT (an access token)
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"),  # an Authorization header's value
    re.compile(r"[A-Za-z0-9_.-]{3}Q~[A-Za-z0-9_.~-]{31,37}"),  # an Entra ID client secret Value
    re.compile(r"(?i)(client_secret|password|client_assertion)=[^&\s\"']+"),  # form-encoded credentials
)


def redact(text: str) -> str:
    """The text with anything shaped like a token or a client secret replaced by [redacted]."""
    for shape in _SECRET_SHAPES:
        text = shape.sub("[redacted]", text)
    return text


def current_context() -> dict[str, Any]:
    """The ids bound for the task running in this thread (empty outside a task)."""
    return dict(_context.get())


class TaskContextFilter(logging.Filter):
    """Adds the running task's ids to each record (None outside a task), so any formatter can show them."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = _context.get()
        for name in CONTEXT_FIELDS:
            if not hasattr(record, name):
                setattr(record, name, context.get(name))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, the task context, the exception if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


def _ids_in_arguments(task, args, kwargs) -> dict[str, Any]:
    try:
        bound = inspect.signature(task.run).bind_partial(*(args or ()), **(kwargs or {}))
    except (TypeError, ValueError):
        return {}
    return {name: bound.arguments[name] for name in _ID_PARAMETERS if bound.arguments.get(name) is not None}


def _owning_brokerage(ids: dict[str, Any]) -> dict[str, Any]:
    """The brokerage (and mailbox) behind a mailbox or email id: one primary-key lookup, only for JSON logs."""
    from django.db import DatabaseError

    from brokerages.models import Mailbox
    from outbox.models import OutgoingEmail

    try:
        if "mailbox_id" in ids:
            brokerage_id = Mailbox.objects.filter(pk=ids["mailbox_id"]).values_list("brokerage_id", flat=True).first()
            return {"brokerage_id": brokerage_id} if brokerage_id else {}
        if "email_id" in ids:
            row = OutgoingEmail.objects.filter(pk=ids["email_id"]).values("mailbox_id", "mailbox__brokerage_id").first()
            return {"mailbox_id": row["mailbox_id"], "brokerage_id": row["mailbox__brokerage_id"]} if row else {}
    except (DatabaseError, ValueError):  # a malformed id or a database hiccup must never fail the task
        return {}
    return {}


@task_prerun.connect(dispatch_uid="engage_sync.logging_json.bind")
def bind_task_context(task_id=None, task=None, args=None, kwargs=None, **_) -> None:
    context: dict[str, Any] = {"task_id": task_id, "task_name": getattr(task, "name", None)}
    ids = _ids_in_arguments(task, args, kwargs) if task is not None else {}
    context.update(ids)
    if ids and "brokerage_id" not in ids and getattr(settings, "LOG_FORMAT", "plain") == "json":
        context.update(_owning_brokerage(ids))
    _context.set(context)


@task_postrun.connect(dispatch_uid="engage_sync.logging_json.clear")
def clear_task_context(**_) -> None:
    _context.set({})
