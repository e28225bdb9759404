"""Bulk import of a brokerage's agents' mailboxes from CSV: new rows created, rows of its existing mailboxes
updated, bad rows refused with the reason.

Rows are checked first, then written in bulk (one INSERT per batch, one UPDATE per batch), so 5,000 rows take
a handful of statements. A row is either wholly written or not at all, and one bad row never blocks the good
ones around it. The file may be an export of the mailbox list (brokerages/mailbox_export.py): its read-only
columns (state, schedule) are ignored, so export, edit the flags, import is a round trip.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from brokerages import domains
from brokerages.models import Brokerage, Mailbox

MAX_BYTES = 1_000_000
MAX_ROWS = 5_000
BATCH = 1_000
COLUMNS = ("email", "display_name", "is_active", "contacts_enabled", "calendar_enabled", "email_enabled")
# Columns of the export that describe state the import does not set: accepted and ignored.
READ_ONLY_COLUMNS = ("brokerage", "state", "next_sync_at", "last_synced_at", "consecutive_failures", "sync_paused_reason")
_FLAGS = COLUMNS[2:]
_TRUE = {"1", "true", "yes", "y", "on", "x"}
_FALSE = {"0", "false", "no", "n", "off"}


class ImportRejected(ValueError):
    """The file as a whole cannot be imported (too big, not CSV, no email column); nothing was written."""


@dataclass
class RowError:
    line: int  # the line number in the file, header = 1, as a spreadsheet shows it
    email: str
    reason: str


@dataclass
class ImportReport:
    imported: list[str] = field(default_factory=list)  # created
    updated: list[str] = field(default_factory=list)  # existing mailboxes of this brokerage, columns given applied
    unchanged: list[str] = field(default_factory=list)  # existing mailboxes the row says nothing new about
    errors: list[RowError] = field(default_factory=list)  # refused, with the reason

    @property
    def rows(self) -> int:
        return len(self.imported) + len(self.updated) + len(self.unchanged) + len(self.errors)


def import_mailboxes(brokerage: Brokerage, content: bytes) -> ImportReport:
    """Create or update a Mailbox of brokerage for each good row of the CSV content; report every other row."""
    _, rows = _read_rows(content)
    report = ImportReport()
    checked: dict[str, tuple[int, Mailbox, list[str]]] = {}
    for line, row in rows:
        email = (row.get("email") or "").strip().lower()
        try:
            mailbox = _mailbox_from_row(brokerage, row, email)
        except ValidationError as exc:
            report.errors.append(RowError(line, email, " ".join(exc.messages)))
            continue
        if email in checked:
            report.errors.append(RowError(line, email, f"Duplicate of line {checked[email][0]} in this file."))
            continue
        # An update changes only the cells filled in; an empty cell keeps what the mailbox has.
        filled = [name for name in COLUMNS[1:] if (row.get(name) or "").strip()]
        checked[email] = (line, mailbox, filled)
    existing = _existing(list(checked))
    new, changed = [], []
    for email, (line, mailbox, filled) in checked.items():
        found = existing.get(email)
        if found is None:
            new.append((line, mailbox))
        elif found.brokerage_id != brokerage.pk:
            report.errors.append(RowError(line, email, f"Already exists in another brokerage (“{found.brokerage.name}”)."))
        else:
            differing = [name for name in filled if getattr(found, name) != getattr(mailbox, name)]
            if not differing:
                report.unchanged.append(email)  # an export imported back: nothing to write
                continue
            for name in differing:
                setattr(found, name, getattr(mailbox, name))
            changed.append(found)
    _create(new, report)
    now = timezone.now()
    for mailbox in changed:
        mailbox.updated_at = now
    Mailbox.objects.bulk_update(changed, [*COLUMNS[1:], "updated_at"], batch_size=BATCH)
    report.updated = [mailbox.email for mailbox in changed]
    report.errors.sort(key=lambda error: error.line)
    return report


def _existing(emails: list[str]) -> dict[str, Mailbox]:
    found: dict[str, Mailbox] = {}
    for start in range(0, len(emails), BATCH):
        for mailbox in Mailbox.objects.filter(email__in=emails[start : start + BATCH]).select_related("brokerage"):
            found[mailbox.email] = mailbox
    return found


def _create(new: list[tuple[int, Mailbox]], report: ImportReport) -> None:
    for start in range(0, len(new), BATCH):
        batch = new[start : start + BATCH]
        try:
            with transaction.atomic():
                Mailbox.objects.bulk_create([mailbox for _, mailbox in batch])
        except IntegrityError:
            # Someone added one of these addresses between the check and the insert: row by row for this batch.
            for line, mailbox in batch:
                try:
                    with transaction.atomic():
                        mailbox.save()
                except IntegrityError:
                    report.errors.append(RowError(line, mailbox.email, "Already exists."))
                    continue
                report.imported.append(mailbox.email)
            continue
        report.imported.extend(mailbox.email for _, mailbox in batch)


def _read_rows(content: bytes) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    if len(content) > MAX_BYTES:
        raise ImportRejected(f"The file is larger than {MAX_BYTES // 1_000_000} MB; split it into smaller files.")
    try:
        text = content.decode("utf-8-sig")  # Excel writes a byte-order mark
    except UnicodeDecodeError:
        raise ImportRejected("The file is not UTF-8 text; save it as “CSV UTF-8” and try again.") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [(name or "").strip().lower() for name in reader.fieldnames or []]
    if "email" not in header:
        raise ImportRejected(f"The first line must be a header with an “email” column; optional columns: {', '.join(COLUMNS[1:])}.")
    unknown = sorted(set(header) - set(COLUMNS) - set(READ_ONLY_COLUMNS) - {""})
    if unknown:
        raise ImportRejected(f"Unknown column(s): {', '.join(unknown)}. Allowed: {', '.join(COLUMNS)}.")
    reader.fieldnames = header
    rows = []
    try:
        for row in reader:
            if len(rows) >= MAX_ROWS:
                raise ImportRejected(f"The file has more than {MAX_ROWS} rows; split it into smaller files.")
            if any((value or "").strip() for value in row.values() if isinstance(value, str)):
                rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise ImportRejected(f"The file is not valid CSV (line {reader.line_num}: {exc}).") from None
    return header, rows


def _mailbox_from_row(brokerage: Brokerage, row: dict[str, str], email: str) -> Mailbox:
    if None in row:
        raise ValidationError("More values than columns; check for an unquoted comma.")
    if not email:
        raise ValidationError("The email is empty.")
    if domains.domain_of(email) is None:
        raise ValidationError(f"“{email}” is not a valid email address.")
    if not brokerage.owns_address(email):
        raise ValidationError(f"{email} is outside the brokerage's domains ({', '.join(brokerage.email_domains)}).")
    display_name = (row.get("display_name") or "").strip()
    if len(display_name) > Mailbox._meta.get_field("display_name").max_length:
        raise ValidationError("The display name is longer than 200 characters.")
    flags = {name: _flag(row.get(name), name) for name in _FLAGS}
    mailbox = Mailbox(brokerage=brokerage, email=email, display_name=display_name, **flags)
    # Lengths and anything else the model insists on; not the brokerage (a query per row to check it exists).
    mailbox.full_clean(exclude=["brokerage"], validate_unique=False)
    return mailbox


def _flag(value: str | None, column: str) -> bool:
    text = (value or "").strip().lower()
    if not text:
        return True  # an omitted flag means the default: enabled
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValidationError(f"{column} must be yes or no (or true/false, 1/0), not “{value.strip()}”.")
