"""`manage.py issue_api_key` / `revoke_api_key`: the key printed once, the issue and revoke audited, the scope enforced."""

from __future__ import annotations

import io
import stat

import pytest
from django.contrib.auth.models import Permission as AuthPermission
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from apikeys.models import ApiKey, ApiKeyAuditEntry
from tests.fixtures.crm import key_client

pytestmark = pytest.mark.django_db


def issue(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("issue_api_key", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_a_credential_manager_issues_a_scoped_key_printed_once_on_stdout_and_audited(tenants, credential_manager):
    # When a credential manager issues a contacts-only key for brokerages A and B
    a, b = tenants["A"].brokerage, tenants["B"].brokerage
    raw, message = issue("--client", "Engage CRM", "--brokerage", str(a.pk), "--brokerage", str(b.pk),
                         "--permissions", "contacts:read,contacts:write", "--issued-by", "carl-credentials")  # fmt: skip

    # Then stdout is the key alone, stderr says what it reaches and never repeats it
    key = ApiKey.objects.get()
    assert raw.startswith(f"{key.prefix}.") and len(raw) == 41
    assert raw not in message and "A Realty, B Realty" in message
    # ... it works for A's contacts, and nothing else
    client = key_client(raw)
    assert client.get(f"/api/mailboxes/{tenants['A'].mailbox.pk}/contacts/").status_code == 200
    assert client.get(f"/api/mailboxes/{tenants['C'].mailbox.pk}/contacts/").status_code == 404
    assert client.get(f"/api/mailboxes/{tenants['A'].mailbox.pk}/events/").status_code == 403
    # ... and the issue is on record: who, which key, what it reaches
    entry = ApiKeyAuditEntry.objects.get()
    assert (entry.action, entry.actor, entry.key_prefix, entry.client) == ("issued", credential_manager, key.prefix, "Engage CRM")
    assert entry.detail == {"all_brokerages": False, "brokerages": sorted([a.pk, b.pk]),
                            "permissions": ["contacts:read", "contacts:write"], "expires": None}  # fmt: skip


def test_only_a_credential_manager_issues_an_all_brokerages_key(tenants, operator, credential_manager):
    # Given a staff user who may issue keys, but not all-brokerages ones, and an operator
    issuer = User.objects.create_user("ivan-issuer", is_staff=True)
    issuer.user_permissions.add(AuthPermission.objects.get(content_type__app_label="apikeys", codename="add_apikey"))
    a = str(tenants["A"].brokerage.pk)

    # When each asks for an all-brokerages key, then only the credential manager gets one
    for username in ("ivan-issuer", "olivia-operator"):
        with pytest.raises(CommandError, match="all-brokerages API key needs"):
            issue("--client", "Everything", "--all-brokerages", "--permissions", "all", "--issued-by", username)
    raw, _ = issue("--client", "Everything", "--all-brokerages", "--permissions", "all", "--issued-by", "carl-credentials")
    assert key_client(raw).get(f"/api/mailboxes/{tenants['C'].mailbox.pk}/contacts/").status_code == 200
    User.objects.create_superuser("root")  # ... and so may a superuser
    issue("--client", "Everything", "--all-brokerages", "--permissions", "all", "--issued-by", "root")
    # ... the issuer may still issue a scoped key; the operator may issue none
    issue("--client", "A only", "--brokerage", a, "--permissions", "contacts:read", "--issued-by", "ivan-issuer")
    with pytest.raises(CommandError, match="Issuing API keys needs"):
        issue("--client", "A only", "--brokerage", a, "--permissions", "contacts:read", "--issued-by", "olivia-operator")
    # ... and every refusal is on record
    refused = ApiKeyAuditEntry.objects.filter(action="refused").order_by("at", "id")
    assert [(e.actor.username, e.detail["all_brokerages"]) for e in refused] == [
        ("ivan-issuer", True), ("olivia-operator", True), ("olivia-operator", False)
    ]
    assert ApiKey.objects.count() == 3


@pytest.mark.parametrize(("args", "message"), [
    (["--permissions", "contacts:read,contacts:delete"], "Unknown permission"),
    (["--permissions", ""], "Unknown permission"),
    (["--permissions", "all", "--brokerage", "999999"], "no brokerage with id 999999"),
    (["--permissions", "all"], "at least one brokerage"),
    (["--permissions", "all", "--all-brokerages", "--brokerage", "{A}"], "not both"),
    (["--permissions", "all", "--brokerage", "{A}", "--expires", "2020-01-01"], "expiry is not in the future"),
    (["--permissions", "all", "--brokerage", "{A}", "--issued-by", "nobody"], "no user 'nobody'"),
    (["--permissions", "all", "--brokerage", "{A}", "--client", "x" * 51], "1 to 50 characters"),
    (["--permissions", "all", "--brokerage", "{A}", "--client", " "], "1 to 50 characters"),
])  # fmt: skip
def test_a_bad_request_for_a_key_issues_none(tenants, credential_manager, args, message):
    args = [arg.format(A=tenants["A"].brokerage.pk) for arg in args]
    if "--issued-by" not in args:
        args += ["--issued-by", "carl-credentials"]
    with pytest.raises(CommandError, match=message):
        issue("--client", "Engage CRM", *args)
    assert not ApiKey.objects.exists()


def test_the_key_can_go_to_a_new_private_file_instead(tenants, credential_manager, tmp_path):
    path = tmp_path / "crm.key"
    out, _ = issue("--client", "Engage CRM", "--brokerage", str(tenants["A"].brokerage.pk), "--permissions", "all",
                   "--issued-by", "carl-credentials", "--key-file", str(path))  # fmt: skip
    assert out == ""
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert key_client(path.read_text().strip()).get(f"/api/mailboxes/{tenants['A'].mailbox.pk}/emails/").status_code == 200


def test_revoking_by_prefix_refuses_the_key_from_then_on_and_is_audited(tenants, make_key, credential_manager, operator):
    # Given a working key
    key, raw = make_key(["A"])
    url = f"/api/mailboxes/{tenants['A'].mailbox.pk}/contacts/"
    assert key_client(raw).get(url).status_code == 200

    # When an operator tries to revoke it, then nothing happens; when a credential manager does, it is revoked
    with pytest.raises(CommandError, match="may not revoke"):
        call_command("revoke_api_key", key.prefix, "--revoked-by", "olivia-operator", stdout=io.StringIO())
    call_command("revoke_api_key", key.prefix, "--revoked-by", "carl-credentials", stdout=io.StringIO())

    # Then the key is refused, the revocation is on record, and revoking again changes nothing
    response = key_client(raw).get(url)
    assert response.status_code == 401
    assert "This API key has been revoked." in response.content.decode()
    entry = ApiKeyAuditEntry.objects.get(action="revoked")
    assert (entry.actor, entry.key_prefix) == (credential_manager, key.prefix)
    out = io.StringIO()
    call_command("revoke_api_key", key.prefix, "--revoked-by", "carl-credentials", stdout=out)
    assert "was already revoked" in out.getvalue()
    assert ApiKeyAuditEntry.objects.filter(action="revoked").count() == 1
    with pytest.raises(CommandError, match="No API key has the prefix nothere1"):
        call_command("revoke_api_key", "nothere1", "--revoked-by", "carl-credentials", stdout=io.StringIO())
