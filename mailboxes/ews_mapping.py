"""Between our plain items (mailboxes.items) and exchangelib's: contacts, calendar items, messages, and our tag."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from exchangelib import CalendarItem, ExtendedProperty, FileAttachment, Message
from exchangelib import Contact as EwsContact
from exchangelib.ewsdatetime import EWSDate, EWSDateTime, EWSTimeZone
from exchangelib.indexed_properties import EmailAddress, PhoneNumber, PhysicalAddress
from exchangelib.properties import Attendee as EwsAttendee
from exchangelib.properties import Body, HTMLBody, Mailbox, OccurrenceItemId
from exchangelib.recurrence import (
    AbsoluteMonthlyPattern,
    AbsoluteYearlyPattern,
    DailyPattern,
    EndDatePattern,
    NoEndPattern,
    NumberedPattern,
    WeeklyPattern,
)
from exchangelib.recurrence import Recurrence as EwsRecurrence

from mailboxes.items import (
    AddressType,
    Attendee,
    Contact,
    Event,
    OccurrenceChange,
    OutgoingMessage,
    PhoneType,
    PostalAddress,
    Recurrence,
    RecurrenceFrequency,
)

TAG_FIELD = "engage_tag"


class EngageTag(ExtendedProperty):
    """Our own id on items we create (a named MAPI string property), so we can find them again."""

    property_set_id = "c3a1e9d2-7b4f-4c1a-9e2d-5f8b0a6d4e17"
    property_name = "EngageSyncId"
    property_type = "String"


for _item_class in (EwsContact, CalendarItem, Message):
    if TAG_FIELD not in {f.name for f in _item_class.FIELDS}:
        _item_class.register(TAG_FIELD, EngageTag)

_PHONE_LABELS = {
    PhoneType.MOBILE: "MobilePhone", PhoneType.HOME: "HomePhone", PhoneType.BUSINESS: "BusinessPhone",
    PhoneType.BUSINESS_FAX: "BusinessFax", PhoneType.HOME_FAX: "HomeFax", PhoneType.OTHER: "OtherTelephone",
}  # fmt: skip
_PHONE_TYPES = {label: kind for kind, label in _PHONE_LABELS.items()}
_ADDRESS_LABELS = {AddressType.HOME: "Home", AddressType.BUSINESS: "Business", AddressType.OTHER: "Other"}
_ADDRESS_TYPES = {label: kind for kind, label in _ADDRESS_LABELS.items()}

CONTACT_FIELDS = [
    "display_name", "given_name", "surname", "email_addresses", "phone_numbers", "physical_addresses",
    "company_name", "job_title", "body", "birthday",
]  # fmt: skip
EVENT_FIELDS = [
    "subject", "start", "end", "_start_timezone", "_end_timezone", "is_all_day", "location", "body",
    "required_attendees", "optional_attendees", "recurrence",
]  # fmt: skip


# --- Contacts --------------------------------------------------------------------------------------


def contact_to_ews(contact: Contact, **ids: Any) -> EwsContact:
    display = contact.display_name or " ".join(p for p in (contact.given_name, contact.surname) if p) or "(no name)"
    return EwsContact(
        **ids,
        display_name=display,
        given_name=contact.given_name or None,
        surname=contact.surname or None,
        email_addresses=[
            EmailAddress(email=email, label=f"EmailAddress{n}") for n, email in enumerate(contact.emails[:3], 1)
        ] or None,
        phone_numbers=[
            PhoneNumber(label=_PHONE_LABELS[kind], phone_number=number) for kind, number in contact.phones.items()
        ] or None,
        physical_addresses=[
            PhysicalAddress(
                label=_ADDRESS_LABELS[kind], street=a.street or None, city=a.city or None, state=a.state or None,
                zipcode=a.postal_code or None, country=a.country or None,
            )
            for kind, a in contact.addresses.items()
        ] or None,
        company_name=contact.company or None,
        job_title=contact.job_title or None,
        body=Body(contact.notes) if contact.notes else None,
        birthday=EWSDate.from_date(contact.birthday) if contact.birthday else None,
    )


def contact_from_ews(item: EwsContact) -> Contact:
    emails = sorted(item.email_addresses or [], key=lambda e: e.label or "")
    return Contact(
        given_name=item.given_name or "",
        surname=item.surname or "",
        display_name=item.display_name or "",
        emails=tuple(e.email for e in emails if e.email),
        phones={_PHONE_TYPES[p.label]: p.phone_number for p in item.phone_numbers or [] if p.label in _PHONE_TYPES},
        addresses={
            _ADDRESS_TYPES[a.label]: PostalAddress(
                street=a.street or "", city=a.city or "", state=a.state or "", postal_code=a.zipcode or "",
                country=a.country or "",
            )
            for a in item.physical_addresses or [] if a.label in _ADDRESS_TYPES
        },
        company=item.company_name or "",
        job_title=item.job_title or "",
        notes=str(item.body) if item.body else "",
        birthday=dt.date(item.birthday.year, item.birthday.month, item.birthday.day) if item.birthday else None,
    )


# --- Events ----------------------------------------------------------------------------------------


def event_to_ews(event: Event, **ids: Any) -> CalendarItem:
    tz = EWSTimeZone(event.time_zone)
    if event.all_day:
        # exchangelib takes all-day bounds as dates with an inclusive last day; ours end at an exclusive midnight.
        start: Any = EWSDate.from_date(event.start.astimezone(ZoneInfo(event.time_zone)).date())
        end: Any = EWSDate.from_date((event.end.astimezone(ZoneInfo(event.time_zone)) - dt.timedelta(days=1)).date())
    else:
        start = EWSDateTime.from_datetime(event.start.astimezone(ZoneInfo(event.time_zone))).astimezone(tz)
        end = EWSDateTime.from_datetime(event.end.astimezone(ZoneInfo(event.time_zone))).astimezone(tz)
    required = [a for a in event.attendees if a.required]
    optional = [a for a in event.attendees if not a.required]
    return CalendarItem(
        **ids,
        subject=event.subject,
        start=start,
        end=end,
        _start_timezone=tz,
        _end_timezone=tz,
        is_all_day=event.all_day,
        location=event.location or None,
        body=Body(event.body) if event.body else None,
        required_attendees=[_attendee_to_ews(a) for a in required] or None,
        optional_attendees=[_attendee_to_ews(a) for a in optional] or None,
        recurrence=_recurrence_to_ews(event.recurrence) if event.recurrence else None,
    )


def occurrence_id(master_id: str, index: int) -> OccurrenceItemId:
    """The id of one occurrence of a series, by instance index; without a change key (the master's changes with
    every occurrence written, so a batch of them could not all carry the current one)."""
    return OccurrenceItemId(id=master_id, changekey=None, instance_index=index)


def occurrence_move_to_ews(event: Event, change: OccurrenceChange, master_id: str, index: int,
                           **context: Any) -> tuple[CalendarItem, list[str]]:
    """The UpdateItem change that moves one occurrence of ``event``'s series to ``change``'s times."""
    tz = EWSTimeZone(event.time_zone)
    zone = ZoneInfo(event.time_zone)
    if event.all_day:
        start: Any = EWSDate.from_date(change.start.astimezone(zone).date())
        end: Any = EWSDate.from_date((change.end.astimezone(zone) - dt.timedelta(days=1)).date())
    else:
        start = EWSDateTime.from_datetime(change.start.astimezone(zone)).astimezone(tz)
        end = EWSDateTime.from_datetime(change.end.astimezone(zone)).astimezone(tz)
    item = CalendarItem(**context, _id=occurrence_id(master_id, index), start=start, end=end,
                        _start_timezone=tz, _end_timezone=tz)
    return item, ["start", "end"]


def event_from_ews(item: CalendarItem) -> Event:
    zone = _zone_name(item._start_timezone)
    tz = ZoneInfo(zone)
    if item.is_all_day:
        start = dt.datetime.combine(_as_date(item.start), dt.time(0), tzinfo=tz)
        end = dt.datetime.combine(_as_date(item.end), dt.time(0), tzinfo=tz) + dt.timedelta(days=1)
    else:
        start, end = _plain_instant(item.start, tz), _plain_instant(item.end, tz)
    attendees = tuple(
        Attendee(email=a.mailbox.email_address, name=a.mailbox.name or "", required=required)
        for required, group in ((True, item.required_attendees), (False, item.optional_attendees))
        for a in group or []
        if a.mailbox and a.mailbox.email_address
    )
    return Event(
        subject=item.subject or "",
        start=start,
        end=end,
        time_zone=zone,
        all_day=bool(item.is_all_day),
        location=item.location or "",
        body=str(item.body) if item.body else "",
        attendees=attendees,
        recurrence=_recurrence_from_ews(item, tz) if item.recurrence else None,
        cancelled=bool(item.is_cancelled),
    )


def _attendee_to_ews(attendee: Attendee) -> EwsAttendee:
    return EwsAttendee(mailbox=Mailbox(email_address=attendee.email, name=attendee.name or None), response_type="Unknown")


def _zone_name(tz: Any) -> str:
    key = getattr(tz, "key", None)
    return key if key else "UTC"


def _plain_instant(value: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """A plain ``datetime`` in ``tz`` for exchangelib's EWSDateTime (whose ``astimezone`` refuses ``datetime.UTC``
    and whose arithmetic yields EWSDateTimes), so callers never meet exchangelib's types."""
    plain = dt.datetime(value.year, value.month, value.day, value.hour, value.minute, value.second,
                        value.microsecond, tzinfo=value.tzinfo or dt.UTC)  # EWS sends UTC; naive means UTC
    return plain.astimezone(tz)


def _recurrence_to_ews(rec: Recurrence) -> EwsRecurrence:
    if rec.start_date is None:
        raise ValueError("A recurrence needs its start_date")
    if rec.frequency is RecurrenceFrequency.DAILY:
        pattern: Any = DailyPattern(interval=rec.interval)
    elif rec.frequency is RecurrenceFrequency.WEEKLY:
        pattern = WeeklyPattern(interval=rec.interval, weekdays=list(rec.weekdays or (rec.start_date.isoweekday(),)))
    elif rec.frequency is RecurrenceFrequency.MONTHLY:
        pattern = AbsoluteMonthlyPattern(interval=rec.interval, day_of_month=rec.start_date.day)
    else:
        pattern = AbsoluteYearlyPattern(day_of_month=rec.start_date.day, month=rec.start_date.month)
    start = EWSDate.from_date(rec.start_date)
    if rec.count:
        boundary: Any = NumberedPattern(start=start, number=rec.count)
    elif rec.end_date:
        boundary = EndDatePattern(start=start, end=EWSDate.from_date(rec.end_date))
    else:
        boundary = NoEndPattern(start=start)
    return EwsRecurrence(pattern=pattern, boundary=boundary)


def _recurrence_from_ews(item: CalendarItem, tz: ZoneInfo) -> Recurrence:
    pattern, boundary = item.recurrence.pattern, item.recurrence.boundary
    if isinstance(pattern, DailyPattern):
        frequency, weekdays = RecurrenceFrequency.DAILY, ()
    elif isinstance(pattern, WeeklyPattern):
        frequency, weekdays = RecurrenceFrequency.WEEKLY, tuple(int(d) for d in pattern.weekdays or ())
    elif isinstance(pattern, AbsoluteMonthlyPattern):
        frequency, weekdays = RecurrenceFrequency.MONTHLY, ()
    else:
        frequency, weekdays = RecurrenceFrequency.YEARLY, ()
    start_date = _as_date(getattr(boundary, "start", None))
    return Recurrence(
        frequency=frequency,
        interval=getattr(pattern, "interval", 1) or 1,
        weekdays=weekdays,
        start_date=start_date,
        end_date=_as_date(getattr(boundary, "end", None)),
        count=getattr(boundary, "number", None),
        cancelled_occurrences=tuple(
            _plain_instant(d.start, tz).date() for d in item.deleted_occurrences or [] if d.start
        ),
        changed_occurrences=tuple(
            OccurrenceChange(
                original_start=_plain_instant(o.original_start, tz),
                start=_plain_instant(o.start, tz),
                end=_plain_instant(o.end, tz),
            )
            for o in item.modified_occurrences or [] if o.original_start and o.start and o.end
        ),
    )


def _as_date(value: Any) -> dt.date | None:
    if value is None:
        return None
    return dt.date(value.year, value.month, value.day)


# --- Messages --------------------------------------------------------------------------------------


def message_to_ews(message: OutgoingMessage, *, tag: str, **context: Any) -> Message:
    """The exchangelib message; its attachments go inside the same CreateItem (exchangelib does so for Exchange
    2013 and later), so the draft never exists without them."""
    return Message(
        **context,
        subject=message.subject,
        body=HTMLBody(message.body) if message.body_is_html else Body(message.body),
        to_recipients=[Mailbox(email_address=a) for a in message.to],
        cc_recipients=[Mailbox(email_address=a) for a in message.cc] or None,
        bcc_recipients=[Mailbox(email_address=a) for a in message.bcc] or None,
        reply_to=[Mailbox(email_address=a) for a in message.reply_to] or None,
        attachments=[
            FileAttachment(name=a.filename, content_type=a.content_type, content=a.content) for a in message.attachments
        ] or None,
        **{TAG_FIELD: tag},
    )
