"""The CRM's contacts and calendar API, per mailbox: create, update, delete, list; each write prompts a sync.

Every request needs an API key with the method's permission that reaches the mailbox (apikeys/), else 403 / 404.

A write and its prompt (scheduling.prompt.request_sync) share one transaction, so the sync is published only
once the row is committed. Deletions keep a tombstone until the mailbox has mirrored them.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from apikeys.permissions import read_write
from apikeys.scope import scoped_mailbox
from engage_sync import idempotency
from scheduling.prompt import request_sync

from . import records
from .content import ContentError
from .models import Contact, Event, SyncedRecord
from .serializers import ContactSerializer, EventSerializer


class OldestFirst(CursorPagination):
    ordering = "created_at"


def _store(row: SyncedRecord, data: dict) -> None:
    """Set validated fields on the row; content the sync cannot represent is refused before anything is saved."""
    for name, value in data.items():
        setattr(row, name, records.recurrence_json(value) if name == "recurrence" else value)
    try:
        records.row_content(row)
    except ContentError as error:
        raise ValidationError({"non_field_errors": [str(error)]}) from None


class MailboxRecordsView(generics.ListCreateAPIView):
    """List the mailbox's live records (GET) or create one (POST); a create prompts a sync of the mailbox."""

    model: type[SyncedRecord]
    pagination_class = OldestFirst

    def get_queryset(self):
        return self.model.objects.filter(mailbox_id=self.kwargs["mailbox_id"], deleted_at__isnull=True)

    @extend_schema(parameters=[OpenApiParameter(
        idempotency.HEADER, str, OpenApiParameter.HEADER, required=False,
        description="Names this create: a retry with the same key answers 200 with the first record; the same key "
                    "with a different request is refused (409).")])  # fmt: skip
    def create(self, request, *args, **kwargs):
        mailbox = scoped_mailbox(request, self.kwargs["mailbox_id"])
        if not mailbox.is_active:
            return Response({"mailbox": "This mailbox is inactive."}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        key = request.headers.get(idempotency.HEADER) or None
        if key is not None and len(key) > idempotency.MAX_KEY_LENGTH:
            raise ValidationError({idempotency.HEADER: f"At most {idempotency.MAX_KEY_LENGTH} characters."})
        fingerprint = idempotency.request_fingerprint(request.data)
        if key is not None and (first := self.model.objects.filter(mailbox=mailbox, idempotency_key=key).first()):
            return self._replay(first, fingerprint)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        row = self.model(mailbox=mailbox, idempotency_key=key, request_fingerprint=fingerprint if key else "")
        _store(row, dict(serializer.validated_data))
        try:
            with transaction.atomic():
                row.save()
                request_sync(mailbox.pk)
        except IntegrityError:  # a concurrent retry with the same key won the race: answer with its row
            return self._replay(self.model.objects.get(mailbox=mailbox, idempotency_key=key), fingerprint)
        return Response(self.get_serializer(row).data, status=status.HTTP_201_CREATED)

    def _replay(self, first: SyncedRecord, fingerprint: str) -> Response:
        """A retried create: the first record (even if deleted since), never a second one."""
        if first.request_fingerprint != fingerprint:
            return Response({idempotency.HEADER: "This key was already used for a different request; use a new key."},
                            status=status.HTTP_409_CONFLICT)  # fmt: skip
        return Response(self.get_serializer(first).data, status=status.HTTP_200_OK)


class MailboxRecordView(generics.RetrieveUpdateDestroyAPIView):
    """Read, update (PUT/PATCH) or delete one record; each write prompts a sync of its mailbox."""

    model: type[SyncedRecord]
    lookup_url_kwarg = "record_id"

    def get_queryset(self):
        return self.model.objects.filter(mailbox_id=self.kwargs["mailbox_id"], deleted_at__isnull=True)

    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        with transaction.atomic():
            row = get_object_or_404(self.get_queryset().select_for_update(), pk=self.kwargs["record_id"])
            serializer = self.get_serializer(row, data=request.data, partial=partial)
            serializer.is_valid(raise_exception=True)
            _store(row, dict(serializer.validated_data))
            row.save()
            request_sync(row.mailbox_id)
        return Response(self.get_serializer(row).data)

    def destroy(self, request, *args, **kwargs):
        with transaction.atomic():
            row = get_object_or_404(self.get_queryset().select_for_update(), pk=self.kwargs["record_id"])
            # A tombstone (with the row's write-ahead mark, if any) until the mailbox has mirrored the deletion.
            row.deleted_at = timezone.now()
            row.save()
            request_sync(row.mailbox_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ContactsView(MailboxRecordsView):
    model, serializer_class = Contact, ContactSerializer
    api_key_permissions = read_write("contacts")


class ContactView(MailboxRecordView):
    model, serializer_class = Contact, ContactSerializer
    api_key_permissions = read_write("contacts")


class EventsView(MailboxRecordsView):
    model, serializer_class = Event, EventSerializer
    api_key_permissions = read_write("events")


class EventView(MailboxRecordView):
    model, serializer_class = Event, EventSerializer
    api_key_permissions = read_write("events")
