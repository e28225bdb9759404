"""The error taxonomy: each failure as it arrives (MSAL result, HTTP answer, exception) lands in one class."""

import ssl

import pytest
import requests
from exchangelib import errors as ews_errors

from mailboxes import errors
from mailboxes.connection import ConnectionDetails
from mailboxes.secret import Secret

SECRET = "Qx9~never-show-this-secret-value"
JWT = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJyb2xlcyI6WyJmdWxsX2FjY2Vzc19hc19hcHAiXX0.c2lnbmF0dXJlLWJ5dGVz"


def entra_error(code: int, error: str = "invalid_client", message: str = "Something failed.") -> dict:
    """An MSAL error result shaped as Entra ID answers (see tests/simulator/reference/aad/token_error_response_msdocs.json)."""
    return {
        "error": error,
        "error_description": f"AADSTS{code}: {message}\r\nTrace ID: 1\r\nCorrelation ID: 2\r\nTimestamp: 2026-11-26",
        "error_codes": [code],
    }


@pytest.mark.parametrize(
    ("code", "error", "expected"),
    [
        (7000215, "invalid_client", errors.InvalidSecret),
        (7000222, "invalid_client", errors.ExpiredSecret),
        (700016, "unauthorized_client", errors.AppNotInTenant),
        (90002, "invalid_request", errors.TenantNotFound),
        (900023, "invalid_request", errors.TenantNotFound),
        (65001, "invalid_grant", errors.ConsentMissing),
        (7000229, "invalid_client", errors.ServicePrincipalMissing),
        (500011, "invalid_resource", errors.ServicePrincipalMissing),
        (53003, "access_denied", errors.ConditionalAccess),
        (700027, "invalid_client", errors.InvalidSecret),
        (90033, "temporarily_unavailable", errors.ServerError),
    ],
)
def test_entra_error_codes_map_to_their_class_with_a_remedy(code, error, expected):
    # Given an Entra ID error result / When classified
    classified = errors.classify_token_result(entra_error(code, error))
    # Then it is that class, and a staff member gets a remedy
    assert type(classified) is expected
    assert classified.remedy and len(classified.remedy) > 60


def test_permanent_and_transient_classes_are_marked():
    assert errors.InvalidSecret.permanent and errors.ConsentMissing.permanent and errors.EwsDisabled.permanent
    assert not errors.Throttled.permanent and not errors.TransientNetwork.permanent and not errors.ServerError.permanent
    assert errors.RequestRejected.permanent  # a malformed request is our defect: the same request never passes


def test_every_access_class_has_a_title_and_remedy():
    for cls in errors.ACCESS_ERROR_CLASSES:
        assert cls.title and cls.remedy and cls.kind, cls


def test_invalid_secret_remedy_tells_value_not_secret_id():
    assert "Value, not its Secret ID" in errors.InvalidSecret.remedy


def test_http_answers_from_the_mail_endpoint_are_classified():
    blocked = "EWS access is blocked for this application by the organization's EWS policy."
    assert type(errors.classify_http_response(403, {}, blocked)) is errors.EwsDisabled
    throttled = errors.classify_http_response(503, {"Retry-After": "17"}, "")
    assert type(throttled) is errors.Throttled and throttled.back_off_seconds == 17
    assert type(errors.classify_http_response(429, {"Retry-After": "5"}, "")) is errors.Throttled
    no_role = errors.classify_http_response(
        401, {"WWW-Authenticate": 'Bearer error="invalid_token"', "x-ms-diagnostics": ""},
        "The token contains no permissions, or permissions can not be understood.",
    )
    assert type(no_role) is errors.ConsentMissing
    assert type(errors.classify_http_response(401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}, "")) is errors.TokenRejected
    assert type(errors.classify_http_response(502, {}, "bad gateway")) is errors.ServerError


def test_exchangelib_and_network_exceptions_are_classified():
    busy = errors.classify_exception(ews_errors.ErrorServerBusy("busy", back_off=12.5))
    assert type(busy) is errors.Throttled and busy.back_off_seconds == 12.5
    assert type(errors.classify_exception(ews_errors.ErrorNonExistentMailbox("x"))) is errors.MailboxNotFound
    assert type(errors.classify_exception(ews_errors.ErrorImpersonateUserDenied("x"))) is errors.MailboxOutOfScope
    assert type(errors.classify_exception(ews_errors.ErrorIrresolvableConflict("x"))) is errors.ConflictError
    assert type(errors.classify_exception(ews_errors.ErrorInvalidSyncStateData("x"))) is errors.WatermarkExpired
    assert type(errors.classify_exception(ews_errors.ErrorSchemaValidation("x"))) is errors.RequestRejected
    assert type(errors.classify_exception(requests.exceptions.ConnectTimeout("x"))) is errors.TransientNetwork
    assert type(errors.classify_exception(requests.exceptions.SSLError("x"))) is errors.TlsFailure
    try:  # exchangelib re-raises TLS failures as a bare TransportError; the cause tells
        try:
            raise ssl.SSLCertVerificationError("certificate verify failed")
        except ssl.SSLError as exc:
            raise ews_errors.TransportError(str(exc)) from None
    except ews_errors.TransportError as wrapped:
        wrapped.__context__ = ssl.SSLCertVerificationError("certificate verify failed")
        assert type(errors.classify_exception(wrapped)) is errors.TlsFailure


def test_messages_never_carry_secrets_or_tokens():
    # Given a failure whose raw text quotes a secret and a bearer token
    raw = f"client_secret={SECRET}&x=1 Authorization: Bearer {JWT} access_token\": \"{JWT}\""
    # When classified
    classified = errors.classify_exception(RuntimeError(raw), secrets=[SECRET])
    # Then neither shows anywhere
    for text in (str(classified), repr(classified), classified.detail):
        assert SECRET not in text and JWT not in text and JWT[:40] not in text


def test_address_outside_the_brokerages_domains_is_refused():
    details = ConnectionDetails(
        key="b1", tenant_id="t", client_id="c", client_secret=Secret(SECRET), allowed_domains=frozenset({"Realty.Example"})
    )
    assert details.require_allowed("Agent@realty.example") == "agent@realty.example"
    with pytest.raises(errors.MailboxNotAllowed):
        details.require_allowed("agent@other.example")
    with pytest.raises(errors.MailboxNotAllowed):
        details.require_allowed("agent@realty.example.evil.test")


def test_connection_details_need_exactly_one_credential_and_hide_the_secret():
    with pytest.raises(ValueError, match="exactly one credential"):
        ConnectionDetails(key="b", tenant_id="t", client_id="c")
    details = ConnectionDetails(key="b", tenant_id="t", client_id="c", client_secret=Secret(SECRET))
    assert SECRET not in repr(details)
    assert details.authority == "https://login.microsoftonline.com/t" and details.is_microsoft_authority


@pytest.mark.parametrize(
    ("exchange_error", "expected"),
    [
        (ews_errors.ErrorInvalidRecipients, errors.MessageRejected),
        (ews_errors.ErrorMessageSizeExceeded, errors.MessageRejected),
        (ews_errors.ErrorQuotaExceeded, errors.MessageRejected),
        (ews_errors.ErrorSendAsDenied, errors.SendAsDenied),
    ],
)
def test_exchange_refusing_one_message_is_permanent_with_a_remedy(exchange_error, expected):
    classified = errors.classify_exception(exchange_error("The message was refused"))
    assert type(classified) is expected
    assert classified.permanent is True
    assert classified.remedy
