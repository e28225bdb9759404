"""Graph's answers as Microsoft documents them (errors.md, the curated wire samples in the Graph notes), each to its
class of the neutral taxonomy — including those the simulator never gives (412, 409, 5xx other than 503)."""

from __future__ import annotations

import json
import ssl

import httpx
import pytest

from mailboxes import errors
from mailboxes.graph.classify import (
    GraphConsentMissing,
    GraphMailboxOutOfScope,
    classify_exception,
    classify_response,
)


def answer(status: int, code: str, message: str = "", **headers: str) -> errors.GatewayError:
    body = json.dumps({"error": {"code": code, "message": message, "innerError": {"request-id": "r"}}})
    return classify_response(status, headers, body)


@pytest.mark.parametrize(("status", "code", "message", "expected"), [
    (401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.", errors.TokenRejected),
    (403, "ErrorAccessDenied", "Access to OData is disabled.", GraphMailboxOutOfScope),
    (403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.", GraphConsentMissing),
    (404, "ErrorInvalidUser", "The requested user 'x@y.example' is invalid.", errors.MailboxNotFound),
    (404, "MailboxNotEnabledForRESTAPI", "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
     errors.MailboxNotFound),
    (404, "ErrorItemNotFound", "The specified object was not found in the store.", errors.ItemNotFound),
    (409, "ErrorIrresolvableConflict", "The send or update operation could not be performed.", errors.ConflictError),
    (412, "ErrorIrresolvableConflict", "The change key passed in the request does not match.", errors.ConflictError),
    (410, "SyncStateNotFound", "The sync state generation is not found; generation=1;", errors.WatermarkExpired),
    (400, "ErrorInvalidRecipients", "At least one recipient is not valid.", errors.MessageRejected),
    (400, "TimeZoneNotSupportedException", "A valid TimeZone value must be specified.", errors.InvalidItem),
    (500, "InternalServerError", "", errors.ServerError),
    (504, "GatewayTimeout", "", errors.ServerError),
])  # fmt: skip
def test_each_documented_graph_error_is_its_class(status, code, message, expected):
    error = answer(status, code, message)
    assert type(error) is expected and code in str(error)


def test_429_and_503_are_throttled_for_the_retry_after_or_30_seconds():
    assert answer(429, "TooManyRequests", "Please retry again later.", **{"Retry-After": "2.5"}).back_off_seconds == 2.5
    assert answer(503, "ServiceUnavailable", **{"Retry-After": "10"}).back_off_seconds == 10
    assert answer(503, "ServiceUnavailable").back_off_seconds == 30


def test_a_missing_role_names_the_graph_permissions_in_its_remedy():
    error = answer(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
    assert isinstance(error, errors.ConsentMissing) and error.kind == "consent_missing"
    assert "Calendars.ReadWrite" in error.remedy and "full_access_as_app" not in error.remedy


def test_network_failures_are_transient_and_certificate_failures_are_tls():
    assert type(classify_exception(httpx.ReadTimeout("timed out"))) is errors.TransientNetwork
    assert type(classify_exception(httpx.RemoteProtocolError("Server disconnected"))) is errors.TransientNetwork
    assert type(classify_exception(httpx.PoolTimeout("no free connection"))) is errors.Throttled
    try:
        raise httpx.ConnectError("handshake failed") from ssl.SSLCertVerificationError(1, "CERTIFICATE_VERIFY_FAILED")
    except httpx.ConnectError as exc:
        assert type(classify_exception(exc)) is errors.TlsFailure


def test_a_token_in_an_answer_is_scrubbed_from_the_error():
    token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2dyYXBoIn0.c2lnbmF0dXJl"
    error = answer(401, "InvalidAuthenticationToken", f"Bearer {token} is not valid")
    assert token not in str(error) and "[redacted]" in str(error)
