"""Validation of the CRM's contacts and events: every field checked, errors per field, nothing half-stored."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from functools import lru_cache
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from tzlocal.windows_tz import tz_win

from engage_sync.api.fields import StrictCharField, StrictEmailField
from mailboxes.items import AddressType, PhoneType, RecurrenceFrequency

from .models import Contact, Event

MAX_EMAILS = 3  # Exchange keeps three email slots per contact
MAX_ATTENDEES = 500
MAX_LONG_TEXT = 32_000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tab, newline and carriage return are text
_LINE_BREAK = re.compile(r"[\r\n]")


def no_control_characters(value: str) -> str:
    if _CONTROL.search(value):
        raise serializers.ValidationError("Control characters are not allowed.")
    return value


def one_line(value: str) -> str:
    no_control_characters(value)
    if _LINE_BREAK.search(value):
        raise serializers.ValidationError("Line breaks are not allowed here.")
    return value


def line_field(max_length: int, **kwargs: Any) -> serializers.CharField:
    return StrictCharField(max_length=max_length, required=False, allow_blank=True, validators=[one_line], **kwargs)


def text_field() -> serializers.CharField:
    return StrictCharField(max_length=MAX_LONG_TEXT, required=False, allow_blank=True, trim_whitespace=False,
                                 validators=[no_control_characters])  # fmt: skip


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def valid_time_zone(value: str) -> str:
    """An IANA zone Exchange can represent (it keeps Windows zones, so the zone needs a Windows equivalent)."""
    if value != "UTC" and (value not in _known_zones() or value not in tz_win):
        raise serializers.ValidationError(f"Unknown time zone {value!r}; use an IANA name such as Europe/Amsterdam.")
    return value


class WholeValue:
    """A nested value that is always given whole, even in a PATCH: its required fields and defaults apply.

    DRF lets a partial update skip required fields at every depth, so ``{"recurrence": {"count": 3}}`` got through
    without a frequency (a 500, found by tests/api/test_fuzz.py); a PATCH replaces a recurrence or the attendees
    whole, so they are validated as new.
    """

    def run_validation(self, data=serializers.empty):
        root = self.root
        partial, root.partial = root.partial, False
        try:
            return super().run_validation(data)
        finally:
            root.partial = partial


class AddressSerializer(WholeValue, serializers.Serializer):
    street = text_field()
    city = line_field(100)
    state = line_field(100)
    postal_code = line_field(20)
    country = line_field(100)

    def validate_street(self, value: str) -> str:
        if len(value) > 500:
            raise serializers.ValidationError("Ensure this field has no more than 500 characters.")
        return value


class ContactSerializer(serializers.ModelSerializer):
    given_name = line_field(100)
    surname = line_field(100)
    display_name = line_field(255)
    company = line_field(255)
    job_title = line_field(255)
    notes = text_field()
    emails = serializers.ListField(child=StrictEmailField(max_length=254), max_length=MAX_EMAILS, required=False)
    phones = serializers.DictField(child=line_field(64), required=False, help_text=f"type → number; types: {', '.join(PhoneType)}")
    addresses = serializers.DictField(child=AddressSerializer(), required=False,
                                      help_text=f"type → address; types: {', '.join(AddressType)}")  # fmt: skip

    class Meta:
        model = Contact
        fields = ["id", "given_name", "surname", "display_name", "emails", "phones", "addresses", "company",
                  "job_title", "notes", "birthday", "version", "modified_at"]  # fmt: skip
        read_only_fields = ["id", "version", "modified_at"]

    def validate_phones(self, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - {t.value for t in PhoneType})
        if unknown:
            raise serializers.ValidationError(f"Unknown phone type(s) {', '.join(unknown)}; use {', '.join(PhoneType)}.")
        return {kind: number for kind, number in value.items() if number.strip()}

    def validate_addresses(self, value: dict[str, dict]) -> dict[str, dict]:
        unknown = sorted(set(value) - {t.value for t in AddressType})
        if unknown:
            raise serializers.ValidationError(f"Unknown address type(s) {', '.join(unknown)}; use {', '.join(AddressType)}.")
        return {kind: {part: parts.get(part, "") for part in AddressSerializer().fields} for kind, parts in value.items()}

    def validate_emails(self, value: list[str]) -> list[str]:
        if len({address.lower() for address in value}) != len(value):
            raise serializers.ValidationError("The same address is given twice.")
        return value

    def validate(self, attrs: dict) -> dict:
        merged = {name: attrs.get(name, getattr(self.instance, name, None)) for name in
                  ("given_name", "surname", "display_name", "company", "emails")}  # fmt: skip
        if not any(merged.values()):
            raise serializers.ValidationError({"given_name": "A contact needs a name, a company or an email address."})
        return attrs


@extend_schema_field(OpenApiTypes.DATETIME)
class LocalDateTimeField(serializers.Field):
    """An ISO datetime; one without an offset is wall-clock time in the event's own zone (DST-safe)."""

    default_error_messages = {"invalid": "A datetime in ISO 8601, e.g. 2027-03-28T10:00:00 or 2027-03-28T10:00:00+01:00."}

    def to_internal_value(self, data: Any) -> dt.datetime:
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            return dt.datetime.fromisoformat(data)
        except ValueError:
            self.fail("invalid")

    def to_representation(self, value: dt.datetime | str) -> str:
        return value if isinstance(value, str) else value.isoformat()  # stored JSON keeps ISO text


class AttendeeSerializer(WholeValue, serializers.Serializer):
    email = StrictEmailField(max_length=254)
    name = line_field(255, default="")
    required = serializers.BooleanField(default=True)


class OccurrenceChangeSerializer(serializers.Serializer):
    original_start = LocalDateTimeField()
    start = LocalDateTimeField()
    end = LocalDateTimeField()


class RecurrenceSerializer(WholeValue, serializers.Serializer):
    frequency = serializers.ChoiceField(choices=[f.value for f in RecurrenceFrequency])
    interval = serializers.IntegerField(min_value=1, max_value=999, default=1)
    weekdays = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=7), max_length=7, default=list)
    start_date = serializers.DateField(required=False, allow_null=True, default=None)
    end_date = serializers.DateField(required=False, allow_null=True, default=None)
    count = serializers.IntegerField(min_value=1, max_value=999, required=False, allow_null=True, default=None)
    cancelled_occurrences = serializers.ListField(child=serializers.DateField(), max_length=999, default=list)
    changed_occurrences = OccurrenceChangeSerializer(many=True, default=list)

    def validate(self, attrs: dict) -> dict:
        if attrs.get("end_date") and attrs.get("count"):
            raise serializers.ValidationError({"count": "Give an end date or a count, not both."})
        if attrs.get("start_date") and attrs.get("end_date") and attrs["end_date"] < attrs["start_date"]:
            raise serializers.ValidationError({"end_date": "The series cannot end before it starts."})
        if attrs["frequency"] == RecurrenceFrequency.WEEKLY and not attrs.get("weekdays"):
            raise serializers.ValidationError({"weekdays": "A weekly series needs its weekdays (1=Monday … 7=Sunday)."})
        return attrs


class EventSerializer(serializers.ModelSerializer):
    subject = line_field(255)
    location = line_field(255)
    body = text_field()
    start = LocalDateTimeField()
    end = LocalDateTimeField()
    time_zone = StrictCharField(max_length=64, default="UTC", validators=[valid_time_zone])
    attendees = AttendeeSerializer(many=True, required=False, max_length=MAX_ATTENDEES)
    recurrence = RecurrenceSerializer(required=False, allow_null=True)

    class Meta:
        model = Event
        fields = ["id", "subject", "start", "end", "time_zone", "all_day", "location", "body", "attendees",
                  "recurrence", "cancelled", "send_invitations", "version", "modified_at"]  # fmt: skip
        read_only_fields = ["id", "version", "modified_at"]
        extra_kwargs = {
            "cancelled": {"help_text": "True removes the meeting from the mailbox's calendar (attendees get a "
                          "cancellation if they were invited); the CRM keeps it. False again re-creates it."},
            "send_invitations": {"help_text": "Invite the attendees when the event is written to the mailbox."},
        }

    def validate(self, attrs: dict) -> dict:
        instance = self.instance
        zone_name = attrs.get("time_zone") or getattr(instance, "time_zone", None) or "UTC"
        zone = zoneinfo.ZoneInfo(zone_name)
        all_day = attrs.get("all_day", getattr(instance, "all_day", False))
        start = self._in_zone(attrs.get("start", getattr(instance, "start", None)), zone, all_day)
        end = self._in_zone(attrs.get("end", getattr(instance, "end", None)), zone, all_day)
        if start is None or end is None:
            raise serializers.ValidationError({"start" if start is None else "end": "This field is required."})
        if end <= start:
            raise serializers.ValidationError({"end": "The end must be after the start."})
        attrs["start"], attrs["end"] = start, end
        recurrence = attrs.get("recurrence")
        if recurrence:
            for number, change in enumerate(recurrence.get("changed_occurrences") or ()):
                moved = {name: self._in_zone(change[name], zone, False) for name in ("original_start", "start", "end")}
                if moved["end"] <= moved["start"]:
                    raise serializers.ValidationError({"recurrence": {"changed_occurrences": {number: {"end": "The end must be after the start."}}}})
                change.update(moved)
        return attrs

    @staticmethod
    def _in_zone(value: dt.datetime | None, zone: zoneinfo.ZoneInfo, all_day: bool) -> dt.datetime | None:
        if value is None:
            return None
        local = value.replace(tzinfo=zone) if value.tzinfo is None else value.astimezone(zone)
        if all_day:  # all-day events run midnight to midnight in their own zone
            local = dt.datetime.combine(local.date(), dt.time(), tzinfo=zone)
        return local

    def to_representation(self, instance: Event) -> dict:
        data = super().to_representation(instance)
        zone = zoneinfo.ZoneInfo(instance.time_zone)
        data["start"], data["end"] = instance.start.astimezone(zone).isoformat(), instance.end.astimezone(zone).isoformat()
        data["attendees"], data["recurrence"] = instance.attendees, instance.recurrence
        return data
