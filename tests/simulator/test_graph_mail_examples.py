"""The documented Graph mail examples replayed against the simulator over HTTPS (MSAL + httpx), ``/me`` read as
``/users/{upn}`` (application permissions), answered with the documented status and shape.

Request bodies and the documented response keys are copied from microsoftgraph/microsoft-graph-docs at commit
db3ad7292b828f2149fe620c9a6de9f98946b4fd (code samples MIT, docs CC-BY-4.0): api-reference/v1.0/api/
user-post-messages.md, user-sendmail.md, message-send.md, attachment-createuploadsession.md,
singlevaluelegacyextendedproperty-get.md, singlevaluelegacyextendedproperty-post-singlevalueextendedproperties.md,
user-list-messages.md. Not replayed: the MIME (text/plain base64) variants of create and sendMail, and the
``cast(ep/value, Edm.Int32)`` filters (the simulator answers 400 to both; see simulator/CONTRACT.md).
"""

from __future__ import annotations

import httpx
import pytest

# user-post-messages.md, create_message_from_user: the documented response's keys (values are the tenant's).
CREATED_MESSAGE_KEYS = {
    "@odata.context", "@odata.etag", "id", "createdDateTime", "lastModifiedDateTime", "changeKey", "categories",
    "receivedDateTime", "sentDateTime", "hasAttachments", "internetMessageId", "subject", "bodyPreview", "importance",
    "parentFolderId", "conversationId", "conversationIndex", "isDeliveryReceiptRequested", "isReadReceiptRequested",
    "isRead", "isDraft", "webLink", "inferenceClassification", "body", "toRecipients", "ccRecipients",
    "bccRecipients", "replyTo"}

CREATE_MESSAGE_FROM_USER = {
    "subject": "Did you see last night's game?", "importance": "Low",
    "body": {"contentType": "HTML", "content": "They were <b>awesome</b>!"},
    "toRecipients": [{"emailAddress": {"address": "AdeleV@contoso.onmicrosoft.com"}}]}
CREATE_MESSAGE_WITH_HEADERS = {
    "subject": "9/8/2018: concert", "body": {"contentType": "HTML", "content": "The group represents Washington."},
    "toRecipients": [{"emailAddress": {"address": "AlexW@contoso.OnMicrosoft.com"}}],
    "internetMessageHeaders": [{"name": "x-custom-header-group-name", "value": "Washington"},
                               {"name": "x-custom-header-group-id", "value": "WA001"}]}
SENDMAIL_EXAMPLES = {
    "user_sendmail": {
        "message": {"subject": "Meet for lunch?", "body": {"contentType": "Text",
                                                           "content": "The new cafeteria is open."},
                    "toRecipients": [{"emailAddress": {"address": "fannyd@contoso.onmicrosoft.com"}}],
                    "ccRecipients": [{"emailAddress": {"address": "danas@contoso.onmicrosoft.com"}}]},
        "saveToSentItems": "false"},
    "user_sendmail_with_headers": {
        "message": {"subject": "9/9/2018: concert", "body": {"contentType": "HTML",
                                                             "content": "The group represents Nevada."},
                    "toRecipients": [{"emailAddress": {"address": "AlexW@contoso.OnMicrosoft.com"}}],
                    "internetMessageHeaders": [{"name": "x-custom-header-group-name", "value": "Nevada"},
                                               {"name": "x-custom-header-group-id", "value": "NV001"}]}},
    "user_sendmail_with_attachment": {
        "message": {"subject": "Meet for lunch?", "body": {"contentType": "Text",
                                                           "content": "The new cafeteria is open."},
                    "toRecipients": [{"emailAddress": {"address": "meganb@contoso.onmicrosoft.com"}}],
                    "attachments": [{"@odata.type": "#microsoft.graph.fileAttachment", "name": "attachment.txt",
                                     "contentType": "text/plain", "contentBytes": "SGVsbG8gV29ybGQh"}]}},
}
COLOR = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name Color"


@pytest.mark.parametrize("body", [CREATE_MESSAGE_FROM_USER, CREATE_MESSAGE_WITH_HEADERS],
                         ids=["create_message_from_user", "create_message_with_headers_from_user"])
def test_the_documented_create_message_requests_answer_201_with_the_documented_shape(sim_tenant, graph, body):
    tenant = sim_tenant()
    answer = graph(tenant).post(f"/users/{tenant.mailboxes[0]}/messages", json=body)
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert set(created) >= CREATED_MESSAGE_KEYS
    assert created["isDraft"] is True and created["subject"] == body["subject"]
    assert created["importance"] == body.get("importance", "normal").lower()
    assert created["body"]["contentType"] == "html"
    if "internetMessageHeaders" in body:
        assert created["internetMessageHeaders"] == body["internetMessageHeaders"]


@pytest.mark.parametrize("name", list(SENDMAIL_EXAMPLES))
def test_the_documented_send_mail_requests_answer_202_and_leave(sim_tenant, graph, simulator, name):
    tenant = sim_tenant()
    answer = graph(tenant).post(f"/users/{tenant.mailboxes[0]}/sendMail", json=SENDMAIL_EXAMPLES[name])
    assert (answer.status_code, answer.content) == (202, b"")
    (entry,) = simulator.outbound(tenant.mailboxes[0])
    assert entry["subject"] == SENDMAIL_EXAMPLES[name]["message"]["subject"]


def test_the_documented_send_create_upload_session_and_extended_property_requests(sim_tenant, graph):
    tenant = sim_tenant()
    user = tenant.mailboxes[0]
    client: httpx.Client = graph(tenant)
    draft_id = client.post(f"/users/{user}/messages", json=CREATE_MESSAGE_FROM_USER).json()["id"]

    # attachment-createuploadsession.md: 201 uploadSession with uploadUrl, expirationDateTime, ["0-"]
    session = client.post(f"/users/{user}/messages/{draft_id}/attachments/createUploadSession",
                          json={"AttachmentItem": {"attachmentType": "file", "name": "flower", "size": 3483322}})
    assert session.status_code == 201
    assert {"@odata.context", "uploadUrl", "expirationDateTime", "nextExpectedRanges"} <= set(session.json())
    assert session.json()["nextExpectedRanges"] == ["0-"]

    # singlevaluelegacyextendedproperty-post-singlevalueextendedproperties.md, request 2: PATCH adds the property
    patched = client.patch(f"/users/{user}/messages/{draft_id}",
                           json={"singleValueExtendedProperties": [{"id": COLOR, "value": "Green"}]})
    assert patched.status_code == 200

    # singlevaluelegacyextendedproperty-get.md, request 1: $expand with the id filter (URL-encoded as documented)
    expanded = client.get(f"/users/{user}/messages/{draft_id}?$expand=singleValueExtendedProperties($filter=id%20eq"
                          "%20'String%20{66f5a359-4659-4830-9070-00047ec6ac6e}%20Name%20Color')")
    assert expanded.status_code == 200
    assert expanded.json()["singleValueExtendedProperties"] == [{"id": COLOR, "value": "Green"}]

    # request 2: the Any filter, percent-encoded as the docs write it
    filtered = client.get(f"/users/{user}/messages?$filter=singleValueExtendedProperties%2FAny(ep%3A%20ep%2Fid%20eq"
                          "%20'String%20{66f5a359-4659-4830-9070-00047ec6ac6e}%20Name%20Color'%20and%20ep%2Fvalue"
                          "%20eq%20'Green')")
    assert [m["id"] for m in filtered.json()["value"]] == [draft_id]

    # request 3: contains() on the value, case-insensitively ('green' finds 'Green')
    contains = client.get(f"/users/{user}/messages", params={"$filter": (
        "singleValueExtendedProperties/any(ep:ep/Id eq 'String {66f5a359-4659-4830-9070-00047ec6ac6e} Name Color' "
        "and contains(ep/Value, 'green'))")})
    assert [m["id"] for m in contains.json()["value"]] == [draft_id]

    # message-send.md: 202, no body
    sent = client.post(f"/users/{user}/messages/{draft_id}/send")
    assert (sent.status_code, sent.content) == (202, b"")

    # user-list-messages.md: $select=sender,subject -> only those (plus id and etag), the selection in the context
    listed = client.get(f"/users/{user}/messages?$select=sender,subject")
    assert listed.status_code == 200
    assert listed.json()["@odata.context"].endswith("/messages(sender,subject)")
    (message,) = listed.json()["value"]
    assert set(message) == {"@odata.etag", "id", "subject", "sender"}
    assert message["sender"]["emailAddress"]["address"] == user
