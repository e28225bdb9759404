"""A move stopped midway — by a sync holding a mailbox, by a crash in the move's own code — resumes and ends the same;
a mailbox added meanwhile is moved before the switch."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.contrib import admin
from django.utils import timezone

from backend_move.models import BackendMove
from backend_move.moving import request_move, run_move
from brokerages.mailbox_admin import MailboxAdmin
from brokerages.models import Brokerage, Mailbox
from engage_sync import failpoints
from mailboxes.items import Collection
from sync.models import Contact, SyncLink
from tests.backend_move.move_support import graph_ids, sync, synced_fleet

pytestmark = pytest.mark.django_db(transaction=True)


def _links_are_graphs(mailbox: Mailbox) -> bool:
    links = set(SyncLink.objects.filter(mailbox=mailbox).values_list("remote_id", flat=True))
    return bool(links) and links == graph_ids(mailbox, Collection.CONTACTS) | graph_ids(mailbox, Collection.CALENDAR)


def test_given_a_sync_holding_a_mailbox_when_the_move_waits_too_long_then_it_stops_and_resumes_when_asked_again(
    simulator, sim_tenant, settings
):
    # Given a synced EWS mailbox whose sync lease a running sync holds, and a move that waits 1 s for it
    settings.BACKEND_MOVE_LEASE_WAIT_SECONDS = 1
    brokerage, (mailbox,) = synced_fleet(simulator, sim_tenant, size=1)
    sync_lease = uuid.uuid4()
    Mailbox.objects.filter(pk=mailbox.pk).update(lease_token=sync_lease, lease_expires_at=timezone.now() + dt.timedelta(minutes=5))
    # When the move runs
    move = request_move(brokerage, Brokerage.Backend.GRAPH)
    # Then it stops, saying which mailbox a sync held, and leaves the sync's lease and the brokerage alone
    assert run_move(move.pk) == BackendMove.State.FAILED
    move.refresh_from_db()
    assert f"Mailbox {mailbox.pk} stayed leased by a sync" in move.error
    assert Mailbox.objects.get(pk=mailbox.pk).lease_token == sync_lease
    assert Brokerage.objects.get(pk=brokerage.pk).mailbox_backend == Brokerage.Backend.EWS
    # When the sync has ended and the move is asked for again
    Mailbox.objects.filter(pk=mailbox.pk).update(lease_token=None, lease_expires_at=None)
    again = request_move(brokerage, Brokerage.Backend.GRAPH)
    # Then the same move resumes and finishes
    assert again.pk == move.pk and run_move(move.pk) == BackendMove.State.DONE
    assert _links_are_graphs(mailbox)


def test_given_a_move_crashed_after_a_mailbox_when_a_mailbox_is_added_and_it_resumes_then_both_are_moved(
    simulator, sim_tenant, monkeypatch
):
    # Given two synced EWS mailboxes and a move that crashes (a bug, say) right after its first mailbox
    tenant_brokerage, mailboxes = synced_fleet(simulator, sim_tenant, size=2)
    monkeypatch.setitem(failpoints._ACTIVE, "backend_move.after_mailbox", "raise")
    move = request_move(tenant_brokerage, Brokerage.Backend.GRAPH)
    with pytest.raises(failpoints.FailpointTriggered):
        run_move(move.pk)
    # (its first mailbox stays held, and the mailbox list says so)
    (held,) = Mailbox.objects.filter(lease_owner=f"backend-move:{move.pk}")
    assert MailboxAdmin(Mailbox, admin.site).next_sync(held) == "held by a backend move"
    # And, while it is stopped, a third mailbox of the brokerage is added and synced (on EWS: not switched yet)
    address = simulator.create_mailboxes(str(tenant_brokerage.tenant_id), [f"late@{tenant_brokerage.email_domains[0]}"])[0]
    late = Mailbox.objects.create(brokerage=tenant_brokerage, email=address, display_name="Late")
    Contact(mailbox=late, given_name="Late", surname="Joiner").save()
    sync(late.pk)
    # When the move resumes
    monkeypatch.delitem(failpoints._ACTIVE, "backend_move.after_mailbox")
    assert run_move(move.pk) == BackendMove.State.DONE
    # Then every mailbox, the late one included, links Graph's ids; each was translated once
    move.refresh_from_db()
    assert (move.mailboxes_done, move.mailboxes_total, move.ids_translated, move.ids_gone) == (3, 3, 9, 0)
    assert all(_links_are_graphs(m) for m in [*mailboxes, late])
    # And the first sync on Graph of the late mailbox changes nothing
    result = sync(late.pk)
    assert (result.pulled, result.pushed) == (0, 0)


def test_given_a_move_crashed_between_translating_and_storing_when_it_resumes_then_the_mailbox_is_translated_afresh(
    simulator, sim_tenant, monkeypatch
):
    # Given a synced EWS mailbox and a move that crashes after translateExchangeIds answered, before its commit
    brokerage, (mailbox,) = synced_fleet(simulator, sim_tenant, size=1)
    ews_links = set(SyncLink.objects.values_list("remote_id", flat=True))
    monkeypatch.setitem(failpoints._ACTIVE, "backend_move.after_translate", "raise")
    move = request_move(brokerage, Brokerage.Backend.GRAPH)
    with pytest.raises(failpoints.FailpointTriggered):
        run_move(move.pk)
    # Then nothing of the translation is stored: the links still name the EWS ids, the mailbox is not done, yet held
    assert set(SyncLink.objects.values_list("remote_id", flat=True)) == ews_links
    assert BackendMove.objects.get(pk=move.pk).mailboxes_done == 0
    assert Mailbox.objects.get(pk=mailbox.pk).lease_owner == f"backend-move:{move.pk}"
    # When it resumes, the EWS ids are translated again and stored once
    monkeypatch.delitem(failpoints._ACTIVE, "backend_move.after_translate")
    assert run_move(move.pk) == BackendMove.State.DONE
    move.refresh_from_db()
    assert (move.mailboxes_done, move.ids_translated, move.ids_gone) == (1, 4, 0)
    assert _links_are_graphs(mailbox)


def test_given_a_move_crashed_before_its_first_mailbox_was_stored_when_graph_no_longer_verifies_then_it_lets_go(
    simulator, sim_tenant, monkeypatch
):
    # Given a move that crashed after taking its first mailbox's lease, before storing anything
    brokerage, (mailbox,) = synced_fleet(simulator, sim_tenant, size=1)
    monkeypatch.setitem(failpoints._ACTIVE, "backend_move.after_translate", "raise")
    move = request_move(brokerage, Brokerage.Backend.GRAPH)
    with pytest.raises(failpoints.FailpointTriggered):
        run_move(move.pk)
    monkeypatch.delitem(failpoints._ACTIVE, "backend_move.after_translate")
    # And the tenant's administrator revoked the Graph permissions meanwhile
    roles = ["Contacts.ReadWrite", "Calendars.ReadWrite", "Mail.ReadWrite", "Mail.Send"]
    simulator.update_app(str(brokerage.tenant_id), str(brokerage.client_id), graph_roles={role: None for role in roles})
    # When the move resumes
    assert run_move(move.pk) == BackendMove.State.REFUSED
    # Then it is refused and lets the mailbox go: it syncs on EWS as before, nothing was translated
    assert not Mailbox.objects.filter(lease_owner__startswith="backend-move").exists()
    assert Brokerage.objects.get(pk=brokerage.pk).mailbox_backend == Brokerage.Backend.EWS
    result = sync(mailbox.pk)
    assert (result.pulled, result.pushed) == (0, 0)
