"""The mailbox list as CSV, streamed: the import's columns first (so the file imports back), then its state.

Rows are read with a server-side cursor in chunks and written as they come, so an export of 100,000
mailboxes holds neither the rows nor the file in memory.
"""

from __future__ import annotations

import csv
import datetime
from collections.abc import Iterator

from django.db.models import QuerySet
from django.http import StreamingHttpResponse

from brokerages import mailbox_import

HEADER = (*mailbox_import.COLUMNS, *mailbox_import.READ_ONLY_COLUMNS)
_CHUNK = 2_000


class _Echo:
    """A file-like object whose write returns the line, for csv.writer inside a generator."""

    def write(self, value: str) -> str:
        return value


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _state(row: dict) -> str:
    if not row["is_active"]:
        return "inactive"
    if row["sync_paused"]:
        return "paused"
    return "failing" if row["consecutive_failures"] else "active"


def _lines(queryset: QuerySet) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(HEADER)  # the byte-order mark makes Excel read UTF-8
    fields = ("email", "display_name", "is_active", "contacts_enabled", "calendar_enabled", "email_enabled",
              "brokerage__name", "sync_paused", "next_sync_at", "last_synced_at", "consecutive_failures",
              "sync_paused_reason")  # fmt: skip
    for row in queryset.order_by("email").values(*fields).iterator(chunk_size=_CHUNK):
        yield writer.writerow((
            row["email"], row["display_name"], *(_yes(row[name]) for name in mailbox_import.COLUMNS[2:]),
            row["brokerage__name"], _state(row), _iso(row["next_sync_at"]), _iso(row["last_synced_at"]),
            row["consecutive_failures"], row["sync_paused_reason"],
        ))  # fmt: skip


def _iso(moment) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def csv_response(queryset: QuerySet, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_lines(queryset), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response



