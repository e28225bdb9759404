"""A brokerage on Microsoft Graph synced by the fleet: beat's dispatcher, the real broker, a real worker process, the
engine and the Graph gateway over HTTPS to the simulator. Contacts and events go both ways; the dispatcher holds the
brokerage to Graph's 4 concurrent requests; a sync with nothing to do costs one delta request per folder and no
token request."""

import datetime as dt
import time
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from brokerages.models import Mailbox
from scheduling import dispatch
from scheduling.models import SyncRun
from sync.models import Contact, Event, SyncLink
from tests.fixtures.crm import brokerage_for

pytestmark = pytest.mark.django_db(transaction=True)
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
MAILBOXES = 6


def _ok_runs(mailboxes, since) -> int:
    return SyncRun.objects.filter(mailbox__in=mailboxes, outcome=SyncRun.Outcome.OK, started_at__gt=since).values(
        "mailbox").distinct().count()


def _sync_all(mailboxes, timeout: float = 120) -> None:
    """Make every mailbox due and tick the dispatcher as beat would until each has a new successful run."""
    since = timezone.now()
    Mailbox.objects.filter(pk__in=[m.pk for m in mailboxes]).update(next_sync_at=since - dt.timedelta(seconds=1))
    deadline = time.monotonic() + timeout
    while _ok_runs(mailboxes, since) < len(mailboxes):
        assert time.monotonic() < deadline, list(SyncRun.objects.filter(started_at__gt=since).values_list(
            "mailbox__email", "outcome", "error_class"))
        dispatch.dispatch()
        time.sleep(0.3)
    time.sleep(0.5)  # the last run's lease released, so the next round starts from a quiet fleet


def test_a_graph_brokerage_syncs_both_ways_through_a_worker_within_graphs_cap_and_then_costs_one_delta_a_folder(
    sim_tenant, simulator, worker_process
):
    # Given a brokerage on Graph (its own cap 10, above Graph's 4) with six agents, each with a contact and an
    # event in Outlook and another of each in the CRM
    tenant = sim_tenant(mailboxes=MAILBOXES)
    brokerage = brokerage_for(tenant, "Graph Realty", mailbox_backend="graph", max_mailboxes_in_flight=10,
                              sync_interval_seconds=3600)  # fmt: skip
    mailboxes = []
    for n, address in enumerate(tenant.mailboxes):
        simulator.seed_contacts(address, [{"given_name": "Outlook", "surname": f"Client{n}"}])
        simulator.seed_events(address, [{"subject": f"Outlook viewing {n}", "start": "2027-02-01T09:00:00Z",
                                         "end": "2027-02-01T10:00:00Z", "start_tz": "W. Europe Standard Time",
                                         "end_tz": "W. Europe Standard Time"}])  # fmt: skip
        mailbox = Mailbox.objects.create(brokerage=brokerage, email=address, next_sync_at=timezone.now() + dt.timedelta(hours=1))
        Contact(mailbox=mailbox, given_name="Crm", surname=f"Client{n}").save()
        Event(mailbox=mailbox, subject=f"CRM viewing {n}", start=dt.datetime(2027, 2, 2, 10, tzinfo=AMSTERDAM),
              end=dt.datetime(2027, 2, 2, 11, tzinfo=AMSTERDAM), time_zone="Europe/Amsterdam").save()
        mailboxes.append(mailbox)
    worker_process(queues="sync")
    # When beat's dispatcher first ticks with all six due
    Mailbox.objects.filter(brokerage=brokerage).update(next_sync_at=timezone.now() - dt.timedelta(seconds=1))
    first_tick = dispatch.dispatch()
    # Then it leases four, Graph's concurrency cap, not the brokerage's ten
    assert first_tick.leased == 4
    # When the fleet syncs them all, and once more (confirming our writes)
    _sync_all(mailboxes)
    _sync_all(mailboxes)
    # Then each side holds both contacts and both events of each agent, once, linked, and nothing was sent
    for n, mailbox in enumerate(mailboxes):
        crm_contacts = sorted(Contact.objects.filter(mailbox=mailbox).values_list("given_name", flat=True))
        crm_events = sorted(Event.objects.filter(mailbox=mailbox).values_list("subject", flat=True))
        assert (crm_contacts, crm_events) == (["Crm", "Outlook"], [f"CRM viewing {n}", f"Outlook viewing {n}"])
        outlook_contacts = sorted(i["fields"]["given_name"] for i in simulator.list_items(mailbox.email, "contacts"))
        outlook_events = sorted(i["fields"]["subject"] for i in simulator.list_items(mailbox.email, "calendar"))
        assert (outlook_contacts, outlook_events) == (crm_contacts, crm_events)
        assert SyncLink.objects.filter(mailbox=mailbox).count() == 4
    assert simulator.outbound(tenant.mailboxes[0]) == []
    # When nothing changed and every mailbox syncs again
    before = simulator.stats()
    _sync_all(mailboxes)
    after = simulator.stats()
    # Then each mailbox cost exactly one contacts delta and one calendarView delta, and no token was requested
    requests = {address: after["graph_mailbox"].get(address, 0) - before["graph_mailbox"].get(address, 0)
                for address in tenant.mailboxes}  # fmt: skip
    assert requests == dict.fromkeys(tenant.mailboxes, 2)
    operations = {op: n - before["graph_operation"].get(op, 0) for op, n in after["graph_operation"].items()
                  if n != before["graph_operation"].get(op, 0)}  # fmt: skip
    assert operations == {"contacts_delta": MAILBOXES, "calendar_view_delta": MAILBOXES}
    assert after.get("token_tenant", {}).get(tenant.tenant_id) == before.get("token_tenant", {}).get(tenant.tenant_id)
