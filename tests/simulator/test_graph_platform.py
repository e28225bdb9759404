"""What happens before a Graph handler runs: the token's audience and roles, the user, access policies, faults."""

from __future__ import annotations

import httpx
import msal
import pytest
import requests

from tests.simulator.graph_support import graph_token
from tests.simulator.test_platform_ews_gate import exchange_token, post_ews

ALL_ROLES = ["Calendars.ReadWrite", "Contacts.ReadWrite", "Mail.ReadWrite", "Mail.Send"]


def translate(client: httpx.Client, user: str, ids: list[str] | None = None) -> httpx.Response:
    return client.post(f"/users/{user}/translateExchangeIds",
                       json={"inputIds": ids or [], "sourceIdType": "ewsId", "targetIdType": "restImmutableEntryId"})


def claims_of(token: str) -> dict:
    import jwt

    return jwt.decode(token, options={"verify_signature": False})


def test_given_a_consented_app_when_msal_asks_for_the_graph_scope_then_the_token_carries_the_graph_roles(sim_tenant):
    tenant = sim_tenant()
    claims = claims_of(graph_token(tenant))
    assert claims["aud"] == "https://graph.microsoft.com"
    assert sorted(claims["roles"]) == ALL_ROLES
    guid_scope_claims = claims_of(graph_token(tenant, "00000003-0000-0000-c000-000000000000/.default"))
    assert guid_scope_claims["aud"] == "https://graph.microsoft.com"


def test_given_a_role_granted_without_consent_then_the_token_lacks_it_and_revoking_removes_it(sim_tenant, simulator):
    tenant = sim_tenant()
    simulator.update_app(tenant.tenant_id, tenant.client_id,
                         graph_roles={"Mail.Send": False, "Contacts.ReadWrite": None})
    roles = claims_of(graph_token(tenant))["roles"]
    assert sorted(roles) == ["Calendars.ReadWrite", "Mail.ReadWrite"]
    app = next(a for a in simulator.tenant(tenant.tenant_id)["apps"] if a["client_id"] == tenant.client_id)
    assert app["graph_roles"] == {"Calendars.ReadWrite": True, "Mail.ReadWrite": True, "Mail.Send": False}


def test_given_an_exchange_token_when_calling_graph_then_401_invalid_authentication_token(sim_tenant, graph):
    tenant = sim_tenant()
    answer = translate(graph(tenant, token=exchange_token(tenant)), tenant.mailboxes[0])
    assert answer.status_code == 401
    error = answer.json()["error"]
    assert error["code"] == "InvalidAuthenticationToken"
    assert set(error["innerError"]) >= {"date", "request-id", "client-request-id"}
    assert 'client_id="00000003-0000-0000-c000-000000000000"' in answer.headers["WWW-Authenticate"]


def test_given_no_token_when_calling_graph_then_401(sim_tenant):
    tenant = sim_tenant()
    answer = requests.get(f"{tenant.graph_url}/users/{tenant.mailboxes[0]}/contacts", verify=tenant.ca_path,
                          timeout=10)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_given_a_graph_token_when_calling_ews_then_401(sim_tenant):
    tenant = sim_tenant()
    answer = post_ews(tenant, graph_token(tenant))
    assert answer.status_code == 401
    assert "audience" in answer.headers["x-ms-diagnostics"]


def test_given_an_expired_graph_token_then_401_access_token_has_expired(sim_tenant, simulator, graph):
    tenant = sim_tenant()
    simulator.settings(token_lifetime=-5)
    app = msal.ConfidentialClientApplication(tenant.client_id, client_credential=tenant.client_secret,
                                             authority=tenant.authority, instance_discovery=False,
                                             verify=tenant.ca_path)
    token = app.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])["access_token"]
    answer = translate(graph(tenant, token=token), tenant.mailboxes[0])
    assert answer.status_code == 401
    assert answer.json()["error"]["message"] == "Access token has expired or is not yet valid."


def test_given_a_user_by_upn_or_object_id_then_both_resolve_to_the_same_mailbox(sim_tenant, simulator, graph):
    tenant = sim_tenant()
    user = simulator.tenant(tenant.tenant_id)["users"][0]
    client = graph(tenant)
    assert translate(client, user["userPrincipalName"]).status_code == 200
    assert translate(client, user["id"]).status_code == 200
    assert translate(client, user["userPrincipalName"].upper()).status_code == 200


def test_given_an_unknown_user_or_another_tenants_user_then_404_error_invalid_user(sim_tenant, graph):
    tenant, other = sim_tenant(), sim_tenant()
    client = graph(tenant)
    for user in (f"nobody@{tenant.domain}", other.mailboxes[0]):
        answer = translate(client, user)
        assert answer.status_code == 404
        assert answer.json()["error"] == {**answer.json()["error"], "code": "ErrorInvalidUser",
                                          "message": f"The requested user '{user}' is invalid."}


def test_given_an_app_without_graph_roles_then_403_error_access_denied(sim_tenant, graph):
    tenant = sim_tenant(graph_roles=())
    answer = translate(graph(tenant), tenant.mailboxes[0])
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "ErrorAccessDenied"
    assert answer.json()["error"]["message"] == "Access is denied. Check credentials and try again."


def test_given_an_app_me_path_or_unknown_segment_then_400_unknown_route_404_and_wrong_method_405(sim_tenant, graph):
    tenant = sim_tenant()
    client = graph(tenant)
    assert client.get("/me/contacts").json()["error"]["message"] == (
        "/me request is only valid with delegated authentication flow.")
    assert client.get("/groups").status_code == 400
    unknown = client.get(f"/users/{tenant.mailboxes[0]}/nonsense")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "ResourceNotFound"
    assert client.put(f"/users/{tenant.mailboxes[0]}/contacts", json={}).status_code == 405


def test_given_an_application_access_policy_then_a_mailbox_outside_it_is_403_access_to_odata_disabled(
        sim_tenant, simulator, graph):
    tenant = sim_tenant(mailboxes=2)
    inside, outside = tenant.mailboxes
    simulator.set_mailbox_scope(tenant.tenant_id, tenant.client_id, [inside])
    client = graph(tenant)
    assert translate(client, inside).status_code == 200
    denied = translate(client, outside)
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "ErrorAccessDenied"
    assert denied.json()["error"]["message"] == "Access to OData is disabled."
    simulator.set_mailbox_scope(tenant.tenant_id, tenant.client_id, None)
    assert translate(client, outside).status_code == 200


def test_given_a_tenant_with_ews_switched_off_then_graph_still_answers(sim_tenant, graph):
    tenant = sim_tenant(ews_enabled=False)
    assert post_ews(tenant, exchange_token(tenant)).status_code == 403
    assert translate(graph(tenant), tenant.mailboxes[0]).status_code == 200


@pytest.mark.parametrize("header", ['IdType="ImmutableId"', 'odata.maxpagesize=2, IdType="ImmutableId"'])
def test_given_prefer_immutable_id_then_preference_applied_is_echoed(sim_tenant, graph, header):
    tenant = sim_tenant()
    answer = graph(tenant, headers={"Prefer": header}).post(
        f"/users/{tenant.mailboxes[0]}/translateExchangeIds",
        json={"inputIds": [], "sourceIdType": "ewsId", "targetIdType": "restId"})
    assert answer.status_code == 200
    assert answer.headers["Preference-Applied"] == 'IdType="ImmutableId"'
    assert answer.headers["request-id"]


def test_given_prefer_headers_then_page_size_time_zone_and_id_type_are_parsed():
    from simulator.graph.endpoint import parse_prefer

    prefer = parse_prefer(['odata.maxpagesize=25, outlook.timezone="Pacific Standard Time"', 'IdType="ImmutableId"',
                           "respond-async"])
    assert (prefer.max_page_size, prefer.time_zone, prefer.immutable_ids) == (25, "Pacific Standard Time", True)
    assert parse_prefer([]).time_zone is None and parse_prefer(['IdType="RestId"']).immutable_ids is False


def test_given_the_cli_when_graph_roles_are_granted_unconsented_and_revoked_then_the_app_shows_them(
        simulator_process, simulator, sim_tenant):
    from tests.simulator.test_platform_control import run_cli

    tenant = sim_tenant(graph_roles=())
    run_cli(simulator_process, "app", "graph-roles", tenant.tenant_id, tenant.client_id,
            "--graph-role", "Mail.Send", "--graph-role", "Contacts.ReadWrite")
    run_cli(simulator_process, "app", "graph-roles", tenant.tenant_id, tenant.client_id,
            "--graph-role", "Calendars.ReadWrite", "--no-consent")
    run_cli(simulator_process, "app", "graph-roles", tenant.tenant_id, tenant.client_id,
            "--graph-role", "Mail.Send", "--revoke")
    app = next(a for a in simulator.tenant(tenant.tenant_id)["apps"] if a["client_id"] == tenant.client_id)
    assert app["graph_roles"] == {"Calendars.ReadWrite": False, "Contacts.ReadWrite": True}
    assert claims_of(graph_token(tenant))["roles"] == ["Contacts.ReadWrite"]


def test_given_only_the_read_roles_granted_through_the_cli_then_graph_reads_and_refuses_writes(
        simulator_process, simulator, sim_tenant, graph):
    from tests.simulator.test_platform_control import run_cli

    # given an app granted (and consented) only the read permissions, through the CLI
    tenant = sim_tenant(graph_roles=())
    granted = run_cli(simulator_process, "app", "graph-roles", tenant.tenant_id, tenant.client_id,
                      "--graph-role", "Contacts.Read", "--graph-role", "Calendars.Read", "--graph-role", "Mail.Read")
    assert granted.returncode == 0, granted.stderr
    assert claims_of(graph_token(tenant))["roles"] == ["Calendars.Read", "Contacts.Read", "Mail.Read"]
    client, user = graph(tenant), tenant.mailboxes[0]

    # when it reads contacts, events and messages, then it may; when it writes, then 403 ErrorAccessDenied
    for path in ("/contacts", "/events", "/calendarView/delta?startDateTime=2026-01-01T00:00:00Z"
                 "&endDateTime=2026-02-01T00:00:00Z", "/mailFolders/drafts/messages"):
        assert client.get(f"/users/{user}{path}").status_code == 200, path
    for path, body in (("/contacts", {"givenName": "A"}), ("/events", {"subject": "A"}),
                       ("/messages", {"subject": "A"})):
        refused = client.post(f"/users/{user}{path}", json=body)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "ErrorAccessDenied", path


def test_given_an_unknown_graph_role_then_the_control_api_refuses_it_with_the_known_ones(sim_tenant, simulator):
    from simulator.client import ControlAPIError

    tenant = sim_tenant(graph_roles=())
    with pytest.raises(ControlAPIError) as refused:
        simulator.update_app(tenant.tenant_id, tenant.client_id, graph_roles={"Mail.ReadBasic": True})
    assert refused.value.status == 400 and "Calendars.Read" in str(refused.value)
