"""The calendar sync window: which mailbox events are imported into the CRM (e.g. past 90 days to 2 years ahead)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sync.content import Content


@dataclass(frozen=True)
class CalendarWindow:
    """Events ending before ``now - past`` or starting after ``now + future`` are not imported.

    A series is in the window unless its range ended before it. Linked events and events we created keep
    syncing wherever they fall: the window limits what history is copied, it never deletes.
    """

    past: dt.timedelta = dt.timedelta(days=90)
    future: dt.timedelta = dt.timedelta(days=730)

    def covers(self, content: Content, now: dt.datetime) -> bool:
        canonical = content.canonical
        earliest, latest = (now - self.past).date().isoformat(), (now + self.future).date().isoformat()
        start, end = canonical.get("start"), canonical.get("end")
        recurrence = canonical.get("recurrence")
        if recurrence is not None:
            ends = recurrence.get("end_date")
            return (ends is None or ends >= earliest) and (start is None or start[:10] <= latest)
        # Canonical instants are UTC ISO text and all-day days ISO dates: their first ten characters compare.
        return (end is None or end[:10] >= earliest) and (start is None or start[:10] <= latest)
