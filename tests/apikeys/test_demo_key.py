"""`make demo` gets a working CRM API key for the demo brokerage, kept in a private file across restarts."""

from __future__ import annotations

import io
import json
import stat
import uuid

import pytest
from django.core.management import call_command

from apikeys.models import ApiKey, ApiKeyAuditEntry
from brokerages.models import Mailbox
from tests.fixtures.crm import key_client

pytestmark = pytest.mark.django_db


def _demo_setup(tmp_path, key_file):
    seed = tmp_path / "demo-brokerage.json"
    if not seed.exists():
        seed.write_text(json.dumps({
            "tenant_id": str(uuid.uuid4()), "client_id": str(uuid.uuid4()), "client_secret": "Zx8Q~demo-secret-value",
            "secret_expires_at": "2030-01-01T00:00:00Z", "test_mailbox": "test@harbour-demo.example",
            "authority": "https://127.0.0.1:8443/common", "ews_url": "https://127.0.0.1:8443/EWS/Exchange.asmx",
            "ca_path": str(tmp_path / "ca.pem"), "mailboxes": ["ann@harbour-demo.example", "bob@harbour-demo.example"],
        }))  # fmt: skip
    out = io.StringIO()
    call_command("demo_setup", "--admin-password", "pw-demo", "--brokerage-json", str(seed), "--api-key-file", str(key_file), stdout=out)
    return out.getvalue()


def test_the_demo_key_opens_the_demo_brokerage_and_is_kept_until_it_stops_working(tmp_path):
    # When the demo is set up
    key_file = tmp_path / "demo-api-key"
    printed = _demo_setup(tmp_path, key_file)

    # Then a private file holds a key that opens the demo mailboxes, and the output says how to use it
    raw = key_file.read_text().strip()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    mailbox = Mailbox.objects.get(email="ann@harbour-demo.example")
    assert key_client(raw).get(f"/api/mailboxes/{mailbox.pk}/contacts/").status_code == 200
    assert f"Authorization: Api-Key $(cat {key_file})" in printed and raw not in printed
    assert ApiKeyAuditEntry.objects.get().actor.username == "admin"

    # When the demo starts again, then the same key is kept
    _demo_setup(tmp_path, key_file)
    assert key_file.read_text().strip() == raw
    assert ApiKey.objects.count() == 1

    # When the key stopped working (revoked, or a fresh database), then the next start writes a new one
    ApiKey.objects.update(revoked=True)
    _demo_setup(tmp_path, key_file)
    fresh = key_file.read_text().strip()
    assert fresh != raw
    assert key_client(fresh).get(f"/api/mailboxes/{mailbox.pk}/contacts/").status_code == 200
