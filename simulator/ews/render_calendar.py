"""Calendar item properties in CalendarItemType order: times and zones, meeting state, attendees, recurrence."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lxml import etree

from simulator.mailstore.recurrence import series_bounds

from .occurrence_ids import occurrence_id, parse_z
from .shape import Shape
from .soap import sub, t
from .values import ZONE_NAMES

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
_PATTERN_ELEMENTS = {"daily": "DailyRecurrence", "weekly": "WeeklyRecurrence",
                     "absolute_monthly": "AbsoluteMonthlyRecurrence", "relative_monthly": "RelativeMonthlyRecurrence",
                     "absolute_yearly": "AbsoluteYearlyRecurrence", "relative_yearly": "RelativeYearlyRecurrence"}
_RANGE_ELEMENTS = {"no_end": "NoEndRecurrence", "end_date": "EndDateRecurrence", "numbered": "NumberedRecurrence"}
_ATTENDEE_LISTS = (("calendar:RequiredAttendees", "RequiredAttendees", "required"),
                   ("calendar:OptionalAttendees", "OptionalAttendees", "optional"),
                   ("calendar:Resources", "Resources", "resource"))


def _text(parent: etree._Element, name: str, value: Any) -> None:
    if isinstance(value, bool):
        value = "true" if value else "false"
    sub(parent, t(name), str(value))


def _z(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _duration(start: str, end: str) -> str:
    seconds = int((datetime.fromisoformat(end.replace("Z", "+00:00"))
                   - datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds())
    days, rest = divmod(max(seconds, 0), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    text = "P" + (f"{days}D" if days else "")
    if hours or minutes or seconds or not days:
        text += "T" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + (f"{seconds}S" if seconds or not (hours or minutes) else "")
    return text


def render_recurrence(parent: etree._Element, recurrence: dict[str, Any]) -> None:
    """Append <t:Recurrence> for the store's recurrence dict (pattern then range)."""
    node = sub(parent, t("Recurrence"))
    pattern, rng = recurrence["pattern"], recurrence["range"]
    element = sub(node, t(_PATTERN_ELEMENTS[pattern["type"]]))
    kind = pattern["type"]
    if not kind.endswith("yearly"):
        _text(element, "Interval", int(pattern.get("interval", 1)))
    days = pattern.get("days_of_week") or []
    if kind in ("weekly", "relative_monthly", "relative_yearly"):
        _text(element, "DaysOfWeek", " ".join(days) if isinstance(days, list) else days)
    if kind == "weekly":
        _text(element, "FirstDayOfWeek", pattern.get("first_day_of_week", "Sunday"))
    if kind in ("relative_monthly", "relative_yearly"):
        _text(element, "DayOfWeekIndex", pattern.get("week_index", "First"))
    if kind in ("absolute_monthly", "absolute_yearly"):
        _text(element, "DayOfMonth", int(pattern.get("day_of_month", 1)))
    if kind.endswith("yearly"):
        _text(element, "Month", MONTHS[int(pattern.get("month", 1)) - 1])
    range_node = sub(node, t(_RANGE_ELEMENTS[rng.get("type", "no_end")]))
    _text(range_node, "StartDate", rng["start_date"])
    if rng.get("type") == "end_date":
        _text(range_node, "EndDate", rng["end_date"])
    elif rng.get("type") == "numbered":
        _text(range_node, "NumberOfOccurrences", int(rng["count"]))


def _occurrence_info(parent: etree._Element, tag: str, master_id: str, occurrence: Any, change_key: str) -> None:
    node = sub(parent, t(tag))
    sub(node, t("ItemId"), Id=occurrence_id(master_id, occurrence.original_start), ChangeKey=change_key)
    _text(node, "Start", _z(occurrence.start))
    _text(node, "End", _z(occurrence.end))
    _text(node, "OriginalStart", _z(occurrence.original_start))


def render_calendar(node: etree._Element, view: Any, shape: Shape) -> None:
    """Append the CalendarItemType properties of an event (or of one occurrence of it)."""
    fields = view.fields
    start, end = view.start or fields.get("start"), view.end or fields.get("end")
    attendees = fields.get("attendees") or []
    is_meeting = bool(attendees)
    cancelled = bool(fields.get("is_cancelled"))
    if shape.wants("calendar:UID") and fields.get("uid"):
        _text(node, "UID", fields["uid"])
    if view.original_start is not None and shape.wants("calendar:RecurrenceId"):
        _text(node, "RecurrenceId", _z(view.original_start))
    if shape.wants("calendar:Start") and start:
        _text(node, "Start", start)
    if shape.wants("calendar:End") and end:
        _text(node, "End", end)
    if view.original_start is not None and shape.wants("calendar:OriginalStart"):
        _text(node, "OriginalStart", _z(view.original_start))
    if shape.wants("calendar:IsAllDayEvent"):
        _text(node, "IsAllDayEvent", bool(fields.get("is_all_day")))
    if shape.wants("calendar:LegacyFreeBusyStatus"):
        _text(node, "LegacyFreeBusyStatus", fields.get("show_as") or ("Free" if cancelled else "Busy"))
    if fields.get("location") is not None and shape.wants("calendar:Location"):
        _text(node, "Location", fields["location"])
    for uri, name, value in (("calendar:IsMeeting", "IsMeeting", is_meeting),
                             ("calendar:IsCancelled", "IsCancelled", cancelled),
                             ("calendar:IsRecurring", "IsRecurring", view.calendar_type in ("Occurrence", "Exception")),
                             ("calendar:MeetingRequestWasSent", "MeetingRequestWasSent", bool(fields.get("invitations_sent"))),
                             ("calendar:IsResponseRequested", "IsResponseRequested", is_meeting),
                             ("calendar:CalendarItemType", "CalendarItemType", view.calendar_type),
                             ("calendar:MyResponseType", "MyResponseType", "Organizer" if is_meeting else "Unknown")):
        if shape.wants(uri):
            _text(node, name, value)
    if shape.wants("calendar:Organizer"):
        organizer = fields.get("organizer") or {"email": view.owner_address, "name": view.owner_name}
        mailbox = sub(sub(node, t("Organizer")), t("Mailbox"))
        _text(mailbox, "Name", organizer.get("name") or organizer["email"])
        _text(mailbox, "EmailAddress", organizer["email"])
        _text(mailbox, "RoutingType", "SMTP")
    for uri, name, kind in _ATTENDEE_LISTS:
        chosen = [a for a in attendees if a.get("type", "required") == kind]
        if chosen and shape.wants(uri):
            holder = sub(node, t(name))
            for attendee in chosen:
                entry = sub(holder, t("Attendee"))
                mailbox = sub(entry, t("Mailbox"))
                _text(mailbox, "Name", attendee.get("name") or attendee["email"])
                _text(mailbox, "EmailAddress", attendee["email"])
                _text(mailbox, "RoutingType", "SMTP")
                _text(entry, "ResponseType", attendee.get("response", "Unknown"))
    if shape.wants("calendar:ConflictingMeetingCount"):
        _text(node, "ConflictingMeetingCount", 0)
    if shape.wants("calendar:AdjacentMeetingCount"):
        _text(node, "AdjacentMeetingCount", 0)
    if shape.wants("calendar:Duration") and start and end:
        _text(node, "Duration", _duration(start, end))
    if shape.wants("calendar:AppointmentSequenceNumber"):
        _text(node, "AppointmentSequenceNumber", int(fields.get("sequence", 0)))
    if shape.wants("calendar:AppointmentState"):
        _text(node, "AppointmentState", (1 if is_meeting else 0) | (4 if cancelled else 0))
    if view.calendar_type == "RecurringMaster":
        _render_series(node, view, shape)
    if shape.wants("calendar:StartTimeZone"):
        zone = fields.get("start_tz", "UTC")
        sub(node, t("StartTimeZone"), Id=zone, Name=ZONE_NAMES.get(zone, zone))
    if shape.wants("calendar:EndTimeZone"):
        zone = fields.get("end_tz") or fields.get("start_tz", "UTC")
        sub(node, t("EndTimeZone"), Id=zone, Name=ZONE_NAMES.get(zone, zone))
    for uri, name, value in (("calendar:ConferenceType", "ConferenceType", 0),
                             ("calendar:AllowNewTimeProposal", "AllowNewTimeProposal", True),
                             ("calendar:IsOnlineMeeting", "IsOnlineMeeting", False)):
        if shape.wants(uri):
            _text(node, name, value)


def _render_series(node: etree._Element, view: Any, shape: Shape) -> None:
    fields, item = view.fields, view.item
    if shape.wants("calendar:Recurrence"):
        render_recurrence(node, fields["recurrence"])
    if shape.wants("calendar:FirstOccurrence") or shape.wants("calendar:LastOccurrence"):
        first, last = series_bounds(fields)
        if first is not None and shape.wants("calendar:FirstOccurrence"):
            _occurrence_info(node, "FirstOccurrence", item.id, first, item.change_key)
        if last is not None and shape.wants("calendar:LastOccurrence"):
            _occurrence_info(node, "LastOccurrence", item.id, last, item.change_key)
    modified = fields.get("modified_occurrences") or {}
    if modified and shape.wants("calendar:ModifiedOccurrences"):
        holder = sub(node, t("ModifiedOccurrences"))
        length = parse_z(fields["end"]) - parse_z(fields["start"])
        for original, overrides in sorted(modified.items()):
            entry = sub(holder, t("Occurrence"))
            start = parse_z(overrides.get("start", original))
            end = parse_z(overrides["end"]) if "end" in overrides else start + length
            sub(entry, t("ItemId"), Id=occurrence_id(item.id, parse_z(original)), ChangeKey=item.change_key)
            _text(entry, "Start", _z(start))
            _text(entry, "End", _z(end))
            _text(entry, "OriginalStart", original)
    deleted = fields.get("deleted_occurrences") or []
    if deleted and shape.wants("calendar:DeletedOccurrences"):
        holder = sub(node, t("DeletedOccurrences"))
        for original in sorted(deleted):
            _text(sub(holder, t("DeletedOccurrence")), "Start", original)
