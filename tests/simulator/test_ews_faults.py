"""Each refusal and injected fault surfaces in the real exchangelib as the exception Exchange Online causes."""

from __future__ import annotations

import pytest
from exchangelib import Contact, Message
from exchangelib.errors import (
    ErrorExceededConnectionCount,
    ErrorImpersonateUserDenied,
    ErrorInternalServerTransientError,
    ErrorInvalidSyncStateData,
    ErrorNonExistentMailbox,
    ErrorServerBusy,
    MalformedResponseError,
)

from .ews_exchangelib_support import app_token, exchange_account


def test_server_busy_raises_error_server_busy_with_the_back_off(simulator, sim_tenant):
    # given Exchange Online throttling the mailbox with a 2.5 s back-off
    tenant = sim_tenant()
    account = exchange_account(tenant)
    simulator.add_fault("server_busy", mailbox=tenant.mailboxes[0], operation="FindItem", count=1, back_off_ms=2500)

    # when the product queries, then exchangelib raises ErrorServerBusy carrying the back-off in seconds
    with pytest.raises(ErrorServerBusy) as raised:
        list(account.contacts.all())
    assert raised.value.back_off == 2.5

    # and the next request goes through
    assert list(account.contacts.all()) == []


def test_too_many_concurrent_connections_raise_exceeded_connection_count(simulator, sim_tenant):
    # given a mailbox whose concurrent-connection budget is used up
    tenant = sim_tenant()
    account = exchange_account(tenant)
    simulator.add_fault("connection_limit", mailbox=tenant.mailboxes[0], operation="FindItem")

    # when the product queries, then exchangelib (pool already at its minimum) raises the error to the caller
    with pytest.raises(ErrorExceededConnectionCount):
        list(account.contacts.all())


def test_invalid_sync_state_raises_and_a_full_resync_recovers(simulator, sim_tenant):
    # given a synced contacts folder
    tenant = sim_tenant()
    simulator.seed_contacts(tenant.mailboxes[0], [{"given_name": "A"}, {"given_name": "B"}])
    account = exchange_account(tenant)
    assert len(list(account.contacts.sync_items())) == 2
    state = account.contacts.item_sync_state

    # when Exchange declares the state invalid, or the state is garbled
    simulator.add_fault("invalid_sync_state", mailbox=tenant.mailboxes[0], operation="SyncFolderItems", count=1)
    with pytest.raises(ErrorInvalidSyncStateData):
        list(account.contacts.sync_items(sync_state=state))
    with pytest.raises(ErrorInvalidSyncStateData):
        list(account.contacts.sync_items(sync_state=state[:-8] + "AAAAAAA="))

    # then a sync from no state reports the whole folder again, and the old state is still good
    account.contacts.item_sync_state = None
    assert sorted(c for c, _ in account.contacts.sync_items()) == ["create", "create"]
    assert list(account.contacts.sync_items(sync_state=state)) == []


def test_unknown_mailbox_raises_non_existent_mailbox(sim_tenant):
    # given a tenant, when the product impersonates an address that has no mailbox there
    tenant = sim_tenant()
    account = exchange_account(tenant, mailbox=f"nobody@{tenant.domain}")

    # then exchangelib raises ErrorNonExistentMailbox
    with pytest.raises(ErrorNonExistentMailbox):
        list(account.contacts.all())


def test_another_tenants_mailbox_raises_impersonate_user_denied(sim_tenant):
    # given two brokerages
    ours, theirs = sim_tenant(), sim_tenant()

    # when our app's token impersonates a mailbox of the other tenant
    account = exchange_account(ours, mailbox=theirs.mailboxes[0], token=app_token(ours))

    # then Exchange refuses the impersonation
    with pytest.raises(ErrorImpersonateUserDenied):
        list(account.contacts.all())


def test_ews_switched_off_for_the_organization_is_a_403(simulator, sim_tenant):
    # given a tenant whose administrator turned EWS off (Exchange Online's EWS retirement)
    tenant = sim_tenant()
    account = exchange_account(tenant)
    simulator.update_tenant(tenant.tenant_id, ews_enabled=False)

    # when the product calls EWS, then exchangelib gives up with the HTTP 403 in its message
    with pytest.raises(MalformedResponseError, match="Code: 403"):
        list(account.contacts.all())


def test_app_missing_from_ews_allowed_app_ids_is_a_403_and_listing_it_lets_it_in(simulator, sim_tenant):
    # given a tenant that allows EWS only for listed app ids, ours not among them
    tenant = sim_tenant()
    account = exchange_account(tenant)
    simulator.update_tenant(tenant.tenant_id, ews_allowed_app_ids=["00000000-0000-0000-0000-000000000001"])
    with pytest.raises(MalformedResponseError, match="Code: 403"):
        list(account.contacts.all())

    # when the administrator adds our app id, then the same call works
    simulator.update_tenant(tenant.tenant_id, ews_allowed_app_ids=[tenant.client_id])
    assert list(account.contacts.all()) == []


def test_send_limit_throttles_the_31st_message_in_a_minute_without_sending_it(simulator, sim_tenant):
    # given a mailbox allowed 3 messages a minute (30 in Exchange Online; fewer here to keep the test quick)
    tenant = sim_tenant()
    account = exchange_account(tenant)
    simulator.settings(sends_per_minute=3)
    try:
        for n in range(3):
            Message(account=account, subject=f"m{n}", body="x", to_recipients=["a@client.example"]).send(save_copy=False)

        # when one more is sent within the minute, then exchangelib raises ErrorServerBusy with a back-off
        with pytest.raises(ErrorServerBusy) as raised:
            Message(account=account, subject="m3", body="x", to_recipients=["a@client.example"]).send(save_copy=False)
        assert raised.value.back_off and raised.value.back_off > 0
    finally:
        simulator.settings(sends_per_minute=30)

    # and the throttled message did not leave
    assert [m["subject"] for m in simulator.outbound(tenant.mailboxes[0])] == ["m0", "m1", "m2"]


def test_injected_send_limit_fault_refuses_one_send(simulator, sim_tenant):
    # given the send-limit fault armed for the next CreateItem
    tenant = sim_tenant()
    account = exchange_account(tenant)
    simulator.add_fault("send_limit", mailbox=tenant.mailboxes[0], operation="CreateItem", count=1, back_off_ms=60000)

    # when two messages are sent, then the first is throttled (60 s back-off) and only the second leaves
    with pytest.raises(ErrorServerBusy) as raised:
        Message(account=account, subject="first", body="x", to_recipients=["a@client.example"]).send(save_copy=False)
    assert raised.value.back_off == 60
    Message(account=account, subject="second", body="x", to_recipients=["a@client.example"]).send(save_copy=False)
    assert [m["subject"] for m in simulator.outbound(tenant.mailboxes[0])] == ["second"]


def test_http_503_raises_a_transient_error(simulator, sim_tenant):
    # given the front end answering 503 once
    tenant = sim_tenant()
    account = exchange_account(tenant)
    Contact(account=account, folder=account.contacts, display_name="x").save()
    simulator.add_fault("http_503", mailbox=tenant.mailboxes[0], operation="FindItem", count=1)

    # when the product queries, then exchangelib classifies it as transient (with Retry-After as back-off)
    with pytest.raises((ErrorInternalServerTransientError, ErrorServerBusy)):
        list(account.contacts.all())
    assert [c.display_name for c in account.contacts.all()] == ["x"]
