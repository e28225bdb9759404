"""Operators see status but never credentials; credential managers change them; both are on record."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from brokerages.audit import credential_actor
from brokerages.models import Brokerage, CredentialAuditEntry, Mailbox
from brokerages.roles import CREDENTIAL_MANAGERS, OPERATORS

from .conftest import PLAINTEXT_SECRET, change_form_data, operator_form_data

NEW_SECRET = "Nw9S~brand.new-secret_value-0123456789ab"
CREDENTIAL_INPUT_NAMES = ("new_client_secret", "new_pending_client_secret", "new_certificate", "clear_client_secret")


def test_the_data_migration_created_both_roles_with_their_permissions(db):
    operators = set(Group.objects.get(name=OPERATORS).permissions.values_list("codename", flat=True))
    managers = set(Group.objects.get(name=CREDENTIAL_MANAGERS).permissions.values_list("codename", flat=True))
    assert {"view_brokerage", "view_mailbox", "add_mailbox", "view_credentialauditentry"} <= operators
    assert {"view_syncconflict", "view_folderstate", "view_outgoingemail", "change_brokeragesyncsettings"} <= operators
    assert not {"view_contact", "view_event"} & operators
    assert "change_brokerage_credentials" not in operators
    assert "add_brokerage" not in operators
    assert {"change_brokerage_credentials", "add_brokerage"} <= managers


def test_operator_sees_status_but_no_credential_inputs(client, operator, make_brokerage):
    # Given an operator
    brokerage = make_brokerage()
    client.force_login(operator)

    # When they open the brokerage, then they see its status and secret state but no credential input
    html = client.get(reverse("admin:brokerages_brokerage_change", args=[brokerage.pk])).content.decode()
    assert "set, expires in 365 day(s)" in html
    assert 'name="name"' in html
    for name in (*CREDENTIAL_INPUT_NAMES, "tenant_id", "client_id", "authority_host", "ews_url"):
        assert f'name="{name}"' not in html
    assert PLAINTEXT_SECRET not in html
    # ... and they cannot add a brokerage (that means entering credentials)
    assert client.get(reverse("admin:brokerages_brokerage_add")).status_code == 403


def test_operator_posting_a_secret_is_refused_and_the_attempt_audited(client, operator, make_brokerage):
    # Given an operator who crafts a POST with a new secret and a new authority host
    brokerage = make_brokerage()
    client.force_login(operator)
    data = operator_form_data(brokerage, new_client_secret=NEW_SECRET, authority_host="https://evil.example.com")

    # When it is sent
    response = client.post(reverse("admin:brokerages_brokerage_change", args=[brokerage.pk]), data)

    # Then it is forbidden, nothing changed, and the refusal is on record with who and which fields
    assert response.status_code == 403
    stored = Brokerage.objects.get(pk=brokerage.pk)
    assert stored.client_secret.reveal() == PLAINTEXT_SECRET
    assert stored.authority_host == "https://login.microsoftonline.com"
    entry = CredentialAuditEntry.objects.get(action="denied")
    assert entry.actor == operator
    assert entry.brokerage == brokerage
    assert entry.changes == {"client_secret": "refused", "authority_host": "refused"}
    assert NEW_SECRET not in str(entry.changes)


def test_operator_may_edit_non_credential_fields_which_the_admin_history_records(client, operator, make_brokerage):
    # Given an operator pausing a brokerage
    brokerage = make_brokerage()
    client.force_login(operator)
    data = operator_form_data(brokerage, status="paused")

    # When they save
    response = client.post(reverse("admin:brokerages_brokerage_change", args=[brokerage.pk]), data)

    # Then the status changed, the history says who changed which field, and no credential changed
    assert response.status_code == 302
    assert Brokerage.objects.get(pk=brokerage.pk).status == "paused"
    log = LogEntry.objects.get(object_id=str(brokerage.pk))
    assert log.user == operator
    assert "Status" in log.get_change_message()
    assert not CredentialAuditEntry.objects.exclude(action="created").exists()


def test_credential_manager_changes_the_secret_and_the_change_is_audited(client, credential_manager, make_brokerage):
    # Given a credential manager entering the brokerage's new secret
    brokerage = make_brokerage()
    client.force_login(credential_manager)
    data = change_form_data(brokerage, new_client_secret=NEW_SECRET)

    # When they save
    response = client.post(reverse("admin:brokerages_brokerage_change", args=[brokerage.pk]), data)

    # Then the new secret is stored, and the audit log has who, when and which field (not the value)
    assert response.status_code == 302
    assert Brokerage.objects.get(pk=brokerage.pk).client_secret.reveal() == NEW_SECRET
    entry = CredentialAuditEntry.objects.get(action="changed")
    assert (entry.actor, entry.brokerage, entry.changes) == (credential_manager, brokerage, {"client_secret": "changed"})
    assert NEW_SECRET not in str(entry.changes) and PLAINTEXT_SECRET not in str(entry.changes)


def test_credential_manager_clearing_the_pending_secret_and_changing_the_tenant_is_audited(client, credential_manager, make_brokerage):
    # Given a brokerage with a pending secret
    brokerage = make_brokerage(pending_client_secret=NEW_SECRET)
    brokerage.pending_client_secret_expires_on = brokerage.client_secret_expires_on
    brokerage.save()
    client.force_login(credential_manager)
    data = change_form_data(brokerage, clear_pending_client_secret="on", tenant_id="11111111-2222-4333-8444-555555555555")

    # When the credential manager clears it and corrects the Tenant ID
    response = client.post(reverse("admin:brokerages_brokerage_change", args=[brokerage.pk]), data)

    # Then both are recorded by name and kind of change
    assert response.status_code == 302
    entry = CredentialAuditEntry.objects.filter(action="changed").latest("at")
    assert entry.actor == credential_manager
    assert entry.changes == {
        "pending_client_secret": "cleared", "pending_client_secret_expires_on": "cleared", "tenant_id": "changed",
    }  # fmt: skip


def test_credential_change_by_code_is_audited_as_the_system_or_the_named_actor(make_brokerage, operator):
    # Given a brokerage changed outside the admin (a script, a task)
    brokerage = Brokerage.objects.get(pk=make_brokerage().pk)
    brokerage.client_secret = NEW_SECRET
    brokerage.save()
    # ... and once on behalf of a named person
    with credential_actor(operator):
        brokerage.client_id = "11111111-2222-4333-8444-555555555555"
        brokerage.save()
    # ... and once touching only non-credential fields
    brokerage.status = "active"
    brokerage.save(update_fields=["status"])

    # Then two entries were written: the system's and the named person's
    system, named = CredentialAuditEntry.objects.filter(action="changed").order_by("id")
    assert (system.actor, system.changes) == (None, {"client_secret": "changed"})
    assert (named.actor, named.changes) == (operator, {"client_id": "changed"})
    assert CredentialAuditEntry.objects.filter(action="changed").count() == 2


def test_promoting_the_next_secret_swaps_it_in_without_a_gap_and_is_audited(make_brokerage):
    # Given a brokerage with a verified next secret
    brokerage = make_brokerage(pending_client_secret=NEW_SECRET)
    brokerage.pending_client_secret_expires_on = datetime.date(2031, 1, 31)
    brokerage.save()

    # When it is promoted (by the rotation flow, as the system)
    Brokerage.objects.get(pk=brokerage.pk).promote_pending_secret()

    # Then it is the current secret, the slot is empty, and the swap is on record by field name
    promoted = Brokerage.objects.get(pk=brokerage.pk)
    assert promoted.client_secret.reveal() == NEW_SECRET
    assert promoted.client_secret_expires_on == datetime.date(2031, 1, 31)
    assert promoted.pending_client_secret is None
    entry = CredentialAuditEntry.objects.filter(action="changed").latest("id")
    assert entry.actor is None
    assert entry.changes == {
        "client_secret": "changed", "client_secret_expires_on": "changed",
        "pending_client_secret": "cleared", "pending_client_secret_expires_on": "cleared",
    }  # fmt: skip


def test_an_operator_acts_on_sync_and_email_failures_but_does_not_browse_clients_data(client, operator, make_brokerage):
    from mailboxes.items import Collection
    from sync.models import FolderState

    # Given a mailbox whose calendar sync the mass-deletion guard paused
    brokerage = make_brokerage()
    mailbox = Mailbox.objects.create(brokerage=brokerage, email=f"agent@{brokerage.email_domains[0]}", sync_paused=True,
                                     sync_paused_reason="calendar: the mailbox lost 9 of 10 linked items")
    state = FolderState.objects.create(mailbox=mailbox, collection=Collection.CALENDAR.value, first_sync_done=True)
    client.force_login(operator)

    # Then the operator sees the sync's conflict decisions, the folder states, links, sync policies, failed emails
    for page in ("sync_syncconflict", "sync_folderstate", "sync_synclink", "sync_brokeragesyncsettings",
                 "outbox_outgoingemail"):
        assert client.get(reverse(f"admin:{page}_changelist")).status_code == 200, page
    # ... and confirms the paused deletion, which resumes the mailbox
    response = client.post(reverse("admin:sync_folderstate_changelist"),
                           {"action": "confirm_mass_deletion", "_selected_action": [state.pk]}, follow=True)
    assert response.status_code == 200
    state.refresh_from_db()
    mailbox.refresh_from_db()
    assert state.confirm_mass_deletion and not mailbox.sync_paused
    # But the CRM's contacts and events (clients' data) are not theirs to browse
    assert client.get(reverse("admin:sync_contact_changelist")).status_code == 403
    assert client.get(reverse("admin:sync_event_changelist")).status_code == 403


MAILBOX_ACTIONS = {
    "sync_now", "pause_sync", "resume_sync", "activate", "deactivate",
    "contacts_on", "contacts_off", "calendar_on", "calendar_off", "email_on", "email_off",
}  # fmt: skip


@pytest.fixture
def viewer(db, django_user_model):
    """Staff who may only look at brokerages and mailboxes (no role): the baseline both roles go beyond."""
    user = django_user_model.objects.create_user("vic-viewer", password="pw-for-tests", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_brokerage", "view_mailbox"]))
    return user


@pytest.mark.parametrize("who", ["operator", "credential_manager"])
def test_both_roles_get_every_bulk_mailbox_action_the_export_and_the_import(who, request, client, make_brokerage):
    # Given a brokerage with two mailboxes and a member of either role
    brokerage = make_brokerage()
    domain = brokerage.email_domains[0]
    first, _ = Mailbox.objects.bulk_create([Mailbox(brokerage=brokerage, email=f"a{n}@{domain}") for n in range(2)])
    client.force_login(request.getfixturevalue(who))
    mailbox_list = reverse("admin:brokerages_mailbox_changelist")

    # Then the mailbox list offers every bulk action, and each works for them
    offered = set(dict(client.get(mailbox_list).context["action_form"].fields["action"].choices))
    assert offered >= MAILBOX_ACTIONS
    client.post(mailbox_list, {"action": "pause_sync", "_selected_action": [first.pk]})
    assert Mailbox.objects.get(pk=first.pk).sync_paused
    # ... the export and the import are theirs, and the brokerage page links to the mailboxes by state
    assert client.get(reverse("admin:brokerages_mailbox_export")).status_code == 200
    assert client.get(reverse("admin:brokerages_brokerage_import_mailboxes", args=[brokerage.pk])).status_code == 200
    page = client.get(reverse("admin:brokerages_brokerage_change", args=[brokerage.pk])).content.decode()
    assert "1 paused</a>" in page and "Export them (CSV)" in page


def test_staff_who_may_only_view_get_no_bulk_action_and_cannot_post_one(client, viewer, make_brokerage):
    brokerage = make_brokerage()
    mailbox = Mailbox.objects.create(brokerage=brokerage, email=f"a@{brokerage.email_domains[0]}")
    client.force_login(viewer)
    mailbox_list = reverse("admin:brokerages_mailbox_changelist")

    response = client.get(mailbox_list)
    assert response.status_code == 200 and response.context["action_form"] is None
    client.post(mailbox_list, {"action": "deactivate", "_selected_action": [mailbox.pk]})
    assert Mailbox.objects.get(pk=mailbox.pk).is_active
    # Looking includes exporting what they may look at; importing needs add_mailbox
    assert client.get(reverse("admin:brokerages_mailbox_export")).status_code == 200
    assert client.get(reverse("admin:brokerages_brokerage_import_mailboxes", args=[brokerage.pk])).status_code == 403


def test_only_credential_managers_add_brokerages_and_the_add_form_shows_only_what_a_new_one_needs(client, operator, credential_manager):
    add = reverse("admin:brokerages_brokerage_add")
    client.force_login(operator)
    assert client.get(add).status_code == 403

    client.force_login(credential_manager)
    html = client.get(add).content.decode()
    # Microsoft 365's endpoints are pre-filled, and nothing a new brokerage does not have yet is shown
    assert 'value="https://outlook.office365.com/EWS/Exchange.asmx"' in html
    assert 'value="https://login.microsoftonline.com"' in html
    for absent in ("Sync health", "cool-down", "History", "Next client secret", 'name="status"', "agents&#x27; mailboxes"):
        assert absent not in html, absent


def test_the_add_form_reports_every_mistake_of_a_submission_at_once(client, credential_manager, make_brokerage):
    # Given a domain another brokerage owns
    make_brokerage(name="Seaside Realty", email_domains=["harborhomes.com"], test_mailbox="t@harborhomes.com")
    client.force_login(credential_manager)

    # When a new brokerage is submitted with that domain, a malformed one, a bad GUID and an outside test mailbox
    response = client.post(reverse("admin:brokerages_brokerage_add"), {
        "name": "Harbor Homes", "tenant_id": "harborhomes.onmicrosoft.com", "client_id": str(uuid.uuid4()),
        "credential_kind": "client_secret", "new_client_secret": NEW_SECRET, "client_secret_expires_on": "",
        "test_mailbox": "test@gmail.com", "email_domains": "harborhomes.com, bad realty.com", "mailbox_backend": "ews",
        "ews_url": "https://outlook.office365.com/EWS/Exchange.asmx", "authority_host": "https://login.microsoftonline.com",
    })  # fmt: skip

    # Then one answer names each problem and the value it is about
    html = response.content.decode()
    assert response.status_code == 200
    assert "harborhomes.com already belongs to the brokerage “Seaside Realty”" in html
    assert "“bad realty.com” is not one domain" in html
    assert "“harborhomes.onmicrosoft.com” is not a Tenant ID" in html
    assert "Enter the expiry date shown next to the secret" in html
    assert "domains ()" not in html


def test_a_credential_manager_adds_a_brokerage_with_only_the_add_forms_fields(client, credential_manager):
    # Given the Add form filled as the README's onboarding table says, endpoints left as pre-filled
    client.force_login(credential_manager)
    response = client.post(reverse("admin:brokerages_brokerage_add"), {
        "name": "Harbor Homes", "tenant_id": str(uuid.uuid4()), "client_id": str(uuid.uuid4()),
        "credential_kind": "client_secret", "new_client_secret": NEW_SECRET,
        "client_secret_expires_on": str(datetime.date.today() + datetime.timedelta(days=700)),
        "test_mailbox": "it.test@harborhomes.com", "email_domains": "harborhomes.com", "mailbox_backend": "ews",
        "ews_url": "https://outlook.office365.com/EWS/Exchange.asmx", "authority_host": "https://login.microsoftonline.com",
        "ca_bundle_path": "",
    })  # fmt: skip

    # Then it is saved as a new brokerage with its secret, and the creation is on the credential audit
    assert response.status_code == 302
    added = Brokerage.objects.get(name="Harbor Homes")
    assert (added.status, added.client_secret.reveal(), added.email_domains) == ("new", NEW_SECRET, ["harborhomes.com"])
    assert CredentialAuditEntry.objects.get(brokerage=added).action == "created"
