"""The brokerage list's "Move to Microsoft Graph" action (credential managers only) and the progress list staff see."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from backend_move.models import BackendMove
from brokerages.models import Brokerage, Mailbox
from mailboxes.items import Collection
from sync.models import Contact, SyncLink
from tests.backend_move.move_support import graph_ids, sync
from tests.fixtures.broker import wait_for
from tests.fixtures.crm import brokerage_for

pytestmark = pytest.mark.django_db(transaction=True)
CHANGELIST = "admin:brokerages_brokerage_changelist"


def _said(response) -> str:
    return " ".join(str(m) for m in response.context["messages"])


def test_given_a_credential_manager_when_they_move_a_brokerage_to_graph_then_staff_watch_it_finish(
    client, simulator, sim_tenant, credential_manager, operator, celery_worker
):
    # Given a brokerage synced on EWS
    tenant = sim_tenant(mailboxes=1)
    brokerage = brokerage_for(tenant)
    mailbox = Mailbox.objects.create(brokerage=brokerage, email=tenant.mailboxes[0], display_name="Agent")
    Contact(mailbox=mailbox, given_name="Moved", surname="ByStaff").save()
    sync(mailbox.pk)
    # When a credential manager chooses "Move to Microsoft Graph" in the brokerage list
    client.force_login(credential_manager)
    response = client.post(reverse(CHANGELIST), {"action": "move_to_graph", "_selected_action": [brokerage.pk]},
                           follow=True)
    # Then they are told it is queued and what happens, and the worker carries it out
    assert "Move to Microsoft Graph queued for Simulated Realty" in _said(response) and "verified first" in _said(response)
    wait_for(lambda: BackendMove.objects.get(brokerage=brokerage).state == BackendMove.State.DONE, "the move", timeout=60)
    assert Brokerage.objects.get(pk=brokerage.pk).mailbox_backend == Brokerage.Backend.GRAPH
    assert set(SyncLink.objects.values_list("remote_id", flat=True)) == graph_ids(mailbox, Collection.CONTACTS)
    # And an operator sees the move in the progress list: direction, state, mailboxes done of total
    client.force_login(operator)
    page = client.get(reverse("admin:backend_move_backendmove_changelist")).content.decode()
    assert "EWS → Microsoft Graph" in page and "Done" in page and "1 / 1" in page


def test_given_an_operator_when_they_try_to_move_a_brokerage_then_it_is_refused(client, operator, brokerage):
    # Given an operator (who never handles credentials)
    client.force_login(operator)
    # When they choose "Move to Microsoft Graph"
    response = client.post(reverse(CHANGELIST), {"action": "move_to_graph", "_selected_action": [brokerage.pk]},
                           follow=True)
    # Then they are told only credential managers may, and no move exists
    assert "Only credential managers may move a brokerage" in _said(response)
    assert not BackendMove.objects.exists()


def test_given_a_brokerage_already_on_graph_when_moved_to_graph_then_staff_are_told_and_nothing_is_queued(
    client, credential_manager, brokerage
):
    Brokerage.objects.filter(pk=brokerage.pk).update(mailbox_backend=Brokerage.Backend.GRAPH)
    client.force_login(credential_manager)
    response = client.post(reverse(CHANGELIST), {"action": "move_to_graph", "_selected_action": [brokerage.pk]},
                           follow=True)
    assert "is on Microsoft Graph already" in _said(response)
    assert not BackendMove.objects.exists()


def test_given_workers_when_the_command_queues_a_move_without_waiting_then_it_returns_and_a_worker_finishes_it(
    simulator, sim_tenant, celery_worker
):
    # Given a brokerage on EWS
    brokerage = brokerage_for(sim_tenant(mailboxes=1))
    # When the command queues its move with --no-wait
    out = io.StringIO()
    call_command("move_backend", "--to", "graph", "--brokerage", str(brokerage.pk), "--no-wait", stdout=out)
    # Then it says so and returns, and a worker carries the move out
    assert out.getvalue().strip() == "1 move(s) queued."
    wait_for(lambda: BackendMove.objects.get(brokerage=brokerage).state == BackendMove.State.DONE, "the move", timeout=60)
    assert Brokerage.objects.get(pk=brokerage.pk).mailbox_backend == Brokerage.Backend.GRAPH
