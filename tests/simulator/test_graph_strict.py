"""Strict mode: Microsoft's documented examples for contacts, translateExchangeIds and $batch are accepted and
answered with schema-valid bodies of the documented shape; bad bodies are refused; no schema, no start."""

from __future__ import annotations

import subprocess
import sys

from simulator.graph import strict
from tests.fixtures.simulator import REPO_ROOT

from .graph_examples import assert_documented_shape, example, replay


def test_given_the_documented_contact_examples_when_replayed_then_each_answer_has_the_documented_shape(
        sim_tenant, simulator, graph):
    tenant = sim_tenant()
    user = tenant.mailboxes[0]
    client = graph(tenant)
    [create] = example("user-post-contacts")
    created = replay(client, create, user)
    assert_documented_shape(create, created)
    contact_id = created.json()["id"]

    [get] = example("contact-get")
    simulator.seed_contacts(user, [{"given_name": "Garth", "surname": "Fort", "initials": "G.F.",
                                    "file_as": "Fort, Garth", "nickname": "Garth", "birthday": "1974-07-22"}])
    assert_documented_shape(get, replay(client, get, user, {"{id}": contact_id}))
    [update] = example("contact-update")
    updated = replay(client, update, user, {"{id}": contact_id})
    assert_documented_shape(update, updated)
    assert updated.json()["homeAddress"]["city"] == "Seattle" and updated.json()["birthday"].startswith("1974-07-22")
    [listing] = example("user-list-contacts")
    assert_documented_shape(listing, replay(client, listing, user))

    [delta] = example("contact-delta")
    folder_id = created.json()["parentFolderId"]
    assert_documented_shape(delta, replay(client, delta, user, {"{id}": folder_id}), top_level_only=True)

    [delete] = example("contact-delete")
    assert_documented_shape(delete, replay(client, delete, user, {"{id}": contact_id}))


def test_given_the_documented_translate_example_when_replayed_then_the_answer_has_the_documented_shape(
        sim_tenant, simulator, graph):
    tenant = sim_tenant()
    user = tenant.mailboxes[0]
    first, second = simulator.seed_contacts(user, [{"given_name": "A"}, {"given_name": "B"}])
    rest = {"{rest-formatted-id-1}": first.replace("+", "-").replace("/", "_"),
            "{rest-formatted-id-2}": second.replace("+", "-").replace("/", "_")}
    [translate] = example("user-translateexchangeids")
    answer = replay(graph(tenant), translate, user, rest)
    assert_documented_shape(translate, answer)
    assert [r["sourceId"] for r in answer.json()["value"]] == list(rest.values())


def test_given_the_documented_batch_depends_on_example_when_replayed_then_the_answer_is_schema_valid(
        sim_tenant, graph):
    tenant = sim_tenant()
    [batch] = example("json-batching")
    body = {"requests": [{**r, "url": f"/users/{tenant.mailboxes[0]}/contacts"} for r in batch.body["requests"]]}
    answer = replay(graph(tenant), batch, tenant.mailboxes[0], body=body)
    assert answer.status_code == 200
    strict.check_response(None, "POST", "/$batch", 200, answer.content, user_bound=False)
    assert sorted(r["id"] for r in answer.json()["responses"]) == ["1", "2", "3", "4"]
    assert {r["status"] for r in answer.json()["responses"]} == {200}


def test_given_a_body_of_the_wrong_type_then_strict_mode_answers_400_bad_request(sim_tenant, graph):
    tenant = sim_tenant()
    client = graph(tenant)
    answer = client.post(f"/users/{tenant.mailboxes[0]}/contacts", json={"givenName": 5})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "BadRequest" and "givenName" in answer.json()["error"]["message"]
    lenient = client.post(f"/users/{tenant.mailboxes[0]}/translateExchangeIds",
                          json={"inputIds": [], "sourceIdType": "EwsId", "targetIdType": "RestId"})
    assert lenient.status_code == 200  # enums are read case-insensitively, as the service does


def test_given_an_error_then_its_body_is_graphs_error_shape(sim_tenant, graph):
    tenant = sim_tenant()
    answer = graph(tenant).get(f"/users/{tenant.mailboxes[0]}/contacts/AAMkAGVmMDEzMTM4AAA=",
                               headers={"client-request-id": "c0ffee00-0000-4000-8000-000000000001"})
    assert answer.status_code == 404
    strict.check_response(None, "GET", "/contacts/x", 404, answer.content)
    inner = answer.json()["error"]["innerError"]
    assert inner["client-request-id"] == "c0ffee00-0000-4000-8000-000000000001"
    assert inner["request-id"] == answer.headers["request-id"] and inner["date"]


def test_given_a_response_that_violates_the_schema_then_check_response_refuses_it():
    bad = b'{"value": [{"id": "x", "givenName": 7}]}'
    try:
        strict.check_response(None, "GET", "/contacts", 200, bad)
    except strict.GraphError as error:
        assert error.status == 500 and "givenName" in error.message
    else:
        raise AssertionError("a contact with a numeric givenName passed the schema")


def test_given_strict_mode_without_the_schema_then_the_simulator_refuses_to_start(tmp_path):
    finished = subprocess.run(
        [sys.executable, "-m", "simulator", "serve", "--port", "0", "--state-dir", str(tmp_path / "state"),
         "--strict", "--graph-schema", str(tmp_path / "missing.json")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert finished.returncode != 0
    assert "missing.json, which is missing" in finished.stderr
    assert not (tmp_path / "state" / "server.json").exists()


def test_given_action_parameters_as_the_docs_spell_them_then_strict_mode_accepts_them_and_still_checks_values():
    message = {"subject": "Lunch", "toRecipients": [{"emailAddress": {"address": "fannyd@contoso.example"}}]}
    # user-sendmail.md sends the Boolean as a string; attachment-createuploadsession.md names the parameter in
    # PascalCase where the CSDL says attachmentItem
    strict.check_request(None, "POST", "/sendMail", {"message": message, "saveToSentItems": "false"})
    strict.check_request(None, "POST", "/sendMail", {"Message": message, "SaveToSentItems": "True"})
    strict.check_request(None, "POST", "/messages/AAMk/attachments/createUploadSession",
                         {"AttachmentItem": {"attachmentType": "file", "name": "flower.jpg", "size": 3483322}})
    for body in ({"message": message, "saveToSentItems": "maybe"},
                 {"AttachmentItem": {"attachmentType": "file", "name": 7, "size": 3483322}}):
        path = "/sendMail" if "message" in body else "/messages/AAMk/attachments/createUploadSession"
        try:
            strict.check_request(None, "POST", path, body)
        except strict.GraphError as error:
            assert error.status == 400 and error.code == "BadRequest"
        else:
            raise AssertionError(f"strict mode accepted {body}")
