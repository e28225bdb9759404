"""Credentials are ciphertext at rest, read back as redacting Secrets, and survive a key rotation."""

from __future__ import annotations

import io
import json

import pytest
from cryptography.fernet import Fernet
from django.core import serializers
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError
from django.db import connection

from brokerages import crypto
from brokerages.models import Brokerage, CredentialAuditEntry
from mailboxes.secret import Secret

from .conftest import PLAINTEXT_PENDING_SECRET, PLAINTEXT_SECRET, certificate_pem

SECRET_COLUMNS = ("client_secret", "pending_client_secret", "certificate")


def stored_tokens(brokerage_id: int) -> dict[str, str | None]:
    """The secret columns exactly as PostgreSQL holds them, read with raw SQL."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(SECRET_COLUMNS)} FROM brokerages_brokerage WHERE id = %s", [brokerage_id])  # noqa: S608
        return dict(zip(SECRET_COLUMNS, cursor.fetchone(), strict=True))


def test_secret_columns_hold_no_plaintext_in_postgresql(make_brokerage, settings):
    # Given a brokerage with a client secret, a pending secret and a certificate
    pem = certificate_pem()
    brokerage = make_brokerage(pending_client_secret=PLAINTEXT_PENDING_SECRET, certificate=pem)

    # When the columns are read with raw SQL
    tokens = stored_tokens(brokerage.pk)

    # Then none holds its plaintext, and each is a Fernet token of the newest key
    newest = Fernet(settings.ENCRYPTION_KEYS[0])
    for column, plaintext in zip(SECRET_COLUMNS, (PLAINTEXT_SECRET, PLAINTEXT_PENDING_SECRET, pem), strict=True):
        assert plaintext not in tokens[column]
        assert "PRIVATE KEY" not in tokens[column]
        assert newest.decrypt(tokens[column].encode()).decode() == plaintext


def test_secret_round_trips_and_reads_back_as_a_redacting_secret(make_brokerage):
    # Given a stored brokerage
    brokerage = make_brokerage()

    # When it is loaded again
    loaded = Brokerage.objects.get(pk=brokerage.pk)

    # Then the secret is a Secret with the same plaintext, and an unset one is None
    assert isinstance(loaded.client_secret, Secret)
    assert loaded.client_secret.reveal() == PLAINTEXT_SECRET
    assert loaded.pending_client_secret is None
    # ... and the saved instance itself still reads its secret (it now holds the stored ciphertext)
    assert brokerage.client_secret.reveal() == PLAINTEXT_SECRET


def test_saving_other_fields_keeps_the_stored_ciphertext_unchanged(make_brokerage):
    # Given a stored brokerage and its ciphertext
    brokerage = make_brokerage()
    before = stored_tokens(brokerage.pk)["client_secret"]

    # When an unrelated field is changed and saved
    loaded = Brokerage.objects.get(pk=brokerage.pk)
    loaded.name = "Renamed Realty"
    loaded.save()

    # Then the secret was neither decrypted nor re-encrypted
    assert stored_tokens(brokerage.pk)["client_secret"] == before


def test_rotation_reencrypts_every_row_and_then_the_old_key_can_be_dropped(make_brokerage, settings):
    # Given rows encrypted under an old key only
    old_key, new_key = settings.ENCRYPTION_KEYS[1], settings.ENCRYPTION_KEYS[0]
    settings.ENCRYPTION_KEYS = [old_key]
    pem = certificate_pem()
    brokerages = [make_brokerage() for _ in range(4)]
    brokerages.append(make_brokerage(pending_client_secret=PLAINTEXT_PENDING_SECRET, certificate=pem))

    # ... which the new key alone cannot read (so the rotation below is what makes the difference)
    settings.ENCRYPTION_KEYS = [new_key]
    assert not any(crypto.is_under_newest_key(t) for b in brokerages for t in stored_tokens(b.pk).values() if t)
    with pytest.raises(crypto.UndecryptableSecret):
        _ = Brokerage.objects.get(pk=brokerages[0].pk).client_secret

    # When the new key is put first and the rotation runs in batches of two
    settings.ENCRYPTION_KEYS = [new_key, old_key]
    audit_entries_before = CredentialAuditEntry.objects.count()
    out = io.StringIO()
    call_command("rotate_encryption_key", batch_size=2, stdout=out)

    # Then it printed its progress per batch and re-encrypted all seven values
    assert "brokerages.Brokerage (client_secret, certificate, pending_client_secret): 2/5 rows checked" in out.getvalue()
    assert "5/5 rows checked, 7 value(s) re-encrypted" in out.getvalue()
    # ... re-encryption is not a credential change, so the audit log is untouched
    assert CredentialAuditEntry.objects.count() == audit_entries_before
    # ... every stored value is now a token of the new key
    newest = Fernet(new_key)
    for brokerage in brokerages:
        for token in stored_tokens(brokerage.pk).values():
            if token is not None:
                newest.decrypt(token.encode())
    # ... and with the old key dropped, every secret still reads back
    settings.ENCRYPTION_KEYS = [new_key]
    for loaded in Brokerage.objects.filter(pk__in=[b.pk for b in brokerages]):
        assert loaded.client_secret.reveal() == PLAINTEXT_SECRET
    last = Brokerage.objects.get(pk=brokerages[-1].pk)
    assert last.pending_client_secret.reveal() == PLAINTEXT_PENDING_SECRET
    assert last.certificate.reveal() == pem


def test_rotation_run_twice_changes_nothing_the_second_time(make_brokerage, settings):
    # Given rows already rotated to the newest key
    make_brokerage()
    make_brokerage(pending_client_secret=PLAINTEXT_PENDING_SECRET)
    call_command("rotate_encryption_key", stdout=io.StringIO())
    before = [stored_tokens(b.pk) for b in Brokerage.objects.all()]

    # When the rotation runs again
    out = io.StringIO()
    call_command("rotate_encryption_key", stdout=out)

    # Then no value was rewritten
    assert "Done: 0 value(s) re-encrypted" in out.getvalue()
    assert [stored_tokens(b.pk) for b in Brokerage.objects.all()] == before


def test_rotation_stops_with_a_clear_error_on_a_value_no_key_decrypts(make_brokerage, settings):
    # Given a row encrypted under a key that is no longer configured
    settings.ENCRYPTION_KEYS = [crypto.generate_key()]
    lost = make_brokerage()
    settings.ENCRYPTION_KEYS = [crypto.generate_key()]

    # When the rotation runs, then it fails naming the row, and shows neither plaintext nor ciphertext
    with pytest.raises(CommandError) as excinfo:
        call_command("rotate_encryption_key", stdout=io.StringIO())
    message = str(excinfo.value)
    assert f"brokerages.Brokerage.client_secret of row id={lost.pk}" in message
    assert PLAINTEXT_SECRET not in message
    assert stored_tokens(lost.pk)["client_secret"] not in message


def test_wrong_key_fails_loudly_naming_model_field_and_row(make_brokerage, settings):
    # Given a brokerage stored under the configured keys
    brokerage = make_brokerage()

    # When the process runs with a different key
    settings.ENCRYPTION_KEYS = [crypto.generate_key()]
    loaded = Brokerage.objects.get(pk=brokerage.pk)

    # Then reading the secret raises, naming model, field and row, never the value
    with pytest.raises(crypto.UndecryptableSecret) as excinfo:
        _ = loaded.client_secret
    message = str(excinfo.value)
    assert f"brokerages.Brokerage.client_secret of row id={brokerage.pk}" in message
    assert "ENGAGE_ENCRYPTION_KEYS" in message
    assert PLAINTEXT_SECRET not in message
    assert stored_tokens(brokerage.pk)["client_secret"] not in message
    # ... while the rest of the row (a list page, say) still loads
    assert loaded.name == brokerage.name


def test_missing_keys_stop_manage_py_check_and_any_use(make_brokerage, settings):
    # Given no encryption keys
    settings.ENCRYPTION_KEYS = []

    # Then the system check names the variable and how to make a key
    errors = [e for e in run_checks() if e.id == "brokerages.E001"]
    assert len(errors) == 1
    assert "ENGAGE_ENCRYPTION_KEYS is not set" in errors[0].msg
    assert "generate_encryption_key" in errors[0].msg
    with pytest.raises(SystemCheckError, match="ENGAGE_ENCRYPTION_KEYS"):
        call_command("check")
    # ... and storing a secret fails with the same clear error
    with pytest.raises(crypto.EncryptionNotConfigured, match="ENGAGE_ENCRYPTION_KEYS is not set"):
        make_brokerage()


def test_malformed_key_is_reported_by_position_without_echoing_it(settings):
    # Given a second key that is not a Fernet key
    bad_key = "not-a-real-key-but-maybe-someones-password"
    settings.ENCRYPTION_KEYS = [crypto.generate_key(), bad_key]

    # Then the check says which one is wrong, and never prints it
    messages = [e.msg for e in run_checks() if e.id == "brokerages.E001"]
    assert messages == [messages[0]]
    assert "Key number 2 in ENGAGE_ENCRYPTION_KEYS is not a Fernet key" in messages[0]
    assert bad_key not in messages[0]
    with pytest.raises(crypto.EncryptionNotConfigured) as excinfo:
        crypto.encrypt("anything")
    assert bad_key not in str(excinfo.value)


def test_generated_key_is_accepted_as_the_newest_key(settings):
    # When a key is generated
    out = io.StringIO()
    call_command("generate_encryption_key", "--quiet", stdout=out)
    key = out.getvalue().strip()

    # Then it passes the check and encrypts
    settings.ENCRYPTION_KEYS = [key]
    assert crypto.key_problems([key]) == []
    assert crypto.decrypt(crypto.encrypt("x")) == "x"


def test_dumped_brokerage_carries_ciphertext_and_loads_back_to_the_same_secret(make_brokerage):
    # Given a stored brokerage, when it is dumped as dumpdata would
    brokerage = make_brokerage()
    token = stored_tokens(brokerage.pk)["client_secret"]
    dumped = serializers.serialize("json", Brokerage.objects.filter(pk=brokerage.pk))

    # Then the dump holds the ciphertext only
    assert PLAINTEXT_SECRET not in dumped
    assert json.loads(dumped)[0]["fields"]["client_secret"] == f"fernet:{token}"

    # ... and loading it (as loaddata does) restores the secret, not an encryption of the ciphertext
    Brokerage.objects.filter(pk=brokerage.pk).delete()
    for restored in serializers.deserialize("json", dumped):
        restored.save()
    assert PLAINTEXT_SECRET not in stored_tokens(brokerage.pk)["client_secret"]
    assert Brokerage.objects.get(pk=brokerage.pk).client_secret.reveal() == PLAINTEXT_SECRET
