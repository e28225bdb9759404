"""Graph mail handlers driven directly (a GraphRequest per call, no HTTP) over the store EWS serves: drafts tagged
with an extended property and found by the documented filter, send and sendMail into the shared outbound log,
the send limit, attachments inline and through upload sessions, and Graph's 4xx answers to bad input. Every
successful answer is checked against the OpenAPI subset (strict.check_response)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

import pytest

from simulator.graph import mail, strict, uploads
from simulator.graph.wire import GraphError, GraphRequest, Prefer

from .ews_harness import MAILBOX, EwsWorld, make_world

TAG = "String {00020329-0000-0000-C000-000000000046} Name CrmSendKey"
BASE = "https://127.0.0.1:8443"


def call(sim: EwsWorld, method: str, path: str, body: Any = None, query: dict[str, str] | None = None,
         prefer: Prefer | None = None) -> tuple[int, dict[str, str], Any]:
    """Run the mail route for `method path` as the endpoint would; Graph errors come back as their JSON body."""
    request = GraphRequest(world=sim.world, method=method, path=path, query=query or {}, headers={}, body=body,
                           raw_body=json.dumps(body).encode() if body is not None else b"", address=MAILBOX,
                           tenant_id=sim.claims.tenant_id, app_id=sim.claims.app_id, prefer=prefer or Prefer(),
                           base_url=BASE)
    for candidate in mail.ROUTES:
        match = candidate.pattern.match(path)
        if candidate.method == method and match:
            try:
                with sim.world.lock:
                    status, headers, payload = candidate.handler(request, match)
            except GraphError as error:
                return error.status, error.headers, {"error": {"code": error.code, "message": error.message}}
            # every answer is valid against the OpenAPI subset, as strict mode would check it
            strict.check_response(sim.world, method, path, status, payload)
            content_type = headers.get("Content-Type", "")
            return status, headers, json.loads(payload) if content_type.startswith("application/json") else payload
    raise AssertionError(f"no mail route for {method} {path}")


def draft(subject: str = "Offer", key: str | None = "crm-1", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"subject": subject, "body": {"contentType": "Text", "content": "Hello"},
                            "toRecipients": [{"emailAddress": {"address": "buyer@client.example"}}], **extra}
    if key is not None and "singleValueExtendedProperties" not in extra:
        body["singleValueExtendedProperties"] = [{"id": TAG, "value": key}]
    return body


def tag_filter(value: str, tag: str = TAG) -> dict[str, str]:
    return {"$filter": f"singleValueExtendedProperties/Any(ep: ep/id eq '{tag}' and ep/value eq '{value}')"}


@pytest.fixture
def sim() -> EwsWorld:
    return make_world()


# --- drafts, the tag filter, send --------------------------------------------------------------------------------
def test_a_tagged_draft_is_found_by_its_tag_in_drafts_then_in_sent_items_with_the_same_immutable_id(sim):
    immutable = Prefer(immutable_ids=True)
    # given a draft created through Graph (immutable ids) with the CRM's send key as an extended property
    status, _, created = call(sim, "POST", "/messages", draft(key="crm-42"), prefer=immutable)
    assert status == 201 and created["isDraft"] is True and created["id"]

    # then the tag filter finds it in Drafts (and nothing in Sent Items yet)
    _, _, found = call(sim, "GET", "/mailFolders/drafts/messages", query=tag_filter("crm-42"), prefer=immutable)
    assert [m["id"] for m in found["value"]] == [created["id"]]
    assert call(sim, "GET", "/mailFolders/sentitems/messages", query=tag_filter("crm-42"))[2]["value"] == []

    # when it is sent
    status, _, payload = call(sim, "POST", f"/messages/{created['id']}/send", prefer=immutable)
    assert (status, payload) == (202, b"")

    # then Drafts no longer holds it; Sent Items does under the same immutable id, no longer a draft, tagged
    assert call(sim, "GET", "/mailFolders/drafts/messages", query=tag_filter("crm-42"))[2]["value"] == []
    _, _, sent = call(sim, "GET", "/mailFolders/SentItems/messages", prefer=immutable,
                      query={**tag_filter("crm-42"), "$expand": f"singleValueExtendedProperties($filter=id eq '{TAG}')"})
    (copy,) = sent["value"]
    assert copy["id"] == created["id"]
    assert copy["isDraft"] is False and copy["subject"] == "Offer" and copy["sentDateTime"]
    assert copy["singleValueExtendedProperties"] == [
        {"id": "String {00020329-0000-0000-c000-000000000046} Name CrmSendKey", "value": "crm-42"}]
    assert call(sim, "GET", f"/messages/{created['id']}")[2]["parentFolderId"] == copy["parentFolderId"]
    # and it left once, in the store's outbound log, tagged
    (entry,) = sim.world.mailstore.outbound_log(MAILBOX)
    assert entry["subject"] == "Offer" and entry["to"] == [{"email": "buyer@client.example",
                                                             "name": "buyer@client.example"}]
    assert entry["extended"] == {"00020329-0000-0000-c000-000000000046|CrmSendKey|String": "crm-42"}


def test_a_rest_id_changes_with_the_move_to_sent_items_as_exchange_ids_do(sim):
    _, _, created = call(sim, "POST", "/messages", draft())
    call(sim, "POST", f"/messages/{created['id']}/send")
    (copy,) = call(sim, "GET", "/mailFolders/sentitems/messages")[2]["value"]
    assert copy["id"] != created["id"]
    assert call(sim, "GET", f"/messages/{created['id']}")[0] == 404


def test_sending_an_id_that_is_no_longer_a_draft_is_not_found_and_delivers_nothing(sim):
    # given a draft that was sent
    _, _, created = call(sim, "POST", "/messages", draft())
    call(sim, "POST", f"/messages/{created['id']}/send")
    _, _, sent = call(sim, "GET", "/mailFolders/sentitems/messages", query=tag_filter("crm-1"))

    # when the send is retried with the id of the copy in Sent Items (what an immutable id finds after a send)
    status, _, error = call(sim, "POST", f"/messages/{sent['value'][0]['id']}/send")
    assert call(sim, "POST", f"/messages/{created['id']}/send")[0] == 404  # and with the draft's old REST id

    # then it is 404 ErrorItemNotFound and nothing more left
    assert status == 404 and error["error"]["code"] == "ErrorItemNotFound"
    assert len(sim.world.mailstore.outbound_log(MAILBOX)) == 1


def test_a_draft_without_recipients_is_refused_and_stays_a_draft(sim):
    _, _, created = call(sim, "POST", "/messages", {"subject": "nobody"})
    status, _, error = call(sim, "POST", f"/messages/{created['id']}/send")
    assert status == 400 and error["error"]["code"] == "ErrorInvalidRecipients"
    assert sim.world.mailstore.outbound_log(MAILBOX) == []
    assert call(sim, "GET", f"/messages/{created['id']}")[2]["isDraft"] is True


def test_a_graph_send_and_an_ews_send_write_the_same_outbound_log_entry_shape(sim):
    # given one message sent through EWS (CreateItem SendAndSaveCopy) and one through Graph sendMail
    sim.call('<m:CreateItem MessageDisposition="SendAndSaveCopy"><m:Items><t:Message><t:Subject>ews</t:Subject>'
             '<t:Body BodyType="Text">Hi</t:Body><t:ToRecipients><t:Mailbox><t:EmailAddress>b@client.example'
             '</t:EmailAddress></t:Mailbox></t:ToRecipients></t:Message></m:Items></m:CreateItem>')
    status, _, _ = call(sim, "POST", "/sendMail", {"message": {
        "subject": "graph", "body": {"contentType": "Text", "content": "Hi"},
        "toRecipients": [{"emailAddress": {"address": "b@client.example"}}]}})
    assert status == 202

    # then both are in the one log with the same fields, differing only in what differs
    ews, graph = sim.world.mailstore.outbound_log(MAILBOX)
    assert ews.keys() == graph.keys()
    same = {k for k in ews if k not in ("subject", "internet_message_id", "sent_at")}
    assert {k: ews[k] for k in same} == {k: graph[k] for k in same}
    assert graph["from"] == {"email": MAILBOX, "name": "Agent One"}
    assert graph["internet_message_id"].endswith("@brokerage.example>")


# --- sendMail ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("save", "copies"), [(None, 1), (True, 1), (False, 0), ("false", 0), ("True", 1)])
def test_send_mail_answers_202_without_an_id_and_keeps_a_copy_unless_told_not_to(sim, save, copies):
    # given a sendMail body as the docs write it (saveToSentItems as boolean, string, or absent)
    body: dict[str, Any] = {"message": draft("Lunch", key="crm-7")}
    if save is not None:
        body["saveToSentItems"] = save

    # when it is posted
    status, headers, payload = call(sim, "POST", "/sendMail", body)

    # then 202 with no body and no id; the mail left once; Sent Items holds a copy only when asked
    assert (status, payload) == (202, b"") and "Location" not in headers
    assert [e["subject"] for e in sim.world.mailstore.outbound_log(MAILBOX)] == ["Lunch"]
    assert len(call(sim, "GET", "/mailFolders/sentitems/messages", query=tag_filter("crm-7"))[2]["value"]) == copies


def test_send_mail_parameter_names_match_case_insensitively_as_in_the_csdl(sim):
    status, _, _ = call(sim, "POST", "/sendMail", {"Message": draft("CSDL"), "SaveToSentItems": False})
    assert status == 202 and sim.world.mailstore.outbound_log(MAILBOX)[0]["subject"] == "CSDL"


@pytest.mark.parametrize(("body", "code"), [
    (None, "RequestBodyRead"), ([], "RequestBodyRead"), ({}, "ErrorInvalidParameter"),
    ({"message": "text"}, "ErrorInvalidParameter"), ({"message": {}, "extra": 1}, "RequestBodyRead"),
    ({"message": {"toRecipients": [{"emailAddress": {"address": "a@b.example"}}]}, "saveToSentItems": "maybe"},
     "RequestBodyRead"),
    ({"message": {"subject": "no one"}}, "ErrorInvalidRecipients"),
    ({"message": {"toRecipients": [{"emailAddress": {}}]}}, "RequestBodyRead"),
    ({"message": {"toRecipients": "a@b.example"}}, "RequestBodyRead"),
    ({"message": {"subject": 5, "toRecipients": []}}, "RequestBodyRead"),
    ({"message": {"body": {"contentType": "rtf", "content": "x"}}}, "RequestBodyRead"),
    ({"message": {"colour": "red"}}, "RequestBodyRead"),
    ({"message": {"singleValueExtendedProperties": [{"id": "String Name Oops", "value": "x"}]}},
     "ErrorInvalidProperty"),
    ({"message": {"attachments": [{"name": "a.txt", "contentBytes": "SGk="}]}}, "RequestBodyRead"),
    ({"message": {"attachments": [{"@odata.type": "#microsoft.graph.itemAttachment", "name": "x"}]}},
     "ErrorInvalidRequest"),
    ({"message": {"attachments": [{"@odata.type": "#microsoft.graph.fileAttachment", "name": "a",
                                   "contentBytes": "not base64!"}]}}, "RequestBodyRead"),
])
def test_malformed_send_mail_bodies_are_graph_400s_and_nothing_leaves(sim, body, code):
    status, _, error = call(sim, "POST", "/sendMail", body)
    assert status == 400 and error["error"]["code"] == code and error["error"]["message"]
    assert sim.world.mailstore.outbound_log(MAILBOX) == []


# --- the send limit ----------------------------------------------------------------------------------------------
def test_the_send_limit_answers_429_with_retry_after_and_sends_nothing_more(sim):
    # given a mailbox allowed two more messages this minute, and three drafts
    sim.world.faults.sends_per_minute = 2
    ids = [call(sim, "POST", "/messages", draft(f"m{n}", key=f"k{n}"))[2]["id"] for n in range(3)]

    # when all three are sent
    answers = [call(sim, "POST", f"/messages/{message_id}/send") for message_id in ids]

    # then the third is throttled (429, Retry-After in seconds), stays a draft, and only two left
    assert [a[0] for a in answers[:2]] == [202, 202]
    status, headers, error = answers[2]
    assert status == 429 and headers["Retry-After"] == "60" and error["error"]["code"] == "TooManyRequests"
    assert [e["subject"] for e in sim.world.mailstore.outbound_log(MAILBOX)] == ["m0", "m1"]
    assert call(sim, "GET", f"/messages/{ids[2]}")[2]["isDraft"] is True
    # and sendMail counts against the same budget
    assert call(sim, "POST", "/sendMail", {"message": draft()})[0] == 429


def test_the_send_limit_fault_forces_429_with_its_back_off(sim):
    # given the fault picked for this request (the endpoint hands it to the handler)
    rule = sim.world.faults.add("send_limit", back_off_ms=2500)
    fault = sim.world.faults.pick(sim.claims.tenant_id, MAILBOX, "SendItem")
    assert fault is not None and fault.rule_id == rule.rule_id
    request_body = {"message": draft()}
    request = GraphRequest(world=sim.world, method="POST", path="/sendMail", query={}, headers={}, body=request_body,
                           raw_body=b"", address=MAILBOX, tenant_id=sim.claims.tenant_id, app_id=sim.claims.app_id,
                           prefer=Prefer(), base_url=BASE, fault=fault)

    # when sendMail runs with it
    with pytest.raises(GraphError) as raised:
        mail.send_mail(request, re.match("", ""))

    # then 429 with Retry-After 2.5 seconds, and nothing left
    assert (raised.value.status, raised.value.headers) == (429, {"Retry-After": "2.5"})
    assert sim.world.mailstore.outbound_log(MAILBOX) == []


# --- the filter and the other query options ----------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    "singleValueExtendedProperties/Any(ep: ep/id eq '{tag}' and ep/value eq 'crm-1')",
    "singleValueExtendedProperties/any(ep:ep/Id eq '{tag}' and ep/Value eq 'crm-1')",
    "singlevalueextendedproperties/ANY( x : x/value eq 'crm-1'  AND  x/id eq '{tag}' )",
    "singleValueExtendedProperties/any(ep: ep/id eq '{lower_guid}' and ep/value eq 'crm-1')",
])
def test_the_documented_tag_filter_is_parsed_in_its_spellings(sim, text):
    _, _, created = call(sim, "POST", "/messages", draft())
    call(sim, "POST", "/messages", draft("Other", key="crm-2"))
    query = {"$filter": text.format(tag=TAG, lower_guid=TAG.replace("C000", "c000"))}
    _, _, found = call(sim, "GET", "/messages", query=query)
    assert [m["id"] for m in found["value"]] == [created["id"]]


@pytest.mark.parametrize(("condition", "found"), [
    ("ep/value ne 'Green'", ["Blue"]), ("startswith(ep/value, 'gr')", ["Green"]),
    ("contains(ep/Value, 'green')", ["Green"]), ("contains(ep/value, 'e')", ["Blue", "Green"]),
    ("ep/value eq 'green'", []),
])
def test_the_documented_string_conditions_on_the_value_are_supported(sim, condition, found):
    # given drafts coloured by an extended property (the docs' example property), and one without it
    color = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name Color"
    for value in ("Green", "Blue"):
        call(sim, "POST", "/messages", draft(value, singleValueExtendedProperties=[{"id": color, "value": value}]))
    call(sim, "POST", "/messages", draft("Uncoloured", key=None))

    # when filtered as singlevaluelegacyextendedproperty-get.md shows (contains ignores case, as its example does)
    text = f"singleValueExtendedProperties/any(ep:ep/Id eq '{color}' and {condition})"
    _, _, listed = call(sim, "GET", "/messages", query={"$filter": text})

    # then only the messages whose property satisfies it, never the one without the property
    assert sorted(m["subject"] for m in listed["value"]) == found


def test_a_quote_inside_the_filter_value_is_escaped_by_doubling(sim):
    _, _, created = call(sim, "POST", "/messages", draft(key="O'Brien"))
    _, _, found = call(sim, "GET", "/mailFolders/drafts/messages", query=tag_filter("O''Brien"))
    assert [m["id"] for m in found["value"]] == [created["id"]]


@pytest.mark.parametrize("text", [
    "subject eq 'Offer'",
    "singleValueExtendedProperties/any(ep: ep/id eq 'x')",
    f"singleValueExtendedProperties/any(ep: ep/id eq '{TAG}' or ep/value eq 'crm-1')",
    f"singleValueExtendedProperties/any(ep: other/id eq '{TAG}' and ep/value eq 'crm-1')",
    f"singleValueExtendedProperties/any(ep: ep/id eq '{TAG}' and ep/id eq 'crm-1')",
    f"singleValueExtendedProperties/any(ep: ep/id eq '{TAG}' and cast(ep/value, Edm.Int32) eq 12)",
    f"singleValueExtendedProperties/any(ep: ep/id eq '{TAG}' and endswith(ep/value, '1'))",
    "singleValueExtendedProperties/any(ep: ep/value eq 'crm-1' and ep/value ne 'crm-2')",
    f"singleValueExtendedProperties/any(ep: ep/id eq '{TAG}' and ep/value eq 'crm-1') and isRead eq false",
    f"singleValueExtendedProperties/any(ep: ep/id eq '{TAG}' and ep/value eq 'unterminated)",
    "",
])
def test_other_filters_are_refused_with_graphs_400(sim, text):
    status, _, error = call(sim, "GET", "/mailFolders/drafts/messages", query={"$filter": text})
    assert status == 400 and error["error"]["code"] == "ErrorInvalidUrlQueryFilter"


def test_a_malformed_property_id_in_the_filter_is_a_400(sim):
    status, _, error = call(sim, "GET", "/messages", query=tag_filter("x", tag="Strung {nope} Name X"))
    assert status == 400 and error["error"]["code"] == "ErrorInvalidProperty"


def test_select_top_and_paging_follow_next_links_to_the_end(sim):
    # given five drafts
    for n in range(5):
        call(sim, "POST", "/messages", draft(f"m{n}", key="same"))

    # when they are listed two at a time with only the subject selected
    query = {**tag_filter("same"), "$select": "subject,isDraft", "$top": "2"}
    pages = [call(sim, "GET", "/mailFolders/drafts/messages", query=query)[2]]
    while "@odata.nextLink" in pages[-1]:
        link = pages[-1]["@odata.nextLink"]
        assert link.startswith(f"{BASE}/v1.0/users/{MAILBOX}/mailFolders/drafts/messages?")
        next_query = dict(pair.split("=", 1) for pair in link.split("?", 1)[1].split("&"))
        pages.append(call(sim, "GET", "/mailFolders/drafts/messages",
                          query={**query, "$skip": next_query["%24skip"]})[2])

    # then three pages cover the five, newest first, each message with only id, etag and the selection
    assert [len(p["value"]) for p in pages] == [2, 2, 1]
    messages = [m for p in pages for m in p["value"]]
    assert sorted(m["subject"] for m in messages) == [f"m{n}" for n in range(5)]
    assert all(set(m) == {"@odata.etag", "id", "subject", "isDraft"} for m in messages)


def test_an_unknown_select_property_or_query_option_is_a_400(sim):
    assert call(sim, "GET", "/messages", query={"$select": "subject,colour"})[2]["error"]["code"] == \
        "RequestBroker--ParseUri"
    assert call(sim, "GET", "/messages", query={"$top": "0"})[0] == 400
    assert call(sim, "GET", "/messages", query={"$top": "ten"})[0] == 400
    assert call(sim, "GET", "/messages", query={"$search": "offer"})[0] == 400
    assert call(sim, "GET", "/messages", query={"$expand": "attachments"})[0] == 400
    assert call(sim, "GET", "/messages", query={"$orderby": "colour desc"})[0] == 400


def test_expand_returns_only_the_named_extended_properties(sim):
    other = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name Color"
    _, _, created = call(sim, "POST", "/messages", draft(singleValueExtendedProperties=[
        {"id": TAG, "value": "crm-1"}, {"id": other, "value": "Green"}]))
    _, _, message = call(sim, "GET", f"/messages/{created['id']}",
                         query={"$expand": f"singleValueExtendedProperties($filter=id eq '{other}')"})
    assert message["singleValueExtendedProperties"] == [{"id": other, "value": "Green"}]
    assert "singleValueExtendedProperties" not in call(sim, "GET", f"/messages/{created['id']}")[2]


def test_a_tag_written_through_graph_is_the_same_mapi_property_ews_reads(sim):
    # given a draft tagged through Graph in the property-tag, id and name forms
    _, _, created = call(sim, "POST", "/messages", draft(singleValueExtendedProperties=[
        {"id": "String 0x4001001E", "value": "by tag"},
        {"id": "Integer {00062008-0000-0000-C000-000000000046} Id 0x8012", "value": "7"},
        {"id": TAG, "value": "crm-1"}]))

    # then the store keys them as the EWS part does for the same ExtendedFieldURIs
    (item,) = sim.world.mailstore.folder(MAILBOX, "drafts").items.values()
    assert item.extended == {"tag|16385|String": "by tag", "00062008-0000-0000-c000-000000000046|#32786|Integer": "7",
                             "00020329-0000-0000-c000-000000000046|CrmSendKey|String": "crm-1"}
    # and Graph names them back in its own forms
    ids = ("String 0x4001001E", "Integer {00062008-0000-0000-C000-000000000046} Id 0x8012", TAG)
    expand = "singleValueExtendedProperties($filter=" + " or ".join(f"id eq '{i}'" for i in ids) + ")"
    _, _, read = call(sim, "GET", f"/messages/{created['id']}", query={"$expand": expand})
    assert {p["id"] for p in read["singleValueExtendedProperties"]} == {
        "String 0x4001001f", "Integer {00062008-0000-0000-c000-000000000046} Id 0x8012",
        "String {00020329-0000-0000-c000-000000000046} Name CrmSendKey"}


# --- PATCH, DELETE, reads ----------------------------------------------------------------------------------------
def test_a_draft_is_updated_and_deleted_to_deleted_items(sim):
    _, _, created = call(sim, "POST", "/messages", draft())
    status, _, updated = call(sim, "PATCH", f"/messages/{created['id']}", {
        "subject": "Better offer", "importance": "High",
        "singleValueExtendedProperties": [{"id": TAG, "value": "crm-9"}]})
    assert status == 200 and updated["subject"] == "Better offer" and updated["importance"] == "high"
    assert updated["changeKey"] != created["changeKey"]
    assert call(sim, "GET", "/messages", query=tag_filter("crm-9"))[2]["value"][0]["id"] == created["id"]

    assert call(sim, "DELETE", f"/messages/{created['id']}")[0] == 204
    assert call(sim, "GET", "/mailFolders/drafts/messages")[2]["value"] == []
    assert [m["subject"] for m in call(sim, "GET", "/mailFolders/deleteditems/messages")[2]["value"]] == \
        ["Better offer"]


def test_unknown_ids_and_folders_are_404_item_not_found(sim):
    for method, path in (("GET", "/messages/AAMkAGVmMDEz"), ("PATCH", "/messages/AAMkAGVmMDEz"),
                         ("DELETE", "/messages/AAMkAGVmMDEz"), ("POST", "/messages/AAMkAGVmMDEz/send"),
                         ("GET", "/mailFolders/nowhere/messages")):
        status, _, error = call(sim, method, path, {} if method == "PATCH" else None)
        assert (status, error["error"]["code"]) == (404, "ErrorItemNotFound"), (method, path)


def test_a_created_message_has_the_documented_shape(sim):
    status, _, created = call(sim, "POST", "/mailFolders/drafts/messages", {
        "subject": "Did you see last night's game?", "importance": "Low",
        "body": {"contentType": "HTML", "content": "They were <b>awesome</b>!"},
        "toRecipients": [{"emailAddress": {"address": "AdeleV@contoso.onmicrosoft.com"}}]})
    assert status == 201
    assert created["@odata.context"].endswith(f"users('{MAILBOX}')/messages/$entity")
    assert created["@odata.etag"] == f'W/"{created["changeKey"]}"'
    assert created["importance"] == "low" and created["bodyPreview"] == "They were awesome !"
    assert created["body"] == {"contentType": "html", "content": "They were <b>awesome</b>!"}
    assert created["toRecipients"] == [{"emailAddress": {"name": "AdeleV@contoso.onmicrosoft.com",
                                                         "address": "AdeleV@contoso.onmicrosoft.com"}}]
    assert created["hasAttachments"] is False and created["isRead"] is True and created["parentFolderId"]


# --- attachments -------------------------------------------------------------------------------------------------
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40


def test_an_inline_attachment_is_stored_byte_exact_and_listed(sim):
    _, _, created = call(sim, "POST", "/messages", draft())
    status, _, attachment = call(sim, "POST", f"/messages/{created['id']}/attachments", {
        "@odata.type": "#microsoft.graph.fileAttachment", "name": "offer.pdf", "contentType": "application/pdf",
        "contentBytes": base64.b64encode(PDF).decode()})
    assert status == 201 and attachment["size"] == len(PDF) and attachment["name"] == "offer.pdf"

    _, _, listed = call(sim, "GET", f"/messages/{created['id']}/attachments")
    assert [base64.b64decode(a["contentBytes"]) for a in listed["value"]] == [PDF]
    raw = call(sim, "GET", f"/messages/{created['id']}/attachments/{attachment['id']}/$value")
    assert raw[0] == 200 and raw[2] == PDF
    assert call(sim, "GET", f"/messages/{created['id']}")[2]["hasAttachments"] is True


def test_an_inline_attachment_of_3_mb_or_more_is_413(sim):
    _, _, created = call(sim, "POST", "/messages", draft())
    status, _, error = call(sim, "POST", f"/messages/{created['id']}/attachments", {
        "@odata.type": "#microsoft.graph.fileAttachment", "name": "big.bin",
        "contentBytes": base64.b64encode(b"x" * (3 * 1024 * 1024 + 1)).decode()})
    assert status == 413 and error["error"]["code"] == "RequestEntityTooLarge"
    assert call(sim, "GET", f"/messages/{created['id']}/attachments")[2]["value"] == []


def test_send_mail_with_an_attachment_logs_its_hash(sim):
    message = draft(attachments=[{"@odata.type": "#microsoft.graph.fileAttachment", "name": "attachment.txt",
                                  "contentType": "text/plain", "contentBytes": "SGVsbG8gV29ybGQh"}])
    assert call(sim, "POST", "/sendMail", {"message": message})[0] == 202
    (entry,) = sim.world.mailstore.outbound_log(MAILBOX)
    assert entry["attachments"] == [{"name": "attachment.txt", "content_type": "text/plain", "size": 12,
                                     "sha256": hashlib.sha256(b"Hello World!").hexdigest()}]


def _upload(sim: EwsWorld, method: str, url: str, data: bytes = b"", headers: dict[str, str] | None = None,
            token: str | None = None) -> tuple[int, dict[str, str], Any]:
    """Run an upload-URL route as the endpoint does for /api/v2.0/... (no bearer token)."""
    path, _, query = url.removeprefix(f"{BASE}/api/v2.0").partition("?")
    authtoken = token if token is not None else query.removeprefix("authtoken=")
    request = GraphRequest(world=sim.world, method=method, path=path, query={"authtoken": authtoken},
                           headers=headers or {}, body=None, raw_body=data, address=MAILBOX,
                           tenant_id=sim.claims.tenant_id, app_id="", prefer=Prefer(), base_url=BASE)
    for candidate in mail.UPLOAD_ROUTES:
        match = candidate.pattern.match(path)
        if candidate.method == method and match:
            try:
                with sim.world.lock:
                    status, response_headers, payload = candidate.handler(request, match)
            except GraphError as error:
                return error.status, error.headers, {"error": {"code": error.code, "message": error.message}}
            return status, response_headers, json.loads(payload) if payload else None
    raise AssertionError(f"no upload route for {method} {path}")


def _put(sim: EwsWorld, url: str, data: bytes, first: int, total: int, token: str | None = None):
    headers = {"Content-Range": f"bytes {first}-{first + len(data) - 1}/{total}"}
    return _upload(sim, "PUT", url, data, headers, token)


def test_an_upload_session_takes_ordered_chunks_and_attaches_the_file_byte_exact(sim):
    # given a draft and a 3.5 MB file
    content = hashlib.sha256(b"seed").digest() * (3_500_000 // 32)
    _, _, created = call(sim, "POST", "/messages", draft())

    # when an upload session is created
    status, _, session = call(sim, "POST", f"/messages/{created['id']}/attachments/createUploadSession",
                              {"AttachmentItem": {"attachmentType": "file", "name": "flower.jpg",
                                                  "size": len(content), "contentType": "image/jpeg"}})
    assert status == 201 and session["nextExpectedRanges"] == ["0-"]
    assert session["uploadUrl"].startswith(f"{BASE}/api/v2.0/Users('{MAILBOX}')/Messages('{created['id']}')/") and session["expirationDateTime"].endswith("Z")
    url = session["uploadUrl"]

    # then a wrong token, a chunk above 4 MB, a gap and an overlap are refused without taking bytes
    assert _put(sim, url, content[:1000], 0, len(content), token="forged")[0] == 404
    first, second = content[:2_097_152], content[2_097_152:]
    status, _, progress = _put(sim, url, first, 0, len(content))
    assert status == 200 and progress["NextExpectedRanges"] == ["2097152"]
    status, _, error = _put(sim, url, second[:10], 2_097_152 + 5, len(content))
    assert status == 416 and error["error"]["code"] == "invalidRange"
    status, _, error = _put(sim, url, content[1000:2000], 1000, len(content))
    assert (status, error["error"]["message"]) == (416, "Uploaded fragment overlaps with existing data.")

    # and the last chunk completes it: 201 with the attachment's Location, the bytes exact on the message
    status, headers, _ = _put(sim, url, second, 2_097_152, len(content))
    assert status == 201 and "/Attachments('" in headers["Location"]
    _, _, listed = call(sim, "GET", f"/messages/{created['id']}/attachments")
    (attachment,) = listed["value"]
    assert headers["Location"].endswith(f"/Attachments('{attachment['id']}')")
    assert base64.b64decode(attachment["contentBytes"]) == content and attachment["contentType"] == "image/jpeg"
    # and the session is over
    assert _put(sim, url, b"x", 0, len(content))[0] == 404


@pytest.mark.parametrize(("item", "status", "code"), [
    ({"attachmentType": "file", "name": "small", "size": 1000}, 400,
     "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize"),
    ({"attachmentType": "file", "name": "huge", "size": 151 * 1024 * 1024}, 413, "RequestEntityTooLarge"),
    ({"attachmentType": "item", "name": "x", "size": 4_000_000}, 400, "ErrorInvalidRequest"),
    ({"attachmentType": "file", "size": 4_000_000}, 400, "ErrorInvalidAttachmentName"),
    ({"attachmentType": "file", "name": "x", "size": "big"}, 400, "RequestBodyRead"),
])
def test_upload_sessions_refuse_what_graph_refuses(sim, item, status, code):
    _, _, created = call(sim, "POST", "/messages", draft())
    answer = call(sim, "POST", f"/messages/{created['id']}/attachments/createUploadSession", {"AttachmentItem": item})
    assert (answer[0], answer[2]["error"]["code"]) == (status, code)


def test_an_upload_session_is_cancelled_with_delete(sim):
    _, _, created = call(sim, "POST", "/messages", draft())
    _, _, session = call(sim, "POST", f"/messages/{created['id']}/attachments/createUploadSession",
                         {"attachmentItem": {"attachmentType": "file", "name": "a", "size": 4_000_000}})
    assert _upload(sim, "DELETE", session["uploadUrl"])[0] == 204
    assert _put(sim, session["uploadUrl"], b"x" * 10, 0, 4_000_000)[0] == 404


def test_an_upload_chunk_above_4_mb_or_with_a_wrong_range_is_refused_and_an_expired_session_is_gone(sim):
    size = 9 * 1024 * 1024
    _, _, created = call(sim, "POST", "/messages", draft())
    _, _, session = call(sim, "POST", f"/messages/{created['id']}/attachments/createUploadSession",
                         {"AttachmentItem": {"attachmentType": "file", "name": "big", "size": size}})
    url = session["uploadUrl"]
    assert _put(sim, url, b"x" * (4 * 1024 * 1024 + 1), 0, size)[0] == 413
    assert _upload(sim, "PUT", url, b"x" * 10, {"Content-Range": f"bytes 0-99/{size}"})[0] == 400
    assert _upload(sim, "PUT", url, b"x" * 10, {"Content-Range": "bytes 0-9/10"})[0] == 400
    assert _upload(sim, "PUT", url, b"x" * 10, {})[0] == 400
    assert _put(sim, url, b"x" * 10, 0, size)[0] == 200  # nothing above was taken

    # when the session's expiry passes, its URL answers 404
    session_id = re.search(r"AttachmentSessions\('([^']+)'\)", url).group(1)
    open_session = uploads.sessions_of(sim.world).get(session_id)
    open_session.expires -= uploads.SESSION_LIFETIME  # no waiting in tests
    assert _put(sim, url, b"x" * 10, 10, size)[0] == 404


def test_lists_are_newest_first_by_default_ordered_on_request_and_paged_by_prefer(sim):
    for n in range(3):
        call(sim, "POST", "/messages", draft(f"m{n}", key=None))
    for n, item in enumerate(sim.world.mailstore.folder(MAILBOX, "drafts").items.values()):
        item.created = item.created.replace(year=2020 + n)  # distinct receive times without waiting
    newest_first = call(sim, "GET", "/messages")[2]["value"]
    assert [m["subject"] for m in newest_first] == ["m2", "m1", "m0"]
    by_subject = call(sim, "GET", "/messages", query={"$orderby": "subject asc"})[2]["value"]
    assert [m["subject"] for m in by_subject] == ["m0", "m1", "m2"]
    page = call(sim, "GET", "/mailFolders/drafts/messages", prefer=Prefer(max_page_size=2),
                query={"$count": "true"})[2]
    assert len(page["value"]) == 2 and "%24skip=2" in page["@odata.nextLink"] and page["@odata.count"] == 3
    assert call(sim, "GET", "/messages", query={"$count": "maybe"})[0] == 400


def test_get_messages_skips_the_dumpster_and_a_folder_scoped_get_checks_the_folder(sim):
    _, _, created = call(sim, "POST", "/messages", draft("kept"))
    dumpster = sim.world.mailstore.folder(MAILBOX, "recoverableitemsdeletions")
    sim.world.mailstore.create_item(MAILBOX, dumpster.id, "message", {"subject": "purged"}, {})
    assert [m["subject"] for m in call(sim, "GET", "/messages")[2]["value"]] == ["kept"]
    assert call(sim, "GET", "/mailFolders/recoverableitemsdeletions/messages")[0] == 404
    assert call(sim, "GET", f"/mailFolders/drafts/messages/{created['id']}")[2]["subject"] == "kept"
    assert call(sim, "GET", f"/mailFolders/inbox/messages/{created['id']}")[0] == 404


def test_deleting_twice_removes_the_message_for_good(sim):
    _, _, created = call(sim, "POST", "/messages", draft(), prefer=Prefer(immutable_ids=True))
    assert call(sim, "DELETE", f"/messages/{created['id']}")[0] == 204
    assert call(sim, "DELETE", f"/messages/{created['id']}")[0] == 204  # the immutable id follows it to the trash
    assert call(sim, "GET", f"/messages/{created['id']}")[0] == 404
    assert call(sim, "GET", "/mailFolders/deleteditems/messages")[2]["value"] == []


def test_a_created_draft_does_not_echo_its_extended_properties(sim):
    _, _, created = call(sim, "POST", "/messages", draft())
    assert "singleValueExtendedProperties" not in created
