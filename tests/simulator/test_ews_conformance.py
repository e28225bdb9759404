"""Microsoft's documented EWS examples as conformance fixtures: each documented request of an operation we
implement is accepted (strict mode) and answered with a schema-valid response of the documented shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import etree

from simulator.ews import endpoint
from simulator.ews.operations import OPERATIONS
from simulator.ews.soap import SOAP

from .ews_harness import MAILBOX, NS, T, assert_schema_valid, make_world

EXAMPLES = Path(__file__).resolve().parent / "reference" / "ews-examples"  # origin: reference/SOURCE.md
INDEX = json.loads((EXAMPLES / "index.json").read_text(encoding="utf-8"))
_KINDS = {"Contact": ("contact", "contacts"), "CalendarItem": ("event", "calendar"), "Message": ("message", "inbox")}


def _fixed(path: Path) -> bytes:
    # The documentation writes 40 namespace URIs as https://; real clients and servers use http://.
    return path.read_bytes().replace(b"https://schemas.", b"http://schemas.")


def _documented_cases() -> tuple[list[tuple[str, str]], list[str]]:
    """Return (request file, documented response file) pairs for our operations, and the files that are not XML."""
    cases, malformed = [], []
    for position, entry in enumerate(INDEX):
        if entry["kind"] != "request" or entry["body_root"] not in OPERATIONS:
            continue
        try:
            etree.fromstring(_fixed(EXAMPLES / entry["file"]))
        except etree.XMLSyntaxError:
            malformed.append(entry["file"])
            continue
        responses = [e["file"] for e in INDEX[position + 1:]
                     if e["page"] == entry["page"] and e["body_root"] == entry["body_root"] + "Response"]
        cases.append((entry["file"], responses[0] if responses else ""))
    return cases, malformed


CASES, MALFORMED = _documented_cases()
MALFORMED_RESPONSES = set()
for _, _response in CASES:
    try:
        if _response:
            etree.fromstring(_fixed(EXAMPLES / _response))
    except etree.XMLSyntaxError:
        MALFORMED_RESPONSES.add(_response)


def _with_impersonation(sim, document: etree._Element) -> str:
    """Add the ExchangeImpersonation header an app-only token needs (most examples use delegate access), or give
    the mailbox an example impersonates a home in the tenant; return the impersonated address."""
    header = document.find(f"{{{SOAP}}}Header")
    if header is None:
        header = etree.Element(f"{{{SOAP}}}Header")
        document.insert(0, header)
    sid = header.find(f"{{{T}}}ExchangeImpersonation/{{{T}}}ConnectingSID")
    if sid is None:
        impersonation = etree.SubElement(header, f"{{{T}}}ExchangeImpersonation")
        sid = etree.SubElement(impersonation, f"{{{T}}}ConnectingSID")
        etree.SubElement(sid, f"{{{T}}}PrimarySmtpAddress").text = MAILBOX
        return MAILBOX
    address = next(node.text for node in sid if node.text)
    tenant = sim.world.directory.tenant_of_mailbox(MAILBOX)
    tenant.domains.append(address.rpartition("@")[2].lower())
    sim.world.directory.add_mailbox(tenant.tenant_id, address)
    sim.world.mailstore.ensure_mailbox(address)
    return address


def _documented_items(documented: etree._Element | None) -> list[list[str]]:
    """Return, per response message, the item element names a documented response holds."""
    if documented is None:
        return []
    return [[etree.QName(item).localname for item in message.find("m:Items", NS)]
            if message.find("m:Items", NS) is not None else []
            for message in documented.find("m:ResponseMessages", NS)]


def _seed_referenced(sim, request: etree._Element, mailbox: str, documented_kinds: list[str]) -> None:
    """Create the folders and items the documented request names, with the documented ids and change keys
    (of the kind the documented response shows, when the request does not say)."""
    documented_kinds = list(documented_kinds)
    store = sim.world.mailstore
    root_id = store.folder(mailbox, "msgfolderroot").id
    for node in request.iter(f"{{{T}}}FolderId"):
        if store.folder(mailbox, node.get("Id")) is None:
            store.create_folder(mailbox, root_id, "Documented", folder_id=node.get("Id"))
    for node in request.iter(f"{{{T}}}ItemId", f"{{{T}}}ReferenceItemId"):
        if store.item(mailbox, node.get("Id")) is not None:
            continue
        change = node.getparent()
        element = next((etree.QName(e).localname for e in change.iter() if etree.QName(e).localname in _KINDS), None)
        if etree.QName(node).localname == "ReferenceItemId":
            element = "CalendarItem"
        if element is None and documented_kinds:
            element = documented_kinds.pop(0)
        kind, folder = _KINDS.get(element or "", ("message", "inbox"))
        fields = {"subject": "Documented", "start": "2026-03-02T14:00:00Z", "end": "2026-03-02T15:00:00Z"}
        item = store.create_item(mailbox, store.folder(mailbox, folder).id, kind, fields, item_id=node.get("Id"))
        if node.get("ChangeKey"):
            item.change_key = node.get("ChangeKey")
    state = request.find("m:SyncState", NS)
    if state is not None and state.text:
        # A documented state was issued by Microsoft's server for its folder; ours refuses it as Exchange would
        # (ErrorInvalidSyncStateData), so hand over a state our server issued for the same folder instead.
        folder_node = request.find("m:SyncFolderId", NS)[0]
        folder = store.folder(mailbox, folder_node.get("Id"))
        state.text = store.changes(mailbox, folder.id, None, 512)[1]


def _classes(body: etree._Element) -> list[str]:
    return [message.get("ResponseClass") for message in body.find("m:ResponseMessages", NS)]


def test_documented_examples_include_requests_for_our_operations():
    # given Microsoft's examples, when we pick the requests of operations we implement, then there are many,
    # and only the documentation's typos (not well-formed XML) are left out
    assert len(CASES) >= 20
    assert len(MALFORMED) <= 5, MALFORMED
    assert len(MALFORMED_RESPONSES) <= 5, MALFORMED_RESPONSES


@pytest.mark.parametrize(("request_file", "response_file"), CASES)
def test_documented_request_is_accepted_with_documented_response_shape(request_file, response_file):
    # given a strict simulator holding the folders and items the documented request names
    sim = make_world(strict=True)
    document = etree.fromstring(_fixed(EXAMPLES / request_file))
    address = _with_impersonation(sim, document)
    request = document.find(f"{{{SOAP}}}Body")[0]
    documented = None
    if response_file and response_file not in MALFORMED_RESPONSES:
        documented = etree.fromstring(_fixed(EXAMPLES / response_file)).find(f"{{{SOAP}}}Body")[0]
    _seed_referenced(sim, request, address, [k for kinds in _documented_items(documented) for k in kinds])

    # when the documented request is posted
    status, _, payload = endpoint.handle(sim.world, sim.claims, {}, etree.tostring(document))

    # then it is accepted and the answer validates against the schema, with the documented shape
    body = assert_schema_valid(payload)
    assert status == 200, payload.decode()
    assert etree.QName(body).localname == etree.QName(request).localname + "Response"
    assert all(c == "Success" for c in _classes(body)), payload.decode()
    if documented is not None:
        documented_messages = documented.find("m:ResponseMessages", NS)
        ours = body.find("m:ResponseMessages", NS)
        assert [etree.QName(m).localname for m in ours] == [etree.QName(m).localname for m in documented_messages]
        assert _documented_items(body) == _documented_items(documented)
