"""Bulk import of a brokerage's agents' mailboxes from CSV: good rows in, bad rows reported with the reason.

Each row is its own transaction (a savepoint), so a row is either wholly written or not at all, and
one bad row never blocks the hundreds of good ones around it.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from brokerages import domains
from brokerages.models import Brokerage, Mailbox

MAX_BYTES = 1_000_000
MAX_ROWS = 5_000
COLUMNS = ("email", "display_name", "is_active", "contacts_enabled", "calendar_enabled", "email_enabled")
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
    imported: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def import_mailboxes(brokerage: Brokerage, content: bytes) -> ImportReport:
    """Create a Mailbox of brokerage for each good row of the CSV content; report every other row."""
    rows = _read_rows(content)
    report = ImportReport()
    first_line_of: dict[str, int] = {}
    for line, row in rows:
        email = (row.get("email") or "").strip().lower()
        try:
            mailbox = _mailbox_from_row(brokerage, row, email)
        except ValidationError as exc:
            report.errors.append(RowError(line, email, " ".join(exc.messages)))
            continue
        if email in first_line_of:
            report.errors.append(RowError(line, email, f"Duplicate of line {first_line_of[email]} in this file."))
            continue
        first_line_of[email] = line
        existing = Mailbox.objects.filter(email=email).select_related("brokerage").first()
        if existing is not None:
            report.errors.append(RowError(line, email, f"Already exists (brokerage “{existing.brokerage.name}”)."))
            continue
        try:
            with transaction.atomic():
                mailbox.save()
        except IntegrityError:
            # Added by someone else between the check and the insert.
            report.errors.append(RowError(line, email, "Already exists."))
            continue
        report.imported.append(email)
    return report


def _read_rows(content: bytes) -> list[tuple[int, dict[str, str]]]:
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
    unknown = sorted(set(header) - set(COLUMNS) - {""})
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
    return rows


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
    mailbox.full_clean(validate_unique=False)  # lengths and anything else the model insists on
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
