"""Plain, protocol-neutral mailbox items: what a contact, an event and an outgoing message are, nothing of EWS.

The sync engine maps its own types onto these; every datetime is timezone-aware.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum


class Collection(StrEnum):
    """The item collections the gateway reads changes of."""

    CONTACTS = "contacts"
    CALENDAR = "calendar"


class MessageFolder(StrEnum):
    """Where a message we wrote can be found again."""

    DRAFTS = "drafts"
    SENT = "sent"


class PhoneType(StrEnum):
    MOBILE = "mobile"
    HOME = "home"
    BUSINESS = "business"
    BUSINESS_FAX = "business_fax"
    HOME_FAX = "home_fax"
    OTHER = "other"


class AddressType(StrEnum):
    HOME = "home"
    BUSINESS = "business"
    OTHER = "other"


@dataclass(frozen=True)
class PostalAddress:
    street: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""
    country: str = ""


@dataclass(frozen=True)
class Contact:
    """A person in the agent's contacts. ``emails`` keeps order (the first is the primary address, up to three)."""

    given_name: str = ""
    surname: str = ""
    display_name: str = ""
    emails: tuple[str, ...] = ()
    phones: dict[PhoneType, str] = field(default_factory=dict)
    addresses: dict[AddressType, PostalAddress] = field(default_factory=dict)
    company: str = ""
    job_title: str = ""
    notes: str = ""
    birthday: dt.date | None = None


@dataclass(frozen=True)
class Attendee:
    email: str
    name: str = ""
    required: bool = True


class RecurrenceFrequency(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"  # on the day of month of the first occurrence
    YEARLY = "yearly"  # on the day and month of the first occurrence


@dataclass(frozen=True)
class OccurrenceChange:
    """One occurrence moved (or retitled) away from the pattern; ``original_start`` says which."""

    original_start: dt.datetime
    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True)
class Recurrence:
    """A simple recurrence pattern with its exceptions: occurrences cancelled and occurrences moved."""

    frequency: RecurrenceFrequency
    interval: int = 1
    weekdays: tuple[int, ...] = ()  # ISO weekdays 1=Monday..7=Sunday, for weekly patterns
    start_date: dt.date | None = None
    end_date: dt.date | None = None  # inclusive; None with count None = no end
    count: int | None = None
    cancelled_occurrences: tuple[dt.date, ...] = ()  # the original dates of deleted occurrences
    changed_occurrences: tuple[OccurrenceChange, ...] = ()


@dataclass(frozen=True)
class Event:
    """A calendar event. ``time_zone`` is the event's own IANA zone; ``start``/``end`` are aware datetimes.

    For an all-day event ``start``/``end`` are midnights in ``time_zone`` and ``end`` is exclusive.
    ``send_invitations`` is an instruction for one create or update, not part of the event: attendees hear of it
    only when it is True (the CRM's events never invite unless asked).
    """

    subject: str
    start: dt.datetime
    end: dt.datetime
    time_zone: str = "UTC"
    all_day: bool = False
    location: str = ""
    body: str = ""
    attendees: tuple[Attendee, ...] = ()
    recurrence: Recurrence | None = None
    cancelled: bool = False
    send_invitations: bool = False

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("Event start and end must be timezone-aware")


@dataclass(frozen=True)
class OutgoingAttachment:
    """A file attached to an outgoing message, bytes and all."""

    filename: str
    content_type: str
    content: bytes

    def __repr__(self) -> str:  # the bytes would flood logs and tracebacks
        return f"OutgoingAttachment({self.filename!r}, {self.content_type!r}, {len(self.content)} bytes)"


@dataclass(frozen=True)
class OutgoingMessage:
    """An email to send through the agent's own mailbox (a copy stays in Sent Items)."""

    subject: str
    body: str
    to: tuple[str, ...]
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    body_is_html: bool = False
    reply_to: tuple[str, ...] = ()
    attachments: tuple[OutgoingAttachment, ...] = ()
