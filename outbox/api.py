"""The CRM's outbox API: queue an email to send through an agent's mailbox, and read its status.

Every request needs an API key with email:send (POST) or email:status (GET) that reaches the mailbox (apikeys/).
POST is idempotent per (mailbox, idempotency key): the same key returns the first request's record and
never queues a second email; the same key with a different request is refused (409).
"""

from __future__ import annotations

import base64
import binascii
import re

from django.conf import settings
from django.db import IntegrityError, transaction
from rest_framework import generics, serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from apikeys.models import Permission
from apikeys.scope import get_in_scope, scoped_mailbox
from brokerages.models import Mailbox
from engage_sync.api.fields import HeaderCharField, HeaderEmailField, StrictCharField
from engage_sync.idempotency import request_fingerprint

from .models import OutgoingAttachment, OutgoingEmail
from .publishing import publish_send_on_commit

MAX_ATTACHMENTS = 20
MAX_RECIPIENTS = 500  # Exchange Online's per-message recipient limit
_UNSAFE_FILENAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')


class AttachmentSerializer(serializers.Serializer):
    # Header-bound (Content-Disposition, Content-Type): no control characters, text only (engage_sync/api/fields.py)
    filename = HeaderCharField(max_length=255)
    content_type = HeaderCharField(max_length=255, default="application/octet-stream")
    content_base64 = StrictCharField(write_only=True, trim_whitespace=False)
    size = serializers.IntegerField(read_only=True)

    def validate_filename(self, value: str) -> str:
        if _UNSAFE_FILENAME.search(value) or value.strip(". ") == "":
            raise serializers.ValidationError("A file name without path separators or control characters.")
        return value

    def validate(self, attrs: dict) -> dict:
        try:
            content = base64.b64decode(attrs.pop("content_base64"), validate=True)
        except (binascii.Error, ValueError):
            raise serializers.ValidationError({"content_base64": "Not valid base64."}) from None
        if len(content) > settings.OUTBOX_MAX_ATTACHMENT_BYTES:
            raise serializers.ValidationError(
                {"content_base64": f"{len(content)} bytes is over the {settings.OUTBOX_MAX_ATTACHMENT_BYTES}-byte limit per attachment."}
            )
        attrs["content"] = content
        return attrs


class OutgoingEmailSerializer(serializers.ModelSerializer):
    attachments = AttachmentSerializer(many=True, required=False)
    idempotency_key = HeaderCharField(max_length=200)
    # Header-bound fields refuse CR, LF and every other control character; all text fields take only strings.
    subject = HeaderCharField(max_length=255, required=False, allow_blank=True)
    to = serializers.ListField(child=HeaderEmailField(max_length=254), required=False)
    cc = serializers.ListField(child=HeaderEmailField(max_length=254), required=False)
    bcc = serializers.ListField(child=HeaderEmailField(max_length=254), required=False)
    reply_to = serializers.ListField(child=HeaderEmailField(max_length=254), required=False)
    text_body = StrictCharField(required=False, allow_blank=True)
    html_body = StrictCharField(required=False, allow_blank=True)

    class Meta:
        model = OutgoingEmail
        fields = [
            "id", "mailbox", "idempotency_key", "to", "cc", "bcc", "reply_to", "subject", "text_body",
            "html_body", "attachments", "status", "attempts", "last_error_class", "last_error_message",
            "last_error_remedy", "remote_message_id", "created_at", "sent_at",
        ]
        read_only_fields = [
            "id", "mailbox", "status", "attempts", "last_error_class", "last_error_message",
            "last_error_remedy", "remote_message_id", "created_at", "sent_at",
        ]

    def validate(self, attrs: dict) -> dict:
        recipients = attrs.get("to", []) + attrs.get("cc", []) + attrs.get("bcc", [])
        if not recipients:
            raise serializers.ValidationError({"to": "At least one recipient (to, cc or bcc) is required."})
        if len(recipients) > MAX_RECIPIENTS:
            raise serializers.ValidationError({"to": f"At most {MAX_RECIPIENTS} recipients in all."})
        if not (attrs.get("subject", "").strip() or attrs.get("text_body", "").strip() or attrs.get("html_body", "").strip()):
            raise serializers.ValidationError({"subject": "An email needs a subject or a body."})
        attachments = attrs.get("attachments", [])
        if len(attachments) > MAX_ATTACHMENTS:
            raise serializers.ValidationError({"attachments": f"At most {MAX_ATTACHMENTS} attachments."})
        total = sum(len(item["content"]) for item in attachments)
        if total > settings.OUTBOX_MAX_TOTAL_ATTACHMENT_BYTES:
            raise serializers.ValidationError(
                {"attachments": f"{total} bytes of attachments is over the {settings.OUTBOX_MAX_TOTAL_ATTACHMENT_BYTES}-byte limit."}
            )
        return attrs

    def to_representation(self, instance: OutgoingEmail) -> dict:
        data = super().to_representation(instance)
        data["attachments"] = [
            {"filename": item.filename, "content_type": item.content_type, "size": item.size}
            for item in instance.attachments.all()
        ]
        return data


class NewestFirst(CursorPagination):
    ordering = "-created_at"


class MailboxEmailsView(generics.ListCreateAPIView):
    """Queue an email to send through the mailbox (POST), or list the mailbox's emails (GET)."""

    serializer_class = OutgoingEmailSerializer
    pagination_class = NewestFirst
    api_key_permissions = {"GET": Permission.EMAIL_STATUS, "POST": Permission.EMAIL_SEND}

    def get_mailbox(self) -> Mailbox:
        return scoped_mailbox(self.request, self.kwargs["mailbox_id"])

    def get_queryset(self):
        return OutgoingEmail.objects.filter(mailbox_id=self.kwargs["mailbox_id"]).prefetch_related("attachments")

    def create(self, request, *args, **kwargs):
        mailbox = self.get_mailbox()
        if not (mailbox.is_active and mailbox.email_enabled):
            return Response(
                {"mailbox": "Sending email is not enabled for this mailbox (or the mailbox is inactive)."},
                status=status.HTTP_422_UNPROCESSABLE_ENTITY,
            )
        fingerprint = request_fingerprint(request.data)
        existing = OutgoingEmail.objects.filter(mailbox=mailbox, idempotency_key=request.data.get("idempotency_key")).first()
        if existing is not None:
            return self._replay(existing, fingerprint)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        attachments = data.pop("attachments", [])
        try:
            with transaction.atomic():
                email = OutgoingEmail.objects.create(mailbox=mailbox, request_fingerprint=fingerprint, **data)
                OutgoingAttachment.objects.bulk_create(
                    OutgoingAttachment(email=email, size=len(item["content"]), **item) for item in attachments
                )
                publish_send_on_commit(email)
        except IntegrityError:
            # A concurrent request with the same key won the race; answer with its record.
            existing = OutgoingEmail.objects.get(mailbox=mailbox, idempotency_key=data["idempotency_key"])
            return self._replay(existing, fingerprint)
        return Response(self.get_serializer(email).data, status=status.HTTP_201_CREATED)

    def _replay(self, existing: OutgoingEmail, fingerprint: str) -> Response:
        if existing.request_fingerprint != fingerprint:
            return Response(
                {"idempotency_key": "This key was already used for a different email; use a new key for a new email."},
                status=status.HTTP_409_CONFLICT,
            )
        return Response(self.get_serializer(existing).data, status=status.HTTP_200_OK)


class EmailStatusView(generics.RetrieveAPIView):
    """An email's status: queued, sending, sent or failed (with the error class and remedy)."""

    serializer_class = OutgoingEmailSerializer
    queryset = OutgoingEmail.objects.prefetch_related("attachments")
    api_key_permissions = {"GET": Permission.EMAIL_STATUS}

    def get_object(self) -> OutgoingEmail:
        # Another brokerage's email is a 404, like one that does not exist.
        return get_in_scope(self.request, self.get_queryset(), "mailbox__brokerage", pk=self.kwargs["pk"])
