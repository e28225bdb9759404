"""JSON logs: every line a task emits says which task, mailbox and brokerage it came from, and never a secret."""

from __future__ import annotations

import io
import json
import logging
import time
import uuid

import pytest

from brokerages.models import Brokerage, Mailbox
from engage_sync.celery import app as celery_app
from engage_sync.logging_json import JsonFormatter, TaskContextFilter, current_context

CLIENT_SECRET = "Zx8Q~k3yV4lu3.fr0m-Entra_ID.abcdefghij12"  # shaped like a real Entra ID secret Value
ACCESS_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL291dGxvb2sifQ.c2lnbmF0dXJlLWJ5dGVz"
probe_log = logging.getLogger("tests.probe")


@celery_app.task(name="tests.test_logging.sync_probe")
def sync_probe(mailbox_id: int, lease_token: str) -> dict:
    """Stands in for a sync task: logs as domain code would, including a careless line with credentials in it."""
    mailbox = Mailbox.objects.select_related("brokerage").get(pk=mailbox_id)
    probe_log.info("sync: starting mailbox %s of %r", mailbox.email, mailbox.brokerage)
    probe_log.warning("careless: token %s secret %s", ACCESS_TOKEN, mailbox.brokerage.client_secret.reveal())
    try:
        raise RuntimeError(f"Authorization: Bearer {ACCESS_TOKEN}")
    except RuntimeError:
        probe_log.exception("request failed")
    return current_context()


def make_mailbox() -> Mailbox:
    domain = f"{uuid.uuid4().hex[:8]}.example"
    brokerage = Brokerage.objects.create(
        name="Harbor Homes", tenant_id=uuid.uuid4(), client_id=uuid.uuid4(), client_secret=CLIENT_SECRET,
        test_mailbox=f"test@{domain}", email_domains=[domain], status=Brokerage.Status.ACTIVE,
    )  # fmt: skip
    return Mailbox.objects.create(brokerage=brokerage, email=f"ann@{domain}")


@pytest.fixture
def json_lines():
    """Everything logged to the root logger during the test, formatted as production's JSON handler does."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(TaskContextFilter())
    logging.getLogger().addHandler(handler)
    probe_log.setLevel(logging.INFO)  # the test worker sets the root level to ERROR
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logging.getLogger().removeHandler(handler)


def test_lines_logged_inside_a_task_on_a_real_worker_carry_task_mailbox_and_brokerage_ids(celery_worker, json_lines, settings):
    # Given JSON logs and a mailbox whose brokerage holds a client secret
    settings.LOG_FORMAT = "json"
    mailbox = make_mailbox()

    # When a real worker runs a task for the mailbox
    result = sync_probe.apply_async(args=[mailbox.pk, str(uuid.uuid4())], ignore_result=False)
    context = result.get(timeout=30)
    probe_log.info("after the task")  # outside any task

    # Then each line from inside the task names the task, the mailbox and its brokerage
    lines = json_lines()
    inside = [line for line in lines if line.get("logger") == "tests.probe" and line["message"] != "after the task"]
    assert len(inside) == 3
    for line in inside:
        assert line["task_id"] == result.id
        assert line["mailbox_id"] == mailbox.pk
        assert line["brokerage_id"] == mailbox.brokerage_id
        assert line["task_name"] == "tests.test_logging.sync_probe"
    assert context["task_id"] == result.id
    # ... a line outside the task carries none, so a thread's next task cannot inherit them
    (after,) = [line for line in lines if line.get("message") == "after the task"]
    assert "task_id" not in after and "mailbox_id" not in after
    # ... and no line carries the secret or the token, even the careless one and the traceback
    text = "\n".join(json.dumps(line) for line in lines)
    assert CLIENT_SECRET not in text and ACCESS_TOKEN not in text
    assert "careless: token [redacted] secret [redacted]" in text
    assert "RuntimeError: Authorization: Bearer [redacted]" in inside[2]["exception"]


@pytest.mark.worker
def test_a_worker_process_with_log_format_json_writes_the_sync_tasks_lines_with_its_ids(worker_process):
    # Given a worker process started with LOG_FORMAT=json, and a mailbox whose lease is not the task's
    mailbox = make_mailbox()
    worker = worker_process(queues="sync", extra_env={"LOG_FORMAT": "json"})

    # When a late duplicate of the real sync task arrives (its fencing token is stale: it must do nothing)
    task_id = celery_app.send_task("tasks.sync.sync_mailbox", args=[mailbox.pk, str(uuid.uuid4())]).id

    # Then the worker's lines are JSON, and the sync's own line names the task, the mailbox and the brokerage
    deadline = time.monotonic() + 60
    said = []
    while not said and time.monotonic() < deadline:
        time.sleep(0.2)
        lines = [json.loads(raw) for raw in worker.log_path.read_text().splitlines() if raw.startswith("{")]
        said = [line for line in lines if line.get("logger") == "scheduling.runs" and "not ours" in line["message"]]
    assert said, worker.log_path.read_text()[-3000:]
    assert said[0]["task_id"] == task_id and said[0]["task_name"] == "tasks.sync.sync_mailbox"
    assert (said[0]["mailbox_id"], said[0]["brokerage_id"]) == (mailbox.pk, mailbox.brokerage_id)
    assert any(line["message"].endswith(" ready.") for line in lines)
    assert CLIENT_SECRET not in worker.log_path.read_text()


def test_the_fleet_tasks_arguments_name_their_mailbox_email_or_brokerage():
    """The context comes from parameter names: the sync, mail and verify tasks must keep naming them so."""
    from engage_sync.logging_json import _ids_in_arguments

    celery_app.loader.import_default_modules()
    tasks = celery_app.tasks
    assert _ids_in_arguments(tasks["tasks.sync.sync_mailbox"], [42, "lease"], {}) == {"mailbox_id": 42}
    assert _ids_in_arguments(tasks["tasks.mail.send_email"], ["0b7c"], {}) == {"email_id": "0b7c"}
    assert _ids_in_arguments(tasks["tasks.verify.verify_brokerage"], [7], {"run_id": 9}) == {"brokerage_id": 7}
