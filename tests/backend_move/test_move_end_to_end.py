"""Moving a brokerage from EWS to Microsoft Graph (and back) against the simulator over HTTPS, with real workers.

A fleet of mailboxes is synced on EWS with items from both sides (the CRM's, pushed with our tag; the agent's,
pulled), an email waits for reconciliation; the move runs on a real maintenance worker while a sync worker and
the dispatcher run too. Afterwards: links name the Graph ids of the same items, nothing is duplicated or lost,
the following syncs on Graph change nothing, and the email is found sent — once.
"""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from backend_move.models import BackendMove, MailboxMove
from backend_move.moving import request_move, run_move
from brokerages.gateways import gateway_for_mailbox
from brokerages.models import Brokerage, Mailbox
from mailboxes.items import Collection, MessageFolder, OutgoingMessage
from outbox import sending
from outbox.models import OutgoingEmail
from scheduling.dispatch import dispatch
from sync.models import Contact, Event, FolderState, SyncLink
from tests.backend_move.move_support import graph_ids, sync, synced_fleet
from tests.fixtures.broker import wait_for
from tests.fixtures.crm import brokerage_for

pytestmark = pytest.mark.django_db(transaction=True)
FOLDERS = {Collection.CONTACTS: "contacts", Collection.CALENDAR: "calendar"}


def _email_awaiting_reconciliation(mailbox: Mailbox, subject: str, *, sent: bool) -> OutgoingEmail:
    """An email whose draft (and, if ``sent``, send request) reached Exchange over EWS, with the outcome never
    recorded: the worker was lost right after."""
    email = OutgoingEmail.objects.create(mailbox=mailbox, idempotency_key=subject, to=["ada@client.example"],
                                         subject=subject, text_body="See you there")
    gateway = gateway_for_mailbox(mailbox)
    draft = gateway.create_draft(mailbox.email, OutgoingMessage(subject, "See you there", ("ada@client.example",)),
                                 tag=str(email.pk))
    if sent:
        gateway.send_draft(mailbox.email, draft)
    OutgoingEmail.objects.filter(pk=email.pk).update(
        phase=OutgoingEmail.Phase.SEND_REQUESTED if sent else OutgoingEmail.Phase.DRAFT_CREATED,
        draft_id=draft.item_id, draft_version=draft.version or "", attempts=1,
        send_requested_at=timezone.now() - dt.timedelta(hours=1) if sent else None,
        not_before=timezone.now() + dt.timedelta(days=1))  # not swept during the test: sent by hand below
    return OutgoingEmail.objects.get(pk=email.pk)


def _snapshot(simulator, mailboxes) -> dict:
    """Per mailbox and folder: how many items each side holds (the CRM's live rows, the mailbox's items)."""
    shot = {}
    for mailbox in mailboxes:
        shot[mailbox.email] = (
            Contact.objects.filter(mailbox=mailbox, deleted_at=None).count(),
            Event.objects.filter(mailbox=mailbox, deleted_at=None).count(),
            len(simulator.list_items(mailbox.email, "contacts")), len(simulator.list_items(mailbox.email, "calendar")),
        )
    return shot


def _assert_moved_to_graph(simulator, brokerage, mailboxes, before) -> None:
    brokerage.refresh_from_db()
    assert brokerage.mailbox_backend == Brokerage.Backend.GRAPH
    # Links name exactly the ids Graph lists for the same folders: the items are matched, none left over.
    for mailbox in mailboxes:
        for collection in FOLDERS:
            links = set(SyncLink.objects.filter(mailbox=mailbox, collection=collection.value).values_list("remote_id", flat=True))
            assert links == graph_ids(mailbox, collection) and len(links) == 2
    # No lease of the move is left: every mailbox may sync, and is due now
    assert not Mailbox.objects.filter(brokerage=brokerage, lease_owner__startswith="backend-move").exists()
    # The first and second syncs on Graph change nothing: 0 duplicates and 0 lost on either side
    for mailbox in mailboxes:
        first, second = sync(mailbox.pk), sync(mailbox.pk)
        assert (first.pulled, first.pushed, second.pulled, second.pushed) == (0, 0, 0, 0)
        # on Graph's own delta state (the move dropped EWS's; the first Graph sync read each folder in full)
        watermarks = FolderState.objects.filter(mailbox=mailbox).values_list("watermark", flat=True)
        assert len(watermarks) == 2 and all(w.startswith(brokerage.graph_url) for w in watermarks)
    assert _snapshot(simulator, mailboxes) == before


def test_given_a_synced_ews_fleet_when_moved_to_graph_while_workers_run_then_nothing_is_duplicated_lost_or_resent(
    simulator, sim_tenant, worker_process
):
    # Given three mailboxes synced on EWS (items from both sides) and an email awaiting reconciliation
    brokerage, mailboxes = synced_fleet(simulator, sim_tenant)
    sent = _email_awaiting_reconciliation(mailboxes[0], "Your viewing", sent=True)
    draft = _email_awaiting_reconciliation(mailboxes[0], "Your offer", sent=False)
    before = _snapshot(simulator, mailboxes)
    assert before == {m.email: (2, 2, 2, 2) for m in mailboxes}
    # And workers running: the move's (maintenance) and the syncs' (the dispatcher is ticked below)
    worker_process(queues="maintenance,sync")
    Mailbox.objects.filter(brokerage=brokerage).update(next_sync_at=timezone.now())
    # When a credential manager's request moves the brokerage to Graph
    move = request_move(brokerage, Brokerage.Backend.GRAPH)

    def finished():
        dispatch()  # syncs keep being dispatched during the move; held mailboxes are not leased
        return BackendMove.objects.get(pk=move.pk).state == BackendMove.State.DONE

    wait_for(finished, "the move", timeout=120)
    # Then the run counted every mailbox and every stored id: 2 links per folder, and the unsent draft's id (the
    # sent one's EWS draft id names nothing since Exchange moved it to Sent Items: it is left to the reconciler)
    move.refresh_from_db()
    assert (move.mailboxes_done, move.mailboxes_total, move.ids_translated, move.ids_gone, move.emails_translated) == (
        3, 3, 12, 0, 1)
    assert set(MailboxMove.objects.filter(move=move).values_list("requests", flat=True)) == {1}
    wait_for(lambda: not Mailbox.objects.filter(brokerage=brokerage, lease_expires_at__gt=timezone.now()).exists(),
             "syncs dispatched after the switch to end")
    _assert_moved_to_graph(simulator, brokerage, mailboxes, before)
    # And the unsent draft's id is Graph's id of it; reconciled on Graph, each email goes out exactly once
    graph = gateway_for_mailbox(Mailbox.objects.get(pk=mailboxes[0].pk))
    draft.refresh_from_db()
    (found,) = graph.find_messages_by_tag(mailboxes[0].email, MessageFolder.DRAFTS, str(draft.pk))
    assert draft.draft_id == found.ref.item_id
    OutgoingEmail.objects.filter(pk__in=[sent.pk, draft.pk]).update(not_before=timezone.now())
    assert [sending.send(str(e.pk), gateway_for_mailbox) for e in (sent, draft)] == ["sent", "sent"]
    subjects = sorted(m.get("subject") for m in simulator.outbound(mailboxes[0].email))
    assert subjects == ["Your offer", "Your viewing"]


def test_given_a_move_whose_worker_is_sigkilled_midway_when_a_worker_returns_then_it_resumes_and_ends_the_same(
    simulator, sim_tenant, worker_process
):
    # Given a synced EWS fleet and a worker that dies right after moving its first mailbox
    brokerage, mailboxes = synced_fleet(simulator, sim_tenant)
    before = _snapshot(simulator, mailboxes)
    doomed = worker_process(queues="maintenance", failpoints="backend_move.after_mailbox=kill")
    move = request_move(brokerage, Brokerage.Backend.GRAPH)
    wait_for(lambda: doomed.process.poll() is not None, "the worker to die at the failpoint")
    # Then one mailbox is done and stays held (no sync may run on its translated ids), the brokerage is still on EWS
    (done,) = MailboxMove.objects.filter(move=move, done_at__isnull=False)
    held = Mailbox.objects.get(pk=done.mailbox_id)
    assert held.lease_owner == f"backend-move:{move.pk}" and held.lease_expires_at > timezone.now() + dt.timedelta(days=1)
    Mailbox.objects.exclude(pk=held.pk).update(next_sync_at=timezone.now() + dt.timedelta(days=1))
    Mailbox.objects.filter(pk=held.pk).update(next_sync_at=timezone.now())
    assert dispatch().leased == 0  # due, yet not leased: the dead move's hold outlives its worker
    assert set(FolderState.objects.filter(mailbox=held).values_list("watermark", flat=True)) == {""}
    assert set(SyncLink.objects.filter(mailbox=held).values_list("remote_id", flat=True)) == (
        graph_ids(held, Collection.CONTACTS, backend="graph") | graph_ids(held, Collection.CALENDAR, backend="graph"))
    brokerage.refresh_from_db()
    assert brokerage.mailbox_backend == Brokerage.Backend.EWS
    # And edits in flight while the move is stopped: a CRM edit of the held mailbox's contact, an Outlook edit in
    # a mailbox not moved yet
    crm_contact = Contact.objects.get(mailbox=held, given_name="Crm")
    crm_contact.job_title = "Seller"
    crm_contact.save()
    waiting = next(m for m in mailboxes if m.pk != held.pk and not MailboxMove.objects.filter(
        move=move, mailbox=m, done_at__isnull=False).exists())
    (outlook_item,) = [i for i in simulator.list_items(waiting.email, "contacts") if i["fields"].get("given_name") == "Agent"]
    simulator.user_update(waiting.email, outlook_item["id"], {"job_title": "Landlord"})
    # When a healthy worker takes the redelivered task
    worker_process(queues="maintenance")
    wait_for(lambda: BackendMove.objects.get(pk=move.pk).state == BackendMove.State.DONE, "the resumed move", timeout=120)
    # Then it ended as an uninterrupted move does: every id translated once, none mistaken for gone
    move.refresh_from_db()
    assert (move.mailboxes_done, move.ids_translated, move.ids_gone, move.attempts) == (3, 12, 0, 2)
    # And the first syncs on Graph carry each edit across, once
    pushed, pulled = sync(held.pk), sync(waiting.pk)
    assert (pushed.pulled, pushed.pushed, pulled.pulled, pulled.pushed) == (0, 1, 1, 0)
    assert [i["fields"].get("job_title") for i in simulator.list_items(held.email, "contacts")
            if i["fields"].get("given_name") == "Crm"] == ["Seller"]
    assert Contact.objects.get(mailbox=waiting, given_name="Agent").job_title == "Landlord"
    _assert_moved_to_graph(simulator, brokerage, mailboxes, before)


def test_given_a_tenant_without_graph_permissions_when_moved_then_the_move_is_refused_and_nothing_changes(
    simulator, sim_tenant
):
    # Given a brokerage synced on EWS whose app has no Graph application permissions
    tenant = sim_tenant(mailboxes=1, graph_roles=())
    brokerage = brokerage_for(tenant)
    mailbox = Mailbox.objects.create(brokerage=brokerage, email=tenant.mailboxes[0], display_name="Agent")
    Contact(mailbox=mailbox, given_name="Kept", surname="OnEws").save()
    sync(mailbox.pk)
    links = list(SyncLink.objects.values_list("remote_id", flat=True))
    # When staff run the command to move it to Graph
    with pytest.raises(CommandError, match="did not finish"):
        call_command("move_backend", "--to", "graph", "--brokerage", str(brokerage.pk), "--in-process")
    # Then the move is refused with what failed, and the brokerage, its links and watermarks are untouched
    (move,) = BackendMove.objects.filter(brokerage=brokerage)
    assert move.state == BackendMove.State.REFUSED and "Microsoft Graph does not verify" in move.error
    brokerage.refresh_from_db()
    assert brokerage.mailbox_backend == Brokerage.Backend.EWS
    assert list(SyncLink.objects.values_list("remote_id", flat=True)) == links
    assert FolderState.objects.exclude(watermark="").count() == 2  # contacts and calendar keep their EWS state
    assert not Mailbox.objects.filter(lease_owner__startswith="backend-move").exists()


def test_given_a_brokerage_moved_to_graph_when_moved_back_to_ews_then_links_name_the_ews_ids_again(simulator, sim_tenant):
    # Given a fleet moved from EWS to Graph (in process, as the command's --in-process does)
    brokerage, mailboxes = synced_fleet(simulator, sim_tenant, size=1)
    ews_links = set(SyncLink.objects.values_list("remote_id", flat=True))
    run_move(request_move(brokerage, Brokerage.Backend.GRAPH).pk)
    assert not set(SyncLink.objects.values_list("remote_id", flat=True)) & ews_links
    # When it is moved back (an on-premises migration)
    out = io.StringIO()
    call_command("move_backend", "--to", "ews", "--all-graph", "--in-process", stdout=out)
    # Then the command printed the move's progress and its end
    assert "graph→ews: done, mailboxes 1/1, ids translated 4, gone 0" in out.getvalue()
    assert out.getvalue().rstrip().endswith("1 move(s) done.")
    # And the links hold the EWS ids again and a sync on EWS finds nothing to do
    brokerage.refresh_from_db()
    assert brokerage.mailbox_backend == Brokerage.Backend.EWS
    assert set(SyncLink.objects.values_list("remote_id", flat=True)) == ews_links
    result = sync(mailboxes[0].pk)
    assert (result.pulled, result.pushed) == (0, 0)


def test_given_graph_throttles_the_translation_when_moved_then_the_move_waits_it_out_and_finishes(simulator, sim_tenant):
    # Given a synced EWS mailbox and Graph answering the first translateExchangeIds with 503 Retry-After: 1
    brokerage, mailboxes = synced_fleet(simulator, sim_tenant, size=1)
    simulator.add_fault("server_busy", mailbox=mailboxes[0].email, operation="translate_exchange_ids",
                        back_off_ms=1000, count=1)
    translations = simulator.stats().get("graph_operation", {}).get("translate_exchange_ids", 0)
    # When it is moved to Graph
    move = request_move(brokerage, Brokerage.Backend.GRAPH)
    assert run_move(move.pk) == BackendMove.State.DONE
    # Then the throttled request was answered 503 Retry-After once, retried, and every id translated
    assert [f["fired"] for f in simulator.faults()] == [1]
    assert simulator.stats()["graph_operation"]["translate_exchange_ids"] == translations + 2  # the throttled one, and its retry
    move.refresh_from_db()
    assert (move.ids_translated, move.ids_gone, move.error) == (4, 0, "")


def test_given_graph_without_permissions_when_a_graph_brokerage_moves_back_to_ews_then_it_is_refused(simulator, sim_tenant):
    # Given a brokerage on Graph whose app lost its Graph permissions (ids are translated through Graph)
    tenant = sim_tenant(mailboxes=1, graph_roles=())
    brokerage = brokerage_for(tenant, mailbox_backend=Brokerage.Backend.GRAPH)
    # When it is moved back to EWS, which itself verifies
    move = request_move(brokerage, Brokerage.Backend.EWS)
    # Then the move is refused, naming Graph, and the brokerage stays on Graph
    assert run_move(move.pk) == BackendMove.State.REFUSED
    assert "Microsoft Graph does not verify" in BackendMove.objects.get(pk=move.pk).error
    assert Brokerage.objects.get(pk=brokerage.pk).mailbox_backend == Brokerage.Backend.GRAPH
