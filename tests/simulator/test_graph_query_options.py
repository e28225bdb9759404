"""The query options contacts, events and messages share (simulator/graph/query_options.py and extended.py): one
strict parser for the extended-property $filter, $select checked against the type, $top/$skip paging."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from simulator.graph import extended
from simulator.graph.wire import GraphError

TAG = "String {c11ff724-aa03-4555-9952-8fa248a11c3e} Name EngageId"
COLLECTIONS = {"contacts": ("/contacts", {"givenName": "Tagged"}),
               "events": ("/events", {"subject": "Tagged", "start": {"dateTime": "2029-03-01T10:00:00",
                                                                     "timeZone": "UTC"},
                                      "end": {"dateTime": "2029-03-01T11:00:00", "timeZone": "UTC"}}),
               "messages": ("/mailFolders/drafts/messages", {"subject": "Tagged"})}
# Filters the old contacts/events reader accepted because it searched inside the expression instead of parsing it.
MALFORMED_FILTERS = [
    f"singleValueExtendedProperties/any(ep: ep/id eq '{TAG}')",
    f"singleValueExtendedProperties/any(ep: ep/id eq '{TAG}' and ep/value gt 'crm-1')",
    f"singleValueExtendedProperties/any(ep: ep/id eq '{TAG}' and ep/value eq 'crm-1' or true)",
    f"singleValueExtendedProperties/any(ep: ep/id eq '{TAG}' or ep/value eq 'crm-1')",
    f"singleValueExtendedProperties/any(ep: other/id eq '{TAG}' and ep/value eq 'crm-1')",
]


@pytest.mark.parametrize("text", MALFORMED_FILTERS)
def test_given_a_malformed_extended_property_filter_when_parsed_then_error_invalid_url_query_filter(text):
    with pytest.raises(GraphError) as refused:
        extended.parse_filter(text)
    assert (refused.value.status, refused.value.code) == (400, "ErrorInvalidUrlQueryFilter")


def test_given_the_documented_filter_in_any_spelling_when_parsed_then_the_same_condition():
    documented = extended.parse_filter(f"singleValueExtendedProperties/Any(ep: ep/id eq '{TAG}' and "
                                       f"ep/value eq 'O''Brien')")
    reordered = extended.parse_filter(f" singleValueExtendedProperties / any ( x : x/value  EQ 'O''Brien' AND "
                                      f"x/id eq '{TAG}' ) ")
    assert documented == reordered and documented.value == "O'Brien"


@pytest.fixture
def tagged_mailbox(sim_tenant, graph):
    """A mailbox with one contact, one event and one draft tagged crm-1 and one of each untagged."""
    tenant = sim_tenant()
    client, user = graph(tenant), f"/users/{tenant.mailboxes[0]}"
    for path, body in COLLECTIONS.values():
        for value in ("crm-1", "crm-2"):
            made = client.post(f"{user}{path}", json={
                **body, "singleValueExtendedProperties": [{"id": TAG, "value": value}]})
            assert made.status_code == 201, made.text
        assert client.post(f"{user}{path}", json={**body, "subject" if "subject" in body else "givenName": "Plain"}
                           ).status_code == 201
    return client, user


@pytest.mark.parametrize("kind", sorted(COLLECTIONS))
def test_given_each_collection_when_filtered_selected_and_paged_then_they_answer_alike(tagged_mailbox, kind):
    client, user = tagged_mailbox
    path = COLLECTIONS[kind][0]
    # the documented filter finds the one tagged crm-1, contains() ignoring case
    documented = f"singleValueExtendedProperties/Any(ep: ep/id eq '{TAG}' and ep/value eq 'crm-1')"
    assert len(client.get(f"{user}{path}", params={"$filter": documented}).json()["value"]) == 1
    contains = f"singleValueExtendedProperties/any(ep: contains(ep/value, 'CRM') and ep/id eq '{TAG}')"
    assert len(client.get(f"{user}{path}", params={"$filter": contains}).json()["value"]) == 2
    # a malformed one is the same 400 everywhere
    for text in MALFORMED_FILTERS:
        refused = client.get(f"{user}{path}", params={"$filter": text})
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "ErrorInvalidUrlQueryFilter", text
    # $select of a property the type does not have is Graph's 400
    unknown = client.get(f"{user}{path}", params={"$select": "id,colour"})
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "RequestBroker--ParseUri"
    assert "colour" in unknown.json()["error"]["message"]
    # $top pages with a nextLink that repeats the query with the next $skip; $top above 1000 is refused
    first = client.get(f"{user}{path}", params={"$top": "2", "$select": "id"}).json()
    assert len(first["value"]) == 2
    query = parse_qs(urlsplit(first["@odata.nextLink"]).query)
    assert (query["$skip"], query["$top"], query["$select"]) == (["2"], ["2"], ["id"])
    rest = client.get(first["@odata.nextLink"]).json()
    assert len(rest["value"]) == 1 and "@odata.nextLink" not in rest
    assert client.get(f"{user}{path}", params={"$top": "1001"}).status_code == 400
    # Prefer: odata.maxpagesize sizes a page without $top, and is echoed
    preferred = client.get(f"{user}{path}", headers={"Prefer": "odata.maxpagesize=1"})
    assert len(preferred.json()["value"]) == 1
    assert "odata.maxpagesize=1" in preferred.headers["Preference-Applied"]
