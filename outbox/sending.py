"""Sending one outgoing email through the agent's own mailbox, exactly once.

The steps, each recorded on the row before the next begins (``phase``):
  claim (conditional UPDATE, with a lease) → create a draft tagged with our id → take a pacing slot →
  send the draft with a copy in Sent Items → mark sent.
An attempt that finds the row already tried (a crash, a redelivery, a timeout after the server acted)
never sends blindly: it first asks the mailbox what happened, by our tag — already in Sent Items (mark
sent), still a draft (send that draft), nothing (create again, unless a send may still be in transit).
Every write after the claim is fenced by the lease token, so a late duplicate attempt cannot overwrite
the row of the attempt that replaced it.
"""

from __future__ import annotations

import contextlib
import logging
import random
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from brokerages.models import Mailbox
from engage_sync.failpoints import failpoint
from mailboxes.errors import ConflictError, GatewayError, ItemNotFound, Throttled, UnknownFailure
from mailboxes.gateway import ItemRef, SentMessage
from mailboxes.items import MessageFolder, OutgoingAttachment, OutgoingMessage

from .models import OutgoingEmail

log = logging.getLogger(__name__)


Status = OutgoingEmail.Status
Phase = OutgoingEmail.Phase


class LeaseLost(Exception):
    """Another attempt took over this row (our lease expired); stop without touching it."""


def send(email_id: str, gateway_for: Callable[[Mailbox], Any]) -> str:
    """Run one attempt for the email; returns the outcome (sent, paced, retry, failed, not_claimed, ...)."""
    email = claim(email_id)
    if email is None:
        return "not_claimed"
    gateway = gateway_for(email.mailbox)
    try:
        if email.attempts > 1 or email.phase != Phase.NEW or email.last_error_class:  # tried before
            outcome = _reconcile(email, gateway)
            if outcome is not None:
                return outcome
        # Pacing comes first, so an email waiting for its slot has created nothing in the mailbox yet.
        if not _take_send_slot(email):
            return "paced"
        if email.phase == Phase.NEW:
            draft = gateway.create_draft(email.mailbox.email, _message_of(email), tag=str(email.pk))
            failpoint("outbox.after_create")
            _update(email, phase=Phase.DRAFT_CREATED, draft_id=draft.item_id, draft_version=draft.version)
        _update(email, phase=Phase.SEND_REQUESTED, send_requested_at=timezone.now())
        failpoint("outbox.before_send")
        gateway.send_draft(email.mailbox.email, ItemRef(email.draft_id, email.draft_version))
        failpoint("outbox.after_send")
        _mark_sent(email, remote_message_id=email.draft_id)
        return "sent"
    except LeaseLost:
        log.warning("outbox: lease on email %s was taken over; this attempt stops", email_id)
        return "lease_lost"
    except GatewayError as error:
        return _after_error(email, error)


def claim(email_id: str) -> OutgoingEmail | None:
    """Take the row for one attempt: due and queued, or sending under an expired lease. None if not ours."""
    now = timezone.now()
    claimable = Q(status=Status.QUEUED, not_before__lte=now) | Q(status=Status.SENDING, lease_expires_at__lt=now)
    token = uuid.uuid4()
    claimed = (
        OutgoingEmail.objects.filter(claimable, pk=email_id)
        .update(status=Status.SENDING, lease_token=token, lease_expires_at=now + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS),
                attempts=F("attempts") + 1, updated_at=now)
    )  # fmt: skip
    if claimed != 1:
        return None
    return OutgoingEmail.objects.select_related("mailbox__brokerage").prefetch_related("attachments").get(pk=email_id)


def _reconcile(email: OutgoingEmail, gateway: Any) -> str | None:
    """Find out, by our tag, what an earlier attempt did; None means carry on from the (corrected) phase."""
    mailbox, tag = email.mailbox.email, str(email.pk)
    sent = gateway.find_messages_by_tag(mailbox, MessageFolder.SENT, tag)
    if sent:
        _mark_sent(email, remote_message_id=sent[0].ref.item_id)
        return "sent"
    drafts = _complete_drafts(email, gateway, gateway.find_messages_by_tag(mailbox, MessageFolder.DRAFTS, tag))
    if drafts:
        # Extra drafts can only come from a create whose answer was lost; one is sent, the rest never are.
        _update(email, phase=Phase.DRAFT_CREATED, draft_id=drafts[0].ref.item_id, draft_version=drafts[0].ref.version)
        return None
    grace = timedelta(seconds=settings.OUTBOX_IN_TRANSIT_GRACE_SECONDS)
    in_transit = (
        email.phase == Phase.SEND_REQUESTED and email.send_requested_at and timezone.now() - email.send_requested_at < grace
    )
    if in_transit:
        # The server may still be moving the sent message to Sent Items; look again later, never resend now.
        _release(email, not_before=(email.send_requested_at or timezone.now()) + grace)
        return "in_transit"
    _update(email, phase=Phase.NEW, draft_id="", draft_version="")
    return None


def _complete_drafts(email: OutgoingEmail, gateway: Any, drafts: list[SentMessage]) -> list[SentMessage]:
    """The tagged drafts that carry every attachment of the email; the others are deleted, never sent.

    Our EWS drafts are created with their attachments in one CreateItem, so an incomplete one should not exist;
    but a backend that attaches after creating (Graph upload sessions) or a hand in Outlook could leave one, and
    sending it would be a wrong email that can never be taken back.
    """
    expected = sorted(a.filename for a in email.attachments.all())
    complete = [d for d in drafts if sorted(d.attachment_names) == expected]
    for draft in drafts:
        if draft in complete:
            continue
        log.warning("outbox: email %s: deleting a tagged draft with attachments %s instead of %s",
                    email.pk, list(draft.attachment_names), expected)  # fmt: skip
        # Gone already, or changed under us: either way it is not the one we send.
        with contextlib.suppress(ItemNotFound, ConflictError):
            gateway.delete_item(email.mailbox.email, draft.ref)
    return complete


def _take_send_slot(email: OutgoingEmail) -> bool:
    """Reserve one of the mailbox's sends in the pacing window (Exchange Online: 30 a minute), or requeue."""
    window = timedelta(seconds=settings.OUTBOX_PACING_WINDOW_SECONDS)
    limit = settings.OUTBOX_SENDS_PER_MINUTE
    with transaction.atomic():
        # The mailbox row lock serialises pacing decisions for one mailbox across every worker.
        Mailbox.objects.select_for_update().filter(pk=email.mailbox_id).values_list("pk", flat=True).get()
        now = timezone.now()
        recent = list(
            OutgoingEmail.objects.filter(mailbox_id=email.mailbox_id, send_slot_at__gt=now - window)
            .exclude(pk=email.pk).order_by("send_slot_at").values_list("send_slot_at", flat=True)
        )
        if len(recent) >= limit:
            free_at = recent[len(recent) - limit] + window
            _release(email, not_before=free_at, attempts=F("attempts") - 1)  # waiting is not a failed attempt
            return False
        _update(email, send_slot_at=now)
    return True


def _after_error(email: OutgoingEmail, error: GatewayError) -> str:
    fields = {"last_error_class": error.kind, "last_error_message": str(error)[:2000], "last_error_remedy": getattr(error, "remedy", "")}
    if error.permanent:
        log.warning("outbox: email %s failed permanently: %s", email.pk, error.kind)
        _update(email, status=Status.FAILED, lease_token=None, lease_expires_at=None, **fields)
        return "failed"
    if email.attempts >= settings.OUTBOX_MAX_ATTEMPTS:
        gave_up = UnknownFailure(f"gave up after {email.attempts} attempts; last: {error}")
        fields.update(last_error_message=str(gave_up)[:2000], last_error_remedy=(
            f"{fields['last_error_remedy']} After it is fixed, use the admin's \"Retry\" action on this email.").strip())
        _update(email, status=Status.FAILED, lease_token=None, lease_expires_at=None, **fields)
        return "failed"
    if isinstance(error, Throttled):
        delay = error.back_off_seconds
    else:
        # Exponential back-off with jitter, capped low: an email is a listing alert someone waits for, so once the
        # fault clears it should leave within a minute or two, not after a half-hour back-off has run out.
        delay = min(30 * 2 ** (email.attempts - 1), settings.OUTBOX_MAX_BACKOFF_SECONDS) * random.uniform(0.8, 1.2)
    _release(email, not_before=timezone.now() + timedelta(seconds=delay), **fields)
    return "retry"


def _message_of(email: OutgoingEmail) -> OutgoingMessage:
    return OutgoingMessage(
        subject=email.subject, body=email.html_body or email.text_body, body_is_html=bool(email.html_body),
        to=tuple(email.to), cc=tuple(email.cc), bcc=tuple(email.bcc), reply_to=tuple(email.reply_to),
        attachments=tuple(
            OutgoingAttachment(a.filename, a.content_type, bytes(a.content))
            for a in sorted(email.attachments.all(), key=lambda a: a.pk)  # the order the CRM gave them
        ),
    )  # fmt: skip


def _mark_sent(email: OutgoingEmail, *, remote_message_id: str) -> None:
    _update(email, status=Status.SENT, sent_at=timezone.now(), remote_message_id=remote_message_id,
            lease_token=None, lease_expires_at=None, last_error_class="", last_error_message="", last_error_remedy="")  # fmt: skip


def _release(email: OutgoingEmail, *, not_before, **fields) -> None:
    """Back to the queue, due at ``not_before``; the sweep publishes it then."""
    _update(email, status=Status.QUEUED, not_before=not_before, lease_token=None, lease_expires_at=None,
            enqueued_at=None, **fields)  # fmt: skip


def _update(email: OutgoingEmail, **fields) -> None:
    """Write fields only while we still hold the lease; raise LeaseLost otherwise."""
    fields["updated_at"] = timezone.now()
    if OutgoingEmail.objects.filter(pk=email.pk, lease_token=email.lease_token).update(**fields) != 1:
        raise LeaseLost(str(email.pk))
    for name, value in fields.items():
        if not hasattr(value, "resolve_expression"):
            setattr(email, name, value)
