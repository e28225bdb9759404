"""Each access failure, produced by its real condition in the simulator through real MSAL and exchangelib,
arrives as its class with a remedy, and no secret or token shows in the error or the logs."""

from __future__ import annotations

import logging
import time
import uuid

import pytest

from mailboxes import errors
from mailboxes.items import Collection
from mailboxes.secret import Secret


def failure_of(call) -> errors.GatewayError:
    with pytest.raises(errors.GatewayError) as caught:
        call()
    return caught.value


def assert_classified(error: errors.GatewayError, expected: type, *secrets: str) -> None:
    assert type(error) is expected, f"{type(error).__name__}: {error}"
    assert error.remedy
    for secret in secrets:
        assert secret not in str(error) and secret not in repr(error)


def test_wrong_secret_is_an_invalid_secret(sim_tenant, gateway_for):
    tenant = sim_tenant()
    wrong = tenant.client_secret[:-4] + "abcd"
    error = failure_of(lambda: gateway_for(tenant, client_secret=Secret(wrong)).check_token(fresh=True))
    assert_classified(error, errors.InvalidSecret, wrong, tenant.client_secret)
    assert error.permanent and "Secret ID" in error.remedy


def test_expired_secret_is_an_expired_secret(simulator, sim_tenant, gateway_for):
    tenant = sim_tenant()
    simulator.expire_secret(tenant.tenant_id, tenant.client_id, tenant.secret_key_id)
    error = failure_of(lambda: gateway_for(tenant).check_token(fresh=True))
    assert_classified(error, errors.ExpiredSecret, tenant.client_secret)


def test_unknown_app_is_app_not_in_tenant(sim_tenant, gateway_for):
    tenant = sim_tenant()
    error = failure_of(lambda: gateway_for(tenant, client_id=str(uuid.uuid4())).check_token(fresh=True))
    assert_classified(error, errors.AppNotInTenant, tenant.client_secret)


def test_unknown_tenant_is_tenant_not_found(sim_tenant, gateway_for):
    tenant = sim_tenant()
    error = failure_of(lambda: gateway_for(tenant, tenant_id=str(uuid.uuid4())).check_token(fresh=True))
    assert_classified(error, errors.TenantNotFound, tenant.client_secret)


def test_missing_consent_is_consent_missing_at_the_token_and_at_exchange(sim_tenant, gateway_for):
    # Given an app whose admin never granted full_access_as_app
    tenant = sim_tenant(consented=False)
    gateway = gateway_for(tenant)
    # Then the token step says so, and so does Exchange when the token is used anyway
    assert_classified(failure_of(lambda: gateway.check_token(fresh=True)), errors.ConsentMissing, tenant.client_secret)
    assert_classified(failure_of(lambda: gateway.check_mailbox(tenant.mailboxes[0])), errors.ConsentMissing)


def test_missing_service_principal_is_service_principal_missing(sim_tenant, gateway_for):
    tenant = sim_tenant(service_principal=False)
    error = failure_of(lambda: gateway_for(tenant).check_token(fresh=True))
    assert_classified(error, errors.ServicePrincipalMissing, tenant.client_secret)


def test_missing_mailbox_is_mailbox_not_found(sim_tenant, gateway_for):
    tenant = sim_tenant()
    error = failure_of(lambda: gateway_for(tenant).check_mailbox(f"nobody@{tenant.domain}"))
    assert_classified(error, errors.MailboxNotFound)


def test_mailbox_of_another_tenant_is_out_of_scope(sim_tenant, gateway_for):
    # Given a brokerage whose domain list wrongly includes another tenant's domain
    tenant, other = sim_tenant(), sim_tenant()
    gateway = gateway_for(tenant, allowed_domains=frozenset({tenant.domain, other.domain}))
    # When it reaches for the other tenant's mailbox, Exchange refuses the impersonation
    error = failure_of(lambda: gateway.check_mailbox(other.mailboxes[0]))
    assert_classified(error, errors.MailboxOutOfScope)
    assert "another Microsoft 365 tenant" in error.remedy


def test_ews_switched_off_is_ews_disabled(sim_tenant, gateway_for):
    tenant = sim_tenant(ews_enabled=False)
    error = failure_of(lambda: gateway_for(tenant).check_mailbox(tenant.mailboxes[0]))
    assert_classified(error, errors.EwsDisabled)
    assert "EwsAllowedAppIDs" in error.remedy


def test_app_missing_from_the_ews_allow_list_is_ews_disabled(simulator, sim_tenant, gateway_for):
    tenant = sim_tenant()
    simulator.update_tenant(tenant.tenant_id, ews_allowed_app_ids=[str(uuid.uuid4())])
    error = failure_of(lambda: gateway_for(tenant).check_mailbox(tenant.mailboxes[0]))
    assert_classified(error, errors.EwsDisabled)


def test_server_busy_is_throttled_with_the_servers_back_off(simulator, sim_tenant, gateway_for):
    tenant = sim_tenant()
    simulator.add_fault("server_busy", mailbox=tenant.mailboxes[0], back_off_ms=45000, count=1)
    started = time.monotonic()
    error = failure_of(lambda: gateway_for(tenant).check_mailbox(tenant.mailboxes[0]))
    # The worker is told to back off for 45 s; it does not sleep it out itself
    assert time.monotonic() - started < 5
    assert_classified(error, errors.Throttled)
    assert not error.permanent and error.back_off_seconds == 45


def test_http_503_is_throttled_with_retry_after(simulator, sim_tenant, gateway_for):
    tenant = sim_tenant()
    simulator.add_fault("http_503", mailbox=tenant.mailboxes[0], count=1)
    error = failure_of(lambda: gateway_for(tenant).check_mailbox(tenant.mailboxes[0]))
    assert_classified(error, errors.Throttled)
    assert error.back_off_seconds == 10  # the simulator's Retry-After


def test_dropped_connection_is_transient_network(simulator, sim_tenant, gateway_for):
    tenant = sim_tenant()
    simulator.add_fault("drop_connection", mailbox=tenant.mailboxes[0], count=1)
    error = failure_of(lambda: gateway_for(tenant).check_mailbox(tenant.mailboxes[0]))
    assert_classified(error, errors.TransientNetwork)
    assert not error.permanent


def test_untrusted_certificate_is_a_tls_failure(sim_tenant, gateway_for):
    # Given a brokerage configured with a CA bundle that does not contain the server's authority
    tenant = sim_tenant()
    gateway = gateway_for(tenant, ca_bundle_path="/etc/ssl/certs/ca-certificates.crt")
    assert_classified(failure_of(lambda: gateway.check_token(fresh=True)), errors.TlsFailure)


def test_address_outside_the_domains_is_refused_before_any_request(simulator, sim_tenant, gateway_for):
    # Given a brokerage and the simulator's request counters
    tenant = sim_tenant()
    gateway = gateway_for(tenant)
    before = simulator.stats()
    # When any operation names a mailbox outside its domains
    outsider = "agent@not-this-brokerage.example"
    for call in (
        lambda: gateway.check_mailbox(outsider),
        lambda: gateway.check_collection(outsider, Collection.CONTACTS),
        lambda: gateway.read_changes(outsider, Collection.CONTACTS, None),
        lambda: gateway.fetch(outsider, Collection.CALENDAR, ["x"]),
        lambda: gateway.find_by_tag(outsider, Collection.CONTACTS, "tag"),
    ):
        assert_classified(failure_of(call), errors.MailboxNotAllowed)
    # Then nothing reached the simulator: no token request, no EWS request
    assert simulator.stats() == before


def test_no_secret_or_token_in_logs_while_failing_and_succeeding(sim_tenant, gateway_for, tokens, caplog):
    # Given every log record at DEBUG, including exchangelib's request dumps
    tenant = sim_tenant()
    with caplog.at_level(logging.DEBUG):
        gateway = gateway_for(tenant)
        gateway.check_mailbox(tenant.mailboxes[0])
        failure_of(lambda: gateway.check_mailbox(f"nobody@{tenant.domain}"))
        wrong = gateway_for(tenant, client_secret=Secret(tenant.client_secret + "x"))
        failure_of(lambda: wrong.check_token(fresh=True))
        # a token fetched inside exchangelib's request (its error path logs at ERROR) fails just as cleanly
        assert_classified(failure_of(lambda: wrong.check_mailbox(tenant.mailboxes[0])), errors.InvalidSecret,
                          tenant.client_secret)
        token = tokens.get_token(gateway.details).value.reveal()
    # Then neither the secret nor the token appears in any captured line
    captured = caplog.text + "".join(repr(r.args) for r in caplog.records)
    assert len(caplog.records) > 5
    assert tenant.client_secret not in captured
    assert token not in captured and token[:30] not in captured


def test_consent_granted_after_a_refusal_works_at_once(simulator, sim_tenant, gateway_for):
    # Given a brokerage refused for missing consent, its role-less token having been cached
    tenant = sim_tenant(consented=False)
    gateway = gateway_for(tenant)
    assert_classified(failure_of(lambda: gateway.check_mailbox(tenant.mailboxes[0])), errors.ConsentMissing)
    # When the admin grants consent, Then the next call gets a token with the role instead of the cached one
    simulator.update_app(tenant.tenant_id, tenant.client_id, consented=True)
    gateway.check_mailbox(tenant.mailboxes[0])


def test_a_token_endpoint_outage_is_a_transient_server_error(simulator, sim_tenant, gateway_for):
    tenant = sim_tenant()
    simulator.add_fault("token_outage", tenant_id=tenant.tenant_id, status=503, count=1)
    error = failure_of(lambda: gateway_for(tenant).check_token(fresh=True))
    assert_classified(error, errors.ServerError, tenant.client_secret)
    assert not error.permanent


def test_a_request_exchange_finds_malformed_is_a_permanent_request_rejected(sim_tenant, gateway_for):
    # Given a request Exchange's schema refuses (SyncFolderItems allows at most 512 changes a page)
    tenant = sim_tenant()
    # When the gateway sends it
    error = failure_of(lambda: next(iter(gateway_for(tenant).read_changes(tenant.mailboxes[0], Collection.CONTACTS,
                                                                           None, page_size=1000))))  # fmt: skip
    # Then it is our defect, permanent, and the remedy says so (not a transient "server error")
    assert_classified(error, errors.RequestRejected)
    assert error.permanent and "defect in Engage Sync" in error.remedy
