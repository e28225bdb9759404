"""The documented Graph mail examples (simulator/graph/openapi/examples/, see its SOURCE.md) replayed against the
strict simulator over HTTPS with MSAL + httpx, ``/me`` read as ``/users/{upn}`` (application permissions): the
documented status, a schema-valid body, every documented property present.

Not replayed: the MIME (text/plain base64) variants of create and sendMail and the ``cast(ep/value, ...)`` filters;
the simulator answers them 400 (simulator/CONTRACT.md, "Graph: mail").
"""

from __future__ import annotations

import pytest

from .graph_examples import assert_documented_shape, example, replay

DOCUMENTED_MESSAGE_ID = "AAMkAGE1M2_bs88AACHsLqWAAA="  # the id singlevaluelegacyextendedproperty-*.md use


@pytest.mark.parametrize("index", [0, 1], ids=["create_message_from_user", "create_message_with_headers_from_user"])
def test_the_documented_create_message_requests_answer_201_with_the_documented_shape(sim_tenant, graph, index):
    tenant = sim_tenant()
    exchange = example("user-post-messages")[index]
    answer = replay(graph(tenant), exchange, user=tenant.mailboxes[0])
    assert_documented_shape(exchange, answer)
    assert answer.json()["isDraft"] is True and answer.json()["subject"] == exchange.body["subject"]


@pytest.mark.parametrize("index", [0, 1, 2],
                         ids=["user_sendmail", "user_sendmail_with_headers", "user_sendmail_with_attachment"])
def test_the_documented_send_mail_requests_answer_202_and_leave(sim_tenant, graph, simulator, index):
    tenant = sim_tenant()
    exchange = example("user-sendmail")[index]
    # sent exactly as documented: user_sendmail_with_headers writes "saveToSentItems": "false" as a string, which
    # the service (and so the strict simulator) reads as the Boolean
    answer = replay(graph(tenant), exchange, user=tenant.mailboxes[0])
    assert_documented_shape(exchange, answer)
    (entry,) = simulator.outbound(tenant.mailboxes[0])
    assert entry["subject"] == exchange.body["message"]["subject"]


def test_the_documented_send_upload_session_and_extended_property_requests(sim_tenant, graph):
    tenant = sim_tenant()
    user = tenant.mailboxes[0]
    client = graph(tenant)
    draft_id = replay(client, example("user-post-messages")[0], user=user).json()["id"]
    on_the_draft = {DOCUMENTED_MESSAGE_ID: draft_id, "AAMkADI5MAAIT3drCAAA=": draft_id, "{id}": draft_id}

    # attachment-createuploadsession.md as documented: "AttachmentItem" in PascalCase (the CSDL says attachmentItem;
    # OData matches action parameter names in any case)
    [session] = example("attachment-createuploadsession")
    assert "AttachmentItem" in session.body
    answer = replay(client, session, user=user, values=on_the_draft)
    assert_documented_shape(session, answer)
    assert answer.json()["nextExpectedRanges"] == ["0-"]

    # singlevaluelegacyextendedproperty-post-singlevalueextendedproperties.md, request 2: PATCH the draft (the
    # page's blank line before Content-Type hides the body from the parser, so it is given here as documented)
    patch = example("singlevaluelegacyextendedproperty-post-singlevalueextendedproperties")[1]
    color = {"id": "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name Color", "value": "Green"}
    assert replay(client, patch, user=user, values=on_the_draft,
                  body={"singleValueExtendedProperties": [color]}).status_code == 200

    # singlevaluelegacyextendedproperty-get.md, request 1: $expand by id, the documented response shape
    get, by_eq, by_contains = example("singlevaluelegacyextendedproperty-get")[:3]
    answer = replay(client, get, user=user, values=on_the_draft)
    assert_documented_shape(get, answer)
    assert answer.json()["singleValueExtendedProperties"] == [color]
    # requests 2 and 3: the Any filter as the docs encode it, and contains() ignoring case ('green' finds 'Green')
    by_contains.path = by_contains.path.replace("/Me/", "/me/", 1)
    for listing in (by_eq, by_contains):
        found = replay(client, listing, user=user)
        assert found.status_code == 200, found.text
        assert [m["id"] for m in found.json()["value"]] == [draft_id]

    # message-send.md: 202, no body
    [send] = example("message-send")
    answer = replay(client, send, user=user, values=on_the_draft)
    assert (answer.status_code, answer.content) == (202, b"")

    # user-list-messages.md: $select=sender,subject
    [listing] = example("user-list-messages")
    answer = replay(client, listing, user=user)
    assert_documented_shape(listing, answer)
    assert answer.json()["@odata.context"].endswith("/messages(sender,subject)")
    assert answer.json()["value"][0]["sender"]["emailAddress"]["address"] == user
