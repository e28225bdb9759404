"""Graph contacts over the same mailbox store EWS serves: CRUD, $select, extended properties, and the delta."""

from __future__ import annotations

import pytest
from exchangelib import Contact

from .ews_exchangelib_support import EngageId, exchange_account

TAG = "String {c11ff724-aa03-4555-9952-8fa248a11c3e} Name EngageId"
IMMUTABLE = {"Prefer": 'IdType="ImmutableId"'}


@pytest.fixture
def engage_tag():
    Contact.register("engage_id", EngageId)
    yield
    Contact.deregister("engage_id")


def delta_round(client, url: str, headers: dict | None = None) -> tuple[list[dict], str, int]:
    """Follow nextLinks to the deltaLink: (all items, the deltaLink, pages)."""
    items, pages = [], 0
    while True:
        answer = client.get(url, headers=headers or {})
        assert answer.status_code == 200, answer.text
        page = answer.json()
        pages += 1
        items.extend(page["value"])
        assert not ("@odata.nextLink" in page and "@odata.deltaLink" in page)
        if "@odata.deltaLink" in page:
            return items, page["@odata.deltaLink"], pages
        url = page["@odata.nextLink"]


def test_given_a_new_contact_when_created_read_patched_and_deleted_then_each_answers_as_graph_does(
        sim_tenant, simulator, graph):
    tenant = sim_tenant()
    client = graph(tenant)
    user = f"/users/{tenant.mailboxes[0]}"
    created = client.post(f"{user}/contacts", json={
        "givenName": "Pavel", "surname": "Bansky", "emailAddresses": [{"address": "pavelb@fabrikam.onmicrosoft.com",
                                                                       "name": "Pavel Bansky"}],
        "businessPhones": ["+1 732 555 0102"], "mobilePhone": "+1 555 0100", "jobTitle": "Broker",
        "businessAddress": {"street": "1 Main St", "city": "Seattle", "postalCode": "98101",
                            "countryOrRegion": "USA"},
        "birthday": "1974-07-22T00:00:00Z", "personalNotes": "Met at the fair",
        "singleValueExtendedProperties": [{"id": TAG, "value": "crm-1"}]})
    assert created.status_code == 201, created.text
    contact = created.json()
    assert contact["displayName"] == "Pavel Bansky"
    assert contact["emailAddresses"] == [{"name": "Pavel Bansky", "address": "pavelb@fabrikam.onmicrosoft.com"}]
    assert contact["businessPhones"] == ["+1 732 555 0102"] and contact["mobilePhone"] == "+1 555 0100"
    assert contact["businessAddress"]["city"] == "Seattle" and contact["birthday"] == "1974-07-22T00:00:00Z"
    assert contact["@odata.etag"] == f'W/"{contact["changeKey"]}"'

    selected = client.get(f"{user}/contacts/{contact['id']}", params={"$select": "givenName,surname"}).json()
    assert set(selected) == {"@odata.etag", "id", "givenName", "surname"}
    expanded = client.get(f"{user}/contacts/{contact['id']}",
                          params={"$expand": f"singleValueExtendedProperties($filter=id eq '{TAG}')"}).json()
    assert expanded["singleValueExtendedProperties"] == [{"id": TAG, "value": "crm-1"}]
    by_tag = client.get(f"{user}/contacts", params={
        "$filter": f"singleValueExtendedProperties/Any(ep: ep/id eq '{TAG}' and ep/value eq 'crm-1')"}).json()
    assert [c["id"] for c in by_tag["value"]] == [contact["id"]]

    patched = client.patch(f"{user}/contacts/{contact['id']}", json={"jobTitle": "Senior Broker", "mobilePhone": None})
    assert patched.status_code == 200
    assert patched.json()["jobTitle"] == "Senior Broker" and patched.json()["mobilePhone"] is None
    assert patched.json()["businessPhones"] == ["+1 732 555 0102"]
    assert patched.json()["changeKey"] != contact["changeKey"]

    assert client.delete(f"{user}/contacts/{contact['id']}").status_code == 204
    assert [i["fields"]["given_name"] for i in simulator.list_items(tenant.mailboxes[0], "deleteditems")] == ["Pavel"]
    gone = client.get(f"{user}/contacts/{contact['id']}")
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "ErrorItemNotFound"
    assert gone.json()["error"]["message"] == "The specified object was not found in the store."


def test_given_a_malformed_id_or_unknown_property_then_400(sim_tenant, graph):
    tenant = sim_tenant()
    client = graph(tenant)
    user = f"/users/{tenant.mailboxes[0]}"
    assert client.get(f"{user}/contacts/not*an*id").json()["error"]["code"] == "ErrorInvalidIdMalformed"
    unknown = client.post(f"{user}/contacts", json={"givenName": "A", "favouriteColour": "blue"})
    assert unknown.status_code == 400
    assert "favouriteColour" in unknown.json()["error"]["message"]
    assert client.post(f"{user}/contacts", content=b"{not json", headers={"Content-Type": "application/json"}
                       ).status_code == 400


def test_given_contacts_in_a_folder_when_listed_then_pages_by_top_and_skip(sim_tenant, simulator, graph):
    tenant = sim_tenant()
    simulator.seed_contacts(tenant.mailboxes[0], [{"given_name": f"C{n}", "surname": "Seed"} for n in range(5)])
    client = graph(tenant)
    first = client.get(f"/users/{tenant.mailboxes[0]}/contacts", params={"$top": 3}).json()
    folder_id = first["value"][0]["parentFolderId"]
    assert [c["givenName"] for c in first["value"]] == ["C0", "C1", "C2"]
    second = client.get(first["@odata.nextLink"]).json()
    assert [c["givenName"] for c in second["value"]] == ["C3", "C4"] and "@odata.nextLink" not in second
    in_folder = client.get(f"/users/{tenant.mailboxes[0]}/contactFolders/{folder_id}/contacts").json()
    assert len(in_folder["value"]) == 5


def test_given_contacts_when_delta_is_followed_then_pages_reach_a_deltalink_and_a_no_change_round_is_empty(
        sim_tenant, simulator, graph):
    tenant = sim_tenant()
    mailbox = tenant.mailboxes[0]
    ids = simulator.seed_contacts(mailbox, [{"given_name": f"C{n}", "surname": "Seed"} for n in range(7)])
    client = graph(tenant)
    first_page = client.get(f"/users/{mailbox}/contacts/delta", headers={"Prefer": "odata.maxpagesize=3"})
    assert first_page.headers["Preference-Applied"] == "odata.maxpagesize=3"
    items, delta_link, pages = delta_round(client, f"/users/{mailbox}/contacts/delta?$select=givenName",
                                           {"Prefer": "odata.maxpagesize=3"})
    assert pages == 3
    assert sorted(i["givenName"] for i in items) == [f"C{n}" for n in range(7)]
    assert all(set(i) == {"@odata.type", "@odata.etag", "id", "givenName"} for i in items)

    nothing, delta_link, _ = delta_round(client, delta_link)
    assert nothing == []

    simulator.user_update(mailbox, ids[0], {"given_name": "Changed"})
    simulator.user_delete(mailbox, ids[1])
    changes, delta_link, _ = delta_round(client, delta_link)
    assert sorted((c["id"], c.get("givenName"), "@removed" in c) for c in changes) == sorted([
        (ids[0].replace("+", "-").replace("/", "_"), "Changed", False),
        (ids[1].replace("+", "-").replace("/", "_"), None, True)])
    assert [c["@removed"] for c in changes if "@removed" in c] == [{"reason": "deleted"}]

    replay = client.get(delta_link)
    assert replay.status_code == 200 and replay.json()["value"] == []
    assert client.get(delta_link).json()["value"] == []  # the same link may be replayed


def test_given_a_delta_token_when_expired_or_garbled_then_410_sync_state_not_found(sim_tenant, simulator, graph):
    tenant = sim_tenant()
    mailbox = tenant.mailboxes[0]
    client = graph(tenant)
    simulator.seed_contacts(mailbox, [{"given_name": "Restart"}])
    _, delta_link, _ = delta_round(client, f"/users/{mailbox}/contacts/delta")
    simulator.expire_delta_tokens(mailbox)
    gone = client.get(delta_link)
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "SyncStateNotFound"
    assert gone.json()["error"]["message"].startswith("The sync state generation is not found;")
    # the 410's Location is the initial query with an empty $deltatoken; following it starts a full round again
    assert gone.headers["Location"].endswith(f"/users/{mailbox}/contacts/delta?%24deltatoken=")
    again, _, _ = delta_round(client, gone.headers["Location"])
    assert [c["givenName"] for c in again] == ["Restart"]
    assert client.get(f"/users/{mailbox}/contacts/delta", params={"$deltatoken": "garbage"}).status_code == 410
    _, fresh_link, _ = delta_round(client, f"/users/{mailbox}/contacts/delta")
    other = sim_tenant()
    assert graph(other).get(fresh_link.replace(mailbox, other.mailboxes[0])).status_code == 410
    simulator.add_fault("invalid_sync_state", mailbox=mailbox, count=1)
    assert client.get(fresh_link).status_code == 410
    assert client.get(fresh_link).status_code == 200


def test_given_an_ews_contact_when_read_by_graph_delta_and_edited_then_ews_sync_reports_the_edit(
        sim_tenant, graph, engage_tag):
    tenant = sim_tenant()
    account = exchange_account(tenant)
    contact = Contact(account=account, folder=account.contacts, display_name="Ann Lee", given_name="Ann", surname="Lee",
                      job_title="Buyer", engage_id="crm-9")
    contact.save()
    list(account.contacts.sync_items())  # EWS is in sync

    client = graph(tenant, headers=IMMUTABLE)
    items, _, _ = delta_round(client, f"/users/{tenant.mailboxes[0]}/contacts/delta")
    assert [(i["givenName"], i["surname"], i["jobTitle"]) for i in items] == [("Ann", "Lee", "Buyer")]
    immutable_id = items[0]["id"]
    translated = client.post(f"/users/{tenant.mailboxes[0]}/translateExchangeIds", json={
        "inputIds": [contact.id], "sourceIdType": "ewsId", "targetIdType": "restImmutableEntryId"}).json()
    assert translated["value"] == [{"sourceId": contact.id, "targetId": immutable_id}]
    tag = client.get(f"/users/{tenant.mailboxes[0]}/contacts/{immutable_id}",
                     params={"$expand": f"singleValueExtendedProperties($filter=id eq '{TAG}')"}).json()
    assert tag["singleValueExtendedProperties"] == [{"id": TAG, "value": "crm-9"}]

    assert client.patch(f"/users/{tenant.mailboxes[0]}/contacts/{immutable_id}",
                        json={"jobTitle": "Seller"}).status_code == 200

    changes = list(account.contacts.sync_items(sync_state=account.contacts.item_sync_state))
    assert [(change, item.id, item.job_title) for change, item in changes] == [("update", contact.id, "Seller")]


def test_given_a_graph_contact_then_ews_reads_the_same_fields(sim_tenant, graph, engage_tag):
    tenant = sim_tenant()
    created = graph(tenant).post(f"/users/{tenant.mailboxes[0]}/contacts", json={
        "givenName": "Rae", "surname": "Oak", "companyName": "Oak Realty",
        "emailAddresses": [{"address": "rae@oak.example"}],
        "singleValueExtendedProperties": [{"id": TAG, "value": "crm-3"}]}).json()
    account = exchange_account(tenant)
    [contact] = list(account.contacts.filter(engage_id="crm-3"))
    assert (contact.given_name, contact.surname, contact.company_name) == ("Rae", "Oak", "Oak Realty")
    assert [e.email for e in contact.email_addresses] == ["rae@oak.example"]
    assert contact.id.replace("+", "-").replace("/", "_") == created["id"]


def test_given_a_contact_folder_made_in_outlook_then_graph_lists_it_but_not_the_default_folder(
        sim_tenant, simulator, graph):
    tenant = sim_tenant()
    simulator.user_create_folder(tenant.mailboxes[0], "Clients", "IPF.Contact")
    simulator.user_create_folder(tenant.mailboxes[0], "Projects")  # mail folder: not a contact folder
    client = graph(tenant)
    folders = client.get(f"/users/{tenant.mailboxes[0]}/contactFolders").json()["value"]
    assert [f["displayName"] for f in folders] == ["Clients"]
    created = client.post(f"/users/{tenant.mailboxes[0]}/contactFolders/{folders[0]['id']}/contacts",
                          json={"givenName": "In", "surname": "Folder"})
    assert created.status_code == 201 and created.json()["parentFolderId"] == folders[0]["id"]
    assert client.get(f"/users/{tenant.mailboxes[0]}/contactFolders/{folders[0]['id']}").json()["displayName"] == (
        "Clients")
    assert [c["givenName"] for c in client.get(f"/users/{tenant.mailboxes[0]}/contacts").json()["value"]] == []
