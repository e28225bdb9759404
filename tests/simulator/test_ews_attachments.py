"""Attachments and Reply-To through the real exchangelib against the (strict) simulator: created with the draft in
one CreateItem, or added later with CreateAttachment; read back, fetched, sent byte-exact, logged with hashes."""

from __future__ import annotations

import hashlib

from exchangelib import FileAttachment, Mailbox, Message

from .ews_exchangelib_support import exchange_account

BROCHURE = b"%PDF-1.7\n" + bytes(range(256)) * 40  # every byte value, so an encoding slip would show
PLAN = b"\x89PNG\r\n\x1a\n" + b"\x00\xff" * 3000


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_draft_saved_with_attachments_and_reply_to_keeps_them_and_sends_them_byte_exact(simulator, sim_tenant):
    # given an agent's mailbox
    tenant = sim_tenant()
    account = exchange_account(tenant)

    # when the product saves a draft with two file attachments and a reply-to (one CreateItem), then sends it
    draft = Message(account=account, folder=account.drafts, subject="Brochure", body="Attached",
                    to_recipients=[Mailbox(email_address="buyer@client.example")],
                    reply_to=[Mailbox(email_address="office@agency.example")],
                    attachments=[FileAttachment(name="brochure.pdf", content_type="application/pdf", content=BROCHURE),
                                 FileAttachment(name="plan.png", content_type="image/png", content=PLAN)])
    draft.save()

    # then the draft holds both (ids answered with the item), with their sizes and the reply-to
    assert all(a.attachment_id is not None for a in draft.attachments)
    stored = account.drafts.get(id=draft.id)
    assert stored.has_attachments is True
    assert [(a.name, a.content_type, a.size) for a in stored.attachments] == [
        ("brochure.pdf", "application/pdf", len(BROCHURE)), ("plan.png", "image/png", len(PLAN))]
    assert [a.content for a in stored.attachments] == [BROCHURE, PLAN]  # GetAttachment
    assert [r.email_address for r in stored.reply_to] == ["office@agency.example"]

    # and when it is sent, the outbound log and the copy in Sent Items carry the same bytes and the reply-to
    stored.send()
    (sent,) = simulator.outbound(tenant.mailboxes[0])
    assert sent["attachments"] == [
        {"name": "brochure.pdf", "content_type": "application/pdf", "size": len(BROCHURE), "sha256": _sha(BROCHURE)},
        {"name": "plan.png", "content_type": "image/png", "size": len(PLAN), "sha256": _sha(PLAN)}]
    assert [p["email"] for p in sent["reply_to"]] == ["office@agency.example"]
    (copy,) = account.sent.all()
    assert [a.content for a in copy.attachments] == [BROCHURE, PLAN]


def test_create_attachment_adds_to_a_saved_draft_and_changes_its_change_key(simulator, sim_tenant):
    # given a draft saved without attachments
    tenant = sim_tenant()
    account = exchange_account(tenant)
    draft = Message(account=account, folder=account.drafts, subject="Later", body="x", to_recipients=["b@client.example"])
    draft.save()
    before = draft.changekey

    # when an attachment is added to the saved draft (exchangelib calls CreateAttachment)
    draft.attach(FileAttachment(name="offer.pdf", content_type="application/pdf", content=BROCHURE))

    # then the draft has it and a new change key, and sending it sends the attachment
    assert draft.changekey != before
    stored = account.drafts.get(id=draft.id)
    assert stored.changekey == draft.changekey
    assert [(a.name, a.size) for a in stored.attachments] == [("offer.pdf", len(BROCHURE))]
    stored.send()
    (sent,) = simulator.outbound(tenant.mailboxes[0])
    assert [(a["name"], a["sha256"]) for a in sent["attachments"]] == [("offer.pdf", _sha(BROCHURE))]
    assert sent["reply_to"] == []
