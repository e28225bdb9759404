"""`python -m simulator serve` validates against Microsoft's EWS schema unless told `--lenient`, and refuses to
start in strict mode when the schema is missing, instead of answering every request with a 500."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import msal
import pytest
import requests
from lxml import etree

from tests.fixtures.simulator import REPO_ROOT, start_simulator, stop_simulator

E = "http://schemas.microsoft.com/exchange/services/2006/errors"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
# A GetFolder whose BaseShape is not one of the schema's values: Exchange refuses it, a lenient server answers it.
SCHEMA_INVALID = """<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"
    xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">
  <soap:Header>
    <t:RequestServerVersion Version="Exchange2016"/>
    <t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>{mailbox}</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>
  </soap:Header>
  <soap:Body>
    <m:GetFolder><m:FolderShape><t:BaseShape>Everything</t:BaseShape></m:FolderShape>
      <m:FolderIds><t:DistinguishedFolderId Id="contacts"/></m:FolderIds></m:GetFolder>
  </soap:Body>
</soap:Envelope>"""


def _post_schema_invalid_request(monkeypatch, state_dir: Path, *serve_args: str) -> requests.Response:
    """Start a simulator with `serve_args`, give it a tenant and a mailbox, POST the schema-invalid request as
    the tenant's app over HTTPS; return the answer."""
    running = start_simulator(state_dir, *serve_args)
    # requests lets REQUESTS_CA_BUNDLE (set on this machine) override `verify`; trust this simulator's CA there.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", running.ca_bundle_with_system)
    try:
        sim = running.client
        tenant = sim.create_tenant("Strictness", ["strict.example"])
        app = sim.create_app(tenant["tenant_id"], "Engage Sync", secret={"lifetime_days": 30})
        [mailbox] = sim.create_mailboxes(tenant["tenant_id"], [{"address": "agent@strict.example"}])
        token = msal.ConfidentialClientApplication(
            app["client_id"], client_credential=app["secret"]["value"], authority=sim.authority(tenant["tenant_id"]),
            instance_discovery=False, verify=sim.ca_path,
        ).acquire_token_for_client(scopes=["https://outlook.office365.com/.default"])["access_token"]
        return requests.post(sim.ews_url, data=SCHEMA_INVALID.format(mailbox=mailbox).encode(), verify=sim.ca_path,
                             headers={"Content-Type": "text/xml; charset=utf-8", "Authorization": f"Bearer {token}",
                                      "X-AnchorMailbox": mailbox}, timeout=30)
    finally:
        running.client.close()
        stop_simulator(running.process)


def _response_code(answer: requests.Response) -> str:
    """The ResponseCode of a SOAP fault's detail (errors namespace), or of the first response message."""
    document = etree.fromstring(answer.content)
    return document.findtext(f".//{{{E}}}ResponseCode") or document.findtext(f".//{{{M}}}ResponseCode") or ""


def test_serve_without_flags_is_strict_and_refuses_a_schema_invalid_request(tmp_path, monkeypatch):
    # given `python -m simulator serve` with no validation flag, when a schema-invalid request arrives
    answer = _post_schema_invalid_request(monkeypatch, tmp_path / "default")

    # then it is refused as Exchange refuses it: a SOAP fault ErrorSchemaValidation naming the line
    assert answer.status_code == 500 and _response_code(answer) == "ErrorSchemaValidation"
    assert etree.fromstring(answer.content).findtext(f".//{{{T}}}LineNumber")


def test_serve_lenient_answers_a_schema_invalid_request(tmp_path, monkeypatch):
    # given `serve --lenient` (the benchmarks' fast path), when the same request arrives, then it is answered
    answer = _post_schema_invalid_request(monkeypatch, tmp_path / "lenient", "--lenient")
    assert answer.status_code == 200 and _response_code(answer) == "NoError"


@pytest.mark.parametrize("missing", ["messages.xsd", "types.xsd"])
def test_strict_serve_without_the_schema_refuses_to_start_and_names_the_missing_file(tmp_path, missing):
    # given a schema directory lacking one of the two files strict mode needs
    schema_dir = tmp_path / "schema"
    schema_dir.mkdir()
    for name in {"messages.xsd", "types.xsd"} - {missing}:
        (schema_dir / name).write_bytes((REPO_ROOT / "simulator/ews/xsd" / name).read_bytes())

    # when `serve` starts (strict by default)
    result = subprocess.run(
        [sys.executable, "-m", "simulator", "serve", "--port", "0", "--state-dir", str(tmp_path / "state")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "SIMULATOR_EWS_SCHEMA_DIR": str(schema_dir)})

    # then it exits non-zero before serving, with a message naming the missing path, not a traceback
    assert result.returncode != 0
    assert str(schema_dir / missing) in result.stderr and "--lenient" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "state" / "server.json").exists()
