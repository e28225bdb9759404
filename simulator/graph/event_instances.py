"""What a calendar shows in a window: single events, and the occurrences and exceptions of series (never masters).

One ``Instance`` is what Graph renders as one event: a stored item (single or series master), or one occurrence of
a series with its exception's overrides merged in. The store keeps occurrences implicitly (pattern, modified and
deleted occurrences on the master), as EWS does; a cancelled (deleted) occurrence is simply not there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from simulator.mailstore import Item
from simulator.mailstore.recurrence import occurrences

_SERIES_ONLY = ("recurrence", "modified_occurrences", "deleted_occurrences")


def parse_z(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def z(value: datetime) -> str:
    """The store's instant text ("...Z", whole seconds); isoformat, as strftime costs several times more."""
    return value.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat() + "Z"


@dataclass(slots=True)
class Instance:
    """One event as Graph shows it; ``original`` is set for an occurrence or exception of a series."""

    item: Item
    original: datetime | None
    start: datetime
    end: datetime
    overrides: dict[str, Any] | None = None
    # Identity within the mailbox: (store item id, original start or ""); computed once, deltas compare it a lot.
    key: tuple[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.key = (self.item.id, z(self.original) if self.original is not None else "")

    @property
    def type(self) -> str:
        """Graph's eventType."""
        if self.original is not None:
            return "exception" if self.overrides else "occurrence"
        return "seriesMaster" if self.item.fields.get("recurrence") else "singleInstance"

    @property
    def fields(self) -> dict[str, Any]:
        """The fields to render: the item's, or the master's without its series data plus the exception's."""
        if self.original is None:
            return self.item.fields
        merged = {k: v for k, v in self.item.fields.items() if k not in _SERIES_ONLY}
        merged.update({k: v for k, v in (self.overrides or {}).items() if k not in ("start", "end")})
        return merged


def of_item(item: Item) -> Instance:
    """The item itself (a single event or a series master)."""
    return Instance(item, None, parse_z(item.fields["start"]), parse_z(item.fields["end"]))


def occurrence(master: Item, original: datetime) -> Instance | None:
    """The occurrence of a series that originally starts at `original`, or None (not in the pattern, or cancelled)."""
    fields = master.fields
    if not fields.get("recurrence") or z(original) in (fields.get("deleted_occurrences") or []):
        return None
    length = parse_z(fields["end"]) - parse_z(fields["start"])
    # Expand the pattern alone (exceptions may have moved anywhere) around the original start.
    pattern_only = {**fields, "modified_occurrences": {}, "deleted_occurrences": []}
    found = [o for o in occurrences(pattern_only, original - timedelta(seconds=1), original + length + timedelta(seconds=1))
             if o.original_start == original]
    if not found:
        return None
    overrides = (fields.get("modified_occurrences") or {}).get(z(original))
    start, end = original, original + length
    if overrides:
        start = parse_z(overrides.get("start", z(original)))
        end = parse_z(overrides["end"]) if "end" in overrides else start + length
    return Instance(master, original, start, end, overrides or None)


def _overlaps(start: datetime, end: datetime, window_start: datetime, window_end: datetime) -> bool:
    if start == end:  # a zero-length event belongs to the window its instant falls in
        return window_start <= start < window_end
    return start < window_end and end > window_start


def in_window(items: Iterable[Item], window_start: datetime, window_end: datetime) -> list[Instance]:
    """The single events, occurrences and exceptions overlapping the window, by start then id (masters never)."""
    found: list[Instance] = []
    for item in items:
        if item.kind != "event":
            continue
        fields = item.fields
        if fields.get("recurrence"):
            found.extend(Instance(item, o.original_start, o.start, o.end, o.overrides or None)
                         for o in occurrences(fields, window_start, window_end))
        else:
            single = of_item(item)
            if _overlaps(single.start, single.end, window_start, window_end):
                found.append(single)
    found.sort(key=lambda instance: (instance.start, instance.key))
    return found


def instances_of(master: Item, window_start: datetime, window_end: datetime) -> list[Instance]:
    """The occurrences and exceptions of one series overlapping the window, by start."""
    return in_window([master], window_start, window_end) if master.fields.get("recurrence") else []
