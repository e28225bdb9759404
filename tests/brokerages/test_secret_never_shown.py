"""Invariant 1 for the onboarding side: a secret shows up in no admin page, repr, log line or exception."""

from __future__ import annotations

import logging

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.urls import reverse

from brokerages import crypto
from brokerages.models import Brokerage

from .conftest import PLAINTEXT_PENDING_SECRET, PLAINTEXT_SECRET, certificate_pem, change_form_data
from .test_encrypted_credentials import stored_tokens

NEW_SECRET = "Nw9S~brand.new-secret_value-0123456789ab"


@pytest.fixture
def superuser_client(client, db):
    client.force_login(User.objects.create_superuser("root", password="pw-for-tests"))
    return client


def assert_no_secret_in(text: str, brokerage: Brokerage, *extra: str) -> None:
    for plaintext in (PLAINTEXT_SECRET, PLAINTEXT_PENDING_SECRET, *extra):
        assert plaintext not in text
    for token in stored_tokens(brokerage.pk).values():
        if token:
            assert token not in text  # not even the ciphertext is sent to a browser


def test_change_page_shows_only_whether_secrets_are_set_and_when_they_expire(superuser_client, make_brokerage):
    # Given a brokerage with a client secret, a pending secret and a certificate
    pem = certificate_pem()
    brokerage = make_brokerage(pending_client_secret=PLAINTEXT_PENDING_SECRET, certificate=pem)

    # When its change page is opened
    response = superuser_client.get(reverse("admin:brokerages_brokerage_change", args=[brokerage.pk]))

    # Then no secret, key or ciphertext is in the HTML, not even as a masked input value
    html = response.content.decode()
    assert response.status_code == 200
    assert_no_secret_in(html, brokerage, pem, "PRIVATE KEY")
    assert 'name="new_client_secret"' in html
    assert 'name="new_client_secret" value' not in html
    # ... only the state
    assert "set, expires in 365 day(s)" in html
    assert "not set" not in html.split("next client secret")[0]


def test_change_page_redisplayed_with_errors_does_not_echo_the_submitted_secret(superuser_client, make_brokerage):
    # Given a credential manager entering a new secret and certificate along with an invalid Tenant ID
    brokerage = make_brokerage()
    pem = certificate_pem()
    data = change_form_data(brokerage, tenant_id="not-a-guid", new_client_secret=NEW_SECRET, new_certificate=pem)

    # When the form comes back with the error
    response = superuser_client.post(reverse("admin:brokerages_brokerage_change", args=[brokerage.pk]), data)

    # Then the error is shown, and neither the typed secret nor the pasted key is sent back
    html = response.content.decode()
    assert response.status_code == 200
    assert "“not-a-guid” is not a Tenant ID" in html
    assert NEW_SECRET not in html
    assert "PRIVATE KEY" not in html
    assert_no_secret_in(html, brokerage)


def test_list_page_history_and_audit_pages_show_no_secret(superuser_client, make_brokerage):
    # Given a brokerage whose secret was changed through the admin
    brokerage = make_brokerage(pending_client_secret=PLAINTEXT_PENDING_SECRET)
    change_url = reverse("admin:brokerages_brokerage_change", args=[brokerage.pk])
    response = superuser_client.post(change_url, change_form_data(brokerage, new_client_secret=NEW_SECRET))
    assert response.status_code == 302

    # When the list, the history and the audit log are opened
    pages = [
        superuser_client.get(reverse("admin:brokerages_brokerage_changelist")),
        superuser_client.get(reverse("admin:brokerages_brokerage_history", args=[brokerage.pk])),
        superuser_client.get(reverse("admin:brokerages_credentialauditentry_changelist")),
    ]

    # Then none of them holds the old or new secret, and the audit page names the field
    for page in pages:
        assert page.status_code == 200
        assert_no_secret_in(page.content.decode(), brokerage, NEW_SECRET)
    assert "client_secret (changed)" in pages[2].content.decode()


def test_repr_str_logs_and_printed_output_show_no_secret(make_brokerage, caplog, capsys):
    # Given a loaded brokerage and its secret
    brokerage = Brokerage.objects.get(pk=make_brokerage(pending_client_secret=PLAINTEXT_PENDING_SECRET).pk)
    secret = brokerage.client_secret

    # When it is logged and printed every usual way
    with caplog.at_level(logging.DEBUG):
        logger = logging.getLogger("brokerages.test")
        logger.info("brokerage %s %r secret %s %r", brokerage, brokerage, secret, secret)
        logger.info("fields %s", vars(brokerage))
        logger.info(f"secret {brokerage.client_secret} pending {brokerage.pending_client_secret}")
        print(brokerage, repr(brokerage), secret, vars(brokerage))  # noqa: T201

    # Then the secret appears nowhere
    printed = capsys.readouterr()
    for text in (caplog.text, printed.out, printed.err, repr(brokerage), str(brokerage)):
        assert PLAINTEXT_SECRET not in text
        assert PLAINTEXT_PENDING_SECRET not in text
    assert "Secret('********')" in caplog.text


def test_exception_messages_carry_no_secret(make_brokerage, settings):
    # Given a brokerage, when every error path that talks about its secret fires
    brokerage = make_brokerage()
    messages = []
    try:
        raise RuntimeError(f"token request failed for {brokerage!r} with {brokerage.client_secret}")
    except RuntimeError as exc:
        messages.append(str(exc))
    with pytest.raises(ValidationError) as invalid:
        Brokerage(name="x", tenant_id="nope", client_id="nope", client_secret=PLAINTEXT_SECRET).full_clean()
    messages.append(str(invalid.value))
    settings.ENCRYPTION_KEYS = [crypto.generate_key()]
    with pytest.raises(crypto.UndecryptableSecret) as undecryptable:
        _ = Brokerage.objects.get(pk=brokerage.pk).client_secret
    messages.append(str(undecryptable.value))

    # Then none of the messages holds it
    assert all(PLAINTEXT_SECRET not in message for message in messages)


def test_admin_save_with_sql_logging_on_logs_no_secret(superuser_client, make_brokerage, settings, caplog):
    # Given SQL logging on (DEBUG makes django.db.backends log every statement with its parameters)
    brokerage = make_brokerage()
    settings.DEBUG = True

    # When a new secret is entered through the admin
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="django.db.backends"):
        response = superuser_client.post(
            reverse("admin:brokerages_brokerage_change", args=[brokerage.pk]),
            change_form_data(brokerage, new_client_secret=NEW_SECRET),
        )

    # Then the UPDATE was logged, carrying ciphertext only
    assert response.status_code == 302
    assert 'UPDATE "brokerages_brokerage"' in caplog.text
    assert NEW_SECRET not in caplog.text
    assert PLAINTEXT_SECRET not in caplog.text
