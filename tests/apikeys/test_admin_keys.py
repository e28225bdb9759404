"""API keys in the admin: issued by credential managers and shown once; revoked, never deleted; operators only look."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission as AuthPermission
from django.contrib.auth.models import User
from django.urls import reverse

from apikeys.models import ApiKey, ApiKeyAuditEntry
from tests.fixtures.crm import key_client

pytestmark = pytest.mark.django_db
ADD_URL = reverse("admin:apikeys_apikey_add")
KEY_IN_MESSAGE = re.compile(r"The API key for [^<]* is ([A-Za-z0-9]{8}\.[A-Za-z0-9]{32})")


def add_form(**overrides) -> dict:
    data = {"name": "Engage CRM", "permissions": ["contacts:read", "email:send"], "expiry_date_0": "", "expiry_date_1": ""}
    return {**data, **overrides}


def test_a_credential_manager_issues_a_key_that_is_shown_once_and_then_never_again(client, tenants, credential_manager):
    # Given a credential manager in the admin
    client.force_login(credential_manager)

    # When they issue a key for brokerage A
    response = client.post(ADD_URL, add_form(brokerages=[tenants["A"].brokerage.pk]), follow=True)

    # Then the page after saving shows the key once, and it works for A only, with its permissions
    match = KEY_IN_MESSAGE.search(response.content.decode())
    assert match, response.content.decode()[:3000]
    raw, key = match.group(1), ApiKey.objects.get()
    assert raw.startswith(key.prefix + ".")
    assert key_client(raw).get(f"/api/mailboxes/{tenants['A'].mailbox.pk}/contacts/").status_code == 200
    assert key_client(raw).get(f"/api/mailboxes/{tenants['B'].mailbox.pk}/contacts/").status_code == 404
    # ... no later page shows it: not the list, not the key's page, not the audit
    for url in (reverse("admin:apikeys_apikey_changelist"), reverse("admin:apikeys_apikey_change", args=[key.pk]),
                reverse("admin:apikeys_apikeyauditentry_changelist"), ADD_URL):  # fmt: skip
        page = client.get(url).content.decode()
        assert raw not in page and raw.split(".")[1] not in page
    assert key.prefix in client.get(reverse("admin:apikeys_apikey_changelist")).content.decode()
    # ... and the issue is on record
    entry = ApiKeyAuditEntry.objects.get()
    assert (entry.action, entry.actor, entry.key_prefix, entry.detail["brokerages"]) == (
        "issued", credential_manager, key.prefix, [tenants["A"].brokerage.pk]
    )


def test_an_issuer_without_the_all_brokerages_permission_is_refused_one_and_the_attempt_audited(client, tenants):
    # Given a staff user who may add keys but not all-brokerages ones
    issuer = User.objects.create_user("ivan-issuer", is_staff=True)
    issuer.user_permissions.add(*AuthPermission.objects.filter(content_type__app_label="apikeys", codename__in=["add_apikey", "view_apikey"]))
    client.force_login(issuer)

    # When they ask for an all-brokerages key
    response = client.post(ADD_URL, add_form(all_brokerages="on"))

    # Then the form is refused with the reason, no key exists, and the attempt is on record
    assert response.status_code == 200
    assert "all-brokerages API key needs" in response.content.decode()
    assert not ApiKey.objects.exists()
    refused = ApiKeyAuditEntry.objects.get()
    assert (refused.action, refused.actor, refused.detail["all_brokerages"]) == ("refused", issuer, True)


def test_a_key_needs_a_scope_a_permission_and_an_expiry_in_the_future_if_any(client, tenants, credential_manager):
    client.force_login(credential_manager)
    assert "Name at least one brokerage" in client.post(ADD_URL, add_form()).content.decode()
    both = client.post(ADD_URL, add_form(all_brokerages="on", brokerages=[tenants["A"].brokerage.pk]))
    assert "not both" in both.content.decode()
    nothing = client.post(ADD_URL, add_form(brokerages=[tenants["A"].brokerage.pk], permissions=[]))
    assert "This field is required" in nothing.content.decode()
    past = client.post(ADD_URL, add_form(brokerages=[tenants["A"].brokerage.pk], expiry_date_0="2020-01-01", expiry_date_1="00:00"))
    assert "The expiry is not in the future" in past.content.decode()
    assert not ApiKey.objects.exists()


def test_a_credential_manager_issues_an_all_brokerages_key(client, tenants, credential_manager):
    client.force_login(credential_manager)
    response = client.post(ADD_URL, add_form(all_brokerages="on"), follow=True)
    raw = KEY_IN_MESSAGE.search(response.content.decode()).group(1)
    assert key_client(raw).get(f"/api/mailboxes/{tenants['C'].mailbox.pk}/contacts/").status_code == 200


def test_an_operator_sees_key_metadata_but_cannot_issue_change_or_revoke(client, make_key, operator):
    # Given a key and an operator
    key, raw = make_key(["A", "B"])
    client.force_login(operator)

    # When they open the keys, then they see client, prefix and scope, but no key and no way to change it
    listing = client.get(reverse("admin:apikeys_apikey_changelist")).content.decode()
    assert key.prefix in listing and "A Realty, B Realty" in listing and raw not in listing
    page = client.get(reverse("admin:apikeys_apikey_change", args=[key.pk])).content.decode()
    assert 'name="revoked"' not in page and raw not in page
    assert client.get(ADD_URL).status_code == 403
    response = client.post(reverse("admin:apikeys_apikey_changelist"), {"action": "revoke_keys", "_selected_action": [key.pk]})
    assert response.status_code in (200, 302)
    assert not ApiKey.objects.get().revoked
    assert client.post(reverse("admin:apikeys_apikey_change", args=[key.pk]), {"revoked": "on"}).status_code == 403
    assert not ApiKey.objects.get().revoked


def test_revoking_in_the_admin_refuses_the_key_is_audited_and_cannot_be_undone(client, tenants, make_key, credential_manager):
    # Given two working keys
    (first, first_raw), (second, second_raw) = make_key(["A"]), make_key(["A"])
    client.force_login(credential_manager)
    change_url = reverse("admin:apikeys_apikey_change", args=[first.pk])

    # When a credential manager revokes the first on its page and the second with the list action
    assert client.post(change_url, {"revoked": "on"}).status_code == 302
    client.post(reverse("admin:apikeys_apikey_changelist"), {"action": "revoke_keys", "_selected_action": [second.pk]})

    # Then both are refused and both revocations are on record, by whom
    url = f"/api/mailboxes/{tenants['A'].mailbox.pk}/contacts/"
    assert key_client(first_raw).get(url).status_code == 401
    assert key_client(second_raw).get(url).status_code == 401
    revoked = ApiKeyAuditEntry.objects.filter(action="revoked")
    assert sorted(revoked.values_list("key_prefix", flat=True)) == sorted([first.prefix, second.prefix])
    assert {entry.actor for entry in revoked} == {credential_manager}
    # ... a revoked key's page has nothing left to change, and no key is ever deleted
    assert 'name="revoked"' not in client.get(change_url).content.decode()
    assert client.get(reverse("admin:apikeys_apikey_delete", args=[first.pk])).status_code == 403
