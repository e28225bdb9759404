"""Submitting mail through Graph: Exchange Online's per-mailbox send limit and the store's one outbound log.

The log entry is written from the same fields, in the same way, as the EWS part's SendItem/CreateItem(Send) path
(``ews.operations.sending.send_message``): a message-id on the mailbox's domain, the mailbox as sender, the send
time, read and no longer a draft; so a test reading "the mail that left" cannot tell which protocol sent it.
"""

from __future__ import annotations

import uuid
from typing import Any

from simulator.mailstore.records import now_utc

from .wire import GraphError, GraphRequest

# Exchange Online's sending limit (30 messages a minute per mailbox, faults.DEFAULT_SENDS_PER_MINUTE) answered
# the way Graph answers any throttling: 429 with Retry-After in seconds and the throttling body of
# concepts/throttling.md; nothing is submitted, so the client may retry the same send safely.
SEND_LIMIT_RETRY_AFTER_SECONDS = 60


def send_throttled(retry_after_seconds: float) -> GraphError:
    seconds = f"{retry_after_seconds:g}"
    return GraphError(429, "TooManyRequests", "Please retry again later.", {"Retry-After": seconds})


def take_send_slot(request: GraphRequest) -> None:
    """Claim one submission in the mailbox's per-minute budget, or raise 429 (the send_limit fault forces it)."""
    fault = request.fault
    if fault is not None and fault.kind == "send_limit":
        raise send_throttled(fault.back_off_ms / 1000)
    if not request.world.faults.take_send_slot(request.address):
        raise send_throttled(SEND_LIMIT_RETRY_AFTER_SECONDS)


def require_recipients(fields: dict[str, Any]) -> None:
    """Exchange refuses to submit a message nobody would receive."""
    if not any(fields.get(kind) for kind in ("to", "cc", "bcc")):
        raise GraphError(400, "ErrorInvalidRecipients",
                         "At least one recipient is not valid., A message can't be sent because it contains no "
                         "recipients.")


def submitted_fields(request: GraphRequest, fields: dict[str, Any]) -> dict[str, Any]:
    """The message's fields as sent: what the outbound log records and the Sent Items copy keeps."""
    mailbox = request.world.mailstore.mailbox(request.address)
    sent = dict(fields)
    sent.setdefault("internet_message_id", f"<{uuid.uuid4().hex}@{mailbox.address.split('@')[-1]}>")
    sent["from"] = sent.get("from") or {"email": mailbox.address, "name": mailbox.display_name}
    sent["sent_at"] = now_utc().strftime("%Y-%m-%dT%H:%M:%SZ")
    sent["is_read"] = True
    sent["is_draft"] = False
    return sent


def record(request: GraphRequest, sent: dict[str, Any], extended: dict[str, Any]) -> dict[str, Any]:
    """Append the sent message to the store's outbound log (shared with EWS) and return the entry."""
    return request.world.mailstore.record_sent(request.address, sent, extended)
