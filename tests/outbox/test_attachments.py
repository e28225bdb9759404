"""Attachments and Reply-To reach the client: byte-exact, once, never on an incomplete message.

Against the simulator with real workers; the outbound log's SHA-256 of each attachment is compared with the
bytes the CRM posted.
"""

import base64
import hashlib

import pytest

from outbox import publishing
from outbox.models import OutgoingAttachment, OutgoingEmail
from tests.fixtures.crm import BACKENDS

from .test_sending import _queue, _sent_once, _wait_until_sent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.parametrize("backend", BACKENDS)]

BROCHURE = b"%PDF-1.7\n" + bytes(range(256)) * 64  # every byte value: an encoding slip would change the hash
FLOOR_PLAN = b"\x89PNG\r\n\x1a\n" + b"\x00\xff\x10" * 5000
FILES = [("brochure.pdf", "application/pdf", BROCHURE), ("floor plan.png", "image/png", FLOOR_PLAN)]


def _expected_attachments() -> list[dict]:
    return [{"name": name, "content_type": kind, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            for name, kind, data in FILES]  # fmt: skip


def _queue_with_files(mailbox, key: str) -> OutgoingEmail:
    email = _queue(mailbox, key=key, reply_to=["office@agency.example"])
    for name, kind, data in FILES:
        OutgoingAttachment.objects.create(email=email, filename=name, content_type=kind, content=data, size=len(data))
    return email


def _outbound_of(simulator, mailbox, email) -> list[dict]:
    return [m for m in simulator.outbound(mailbox.email) if m["subject"] == email.subject]


def test_two_attachments_and_a_reply_to_posted_to_the_api_arrive_byte_exact(sim_mailbox, simulator, celery_worker, crm_client):
    # Given a real worker, when the CRM posts an email with two attachments and a reply-to address
    payload = {
        "idempotency_key": "brochure-1", "to": ["buyer@client.example"], "reply_to": ["office@agency.example"],
        "subject": "The brochure you asked for", "text_body": "Attached: brochure and floor plan.",
        "attachments": [{"filename": name, "content_type": kind, "content_base64": base64.b64encode(data).decode()}
                        for name, kind, data in FILES],
    }  # fmt: skip
    response = crm_client.post(f"/api/mailboxes/{sim_mailbox.pk}/emails/", payload, format="json")
    assert response.status_code == 201, response.content
    email = _wait_until_sent(OutgoingEmail.objects.get(pk=response.json()["id"]))
    # Then one message left the agent's mailbox carrying both files, byte for byte, and the reply-to
    _sent_once(simulator, sim_mailbox, email)
    (sent,) = _outbound_of(simulator, sim_mailbox, email)
    assert sent["attachments"] == _expected_attachments()
    assert [p["email"] for p in sent["reply_to"]] == ["office@agency.example"]
    # And the copy in Sent Items has them too
    (copy,) = [i for i in simulator.list_items(sim_mailbox.email, "sentitems") if i["fields"]["subject"] == email.subject]
    assert [a["sha256"] for a in copy["fields"]["attachments"]] == [a["sha256"] for a in _expected_attachments()]


def test_a_worker_killed_after_creating_the_draft_sends_it_once_with_every_attachment(sim_mailbox, simulator, worker_process):
    # Given a worker that is SIGKILLed right after the draft (with its attachments) was created
    doomed = worker_process(queues="mail", failpoints="outbox.after_create=kill", extra_env={"OUTBOX_LEASE_SECONDS": "2"})
    email = _queue_with_files(sim_mailbox, "killed-after-create")
    publishing.publish_send_on_commit(email)
    doomed.process.wait(timeout=60)
    assert doomed.process.returncode == -9
    # When a healthy worker takes over after the lease expires
    worker_process(queues="mail")
    email = _wait_until_sent(email, sweep=True)
    # Then the reconciler found the complete draft and sent it: one message, both files intact
    _sent_once(simulator, sim_mailbox, email)
    (sent,) = _outbound_of(simulator, sim_mailbox, email)
    assert sent["attachments"] == _expected_attachments()
    assert [p["email"] for p in sent["reply_to"]] == ["office@agency.example"]


def test_a_tagged_draft_that_lacks_its_attachments_is_never_sent(sim_mailbox, simulator, worker_process, backend):
    # Given a worker killed right after creating the draft, and the draft then lacking its attachments — what a
    # create-then-attach client (Graph upload sessions) killed between the two steps leaves behind
    doomed = worker_process(queues="mail", failpoints="outbox.after_create=kill", extra_env={"OUTBOX_LEASE_SECONDS": "2"})
    email = _queue_with_files(sim_mailbox, "draft-without-files")
    publishing.publish_send_on_commit(email)
    doomed.process.wait(timeout=60)
    assert doomed.process.returncode == -9
    (draft,) = [i for i in simulator.list_items(sim_mailbox.email, "drafts") if i["fields"]["subject"] == email.subject]
    simulator.user_update(sim_mailbox.email, draft["id"], {"attachments": []})
    # When a healthy worker reconciles the row
    worker_process(queues="mail")
    email = _wait_until_sent(email, sweep=True)
    # Then the incomplete draft was deleted, not sent; a complete one was created and sent, once
    _sent_once(simulator, sim_mailbox, email)
    (sent,) = _outbound_of(simulator, sim_mailbox, email)
    assert sent["attachments"] == _expected_attachments()
    assert all(m["attachments"] for m in simulator.outbound(sim_mailbox.email))
    assert email.remote_message_id != (draft["immutable_id"] if backend == "graph" else draft["id"])
