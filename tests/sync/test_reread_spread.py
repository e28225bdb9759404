"""The calendars' periodic full read comes due spread over a period, not for every mailbox on one day (pure)."""

import datetime as dt


def test_the_periodic_full_read_is_spread_over_a_second_period_by_mailbox(settings):
    from sync.engine import calendar_reread_due
    from sync.models import FolderState

    # Given 1,000 calendars whose last full read was at the same moment (onboarded together)
    settings.SYNC_CALENDAR_REREAD_DAYS = 14
    read_at = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    states = [FolderState(mailbox_id=n, collection="calendar", first_sync_done=True, last_full_sync_at=read_at)
              for n in range(1, 1001)]

    def due_on(day: int) -> int:
        return sum(calendar_reread_due(state, read_at + dt.timedelta(days=day)) for state in states)

    # Then none is due before 14 days, all are by 28, and they come due over those two weeks, not in one day
    assert (due_on(13), due_on(28)) == (0, 1000)
    per_day = [due_on(day + 1) - due_on(day) for day in range(14, 28)]
    assert max(per_day) < 120 and min(per_day) > 30
    # And never with the setting off, nor before a first sync
    settings.SYNC_CALENDAR_REREAD_DAYS = 0
    assert due_on(100) == 0
    settings.SYNC_CALENDAR_REREAD_DAYS = 14
    assert not calendar_reread_due(FolderState(mailbox_id=1, last_full_sync_at=None), read_at)
