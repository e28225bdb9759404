"""Every failure the gateway can meet, classified once, where it enters: Entra ID, EWS, TLS or the network.

Each access failure is one class with ``permanent`` (retrying will not help until someone changes something)
and a ``remedy`` written for a staff member. Messages are scrubbed: no secret or token ever appears in them.
Guide steps ("step 36") refer to the brokerage administrator's integration guide (client secret edition).
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterable, Mapping
from typing import Any

import requests
from exchangelib import errors as ews_errors
from msal.exceptions import MsalError


class GatewayError(Exception):
    """Root of everything the gateway raises; ``str()`` is safe to show and log."""

    kind = "gateway_error"
    permanent = False
    title = "Mailbox gateway error"
    remedy = ""

    def __init__(self, detail: str = "", *, secrets: Iterable[str] = ()) -> None:
        self.detail = scrub(detail, secrets)
        super().__init__(f"{self.title}: {self.detail}" if self.detail else self.title)


class AccessError(GatewayError):
    """A failure to reach a mailbox: one of the classes below, each with a remedy."""


# --- Entra ID (token) ------------------------------------------------------------------------------


class InvalidSecret(AccessError):
    kind, permanent, title = "invalid_secret", True, "The client secret (or certificate) is wrong"
    remedy = (
        "The client secret is wrong. In Entra ID, open the app registration → Certificates & secrets, create a "
        "new client secret and enter its Value, not its Secret ID (guide steps 32–37). If the brokerage uses a "
        "certificate, upload the certificate whose private key we hold under Certificates & secrets."
    )


class ExpiredSecret(AccessError):
    kind, permanent, title = "expired_secret", True, "The client secret has expired"
    remedy = (
        "The client secret has expired. In Entra ID, app registration → Certificates & secrets, create a new "
        "client secret (we recommend 24 months), enter its Value here as the pending secret together with its "
        "new expiry date, and verify it (guide steps 32–37)."
    )


class AppNotInTenant(AccessError):
    kind, permanent, title = "app_not_in_tenant", True, "The application is not registered in this tenant"
    remedy = (
        "Entra ID does not know this Client ID in this tenant. Check that the Client ID is the \"Application "
        "(client) ID\" of the app registration (guide step 11) and that the Tenant ID is the \"Directory (tenant) "
        "ID\" of the same directory (guide step 13); an app registered in another directory will not work."
    )


class TenantNotFound(AccessError):
    kind, permanent, title = "tenant_not_found", True, "The tenant does not exist"
    remedy = (
        "No Microsoft 365 directory has this Tenant ID. Copy the \"Directory (tenant) ID\" again from the app "
        "registration's overview page (guide step 13); it is a GUID, not a domain name or the Client ID."
    )


class ConsentMissing(AccessError):
    kind, permanent, title = "consent_missing", True, "Admin consent for full_access_as_app is missing"
    remedy = (
        "The app has no granted Exchange permission. In Entra ID, app registration → API permissions, add "
        "Office 365 Exchange Online → Application permissions → full_access_as_app, then click \"Grant admin "
        "consent\" and confirm that the status reads \"Granted\" (guide steps 15–28)."
    )


class ServicePrincipalMissing(AccessError):
    kind, permanent, title = "service_principal_missing", True, "The app's enterprise application is missing or disabled"
    remedy = (
        "The app registration has no enabled enterprise application (service principal) in the tenant. In Entra ID, "
        "open Enterprise applications, find the app by its Client ID and make sure it exists and \"Enabled for users "
        "to sign in\" is Yes; granting admin consent again (guide steps 26–28) recreates it."
    )


class ConditionalAccess(AccessError):
    kind, permanent, title = "conditional_access", True, "A Conditional Access policy blocks the app"
    remedy = (
        "A Conditional Access policy in the tenant blocks sign-ins by this app (often a location or workload "
        "identity policy). The administrator must exclude the app's service principal from that policy or allow "
        "our service's network locations, in Entra ID → Security → Conditional Access."
    )


# --- Exchange (mailbox) ----------------------------------------------------------------------------


class MailboxNotFound(AccessError):
    kind, permanent, title = "mailbox_not_found", True, "The mailbox does not exist in this tenant"
    remedy = (
        "Exchange has no mailbox with this address in the brokerage's tenant. Check the spelling, that the user "
        "has an Exchange Online licence, and that the address belongs to this brokerage's Microsoft 365 (a "
        "mailbox of another tenant cannot be reached with these credentials)."
    )


class MailboxOutOfScope(AccessError):
    kind, permanent, title = "mailbox_out_of_scope", True, "The app may not access this mailbox"
    remedy = (
        "Exchange refused to let the app act as this mailbox. Either the mailbox belongs to another Microsoft 365 "
        "tenant than the brokerage's (check the agent's address), or the app is restricted to a subset of "
        "mailboxes (an Application Access Policy or an RBAC for Applications management scope) and this mailbox "
        "is outside it: the Exchange administrator must add the mailbox to the group or scope the policy allows "
        "(Get-ApplicationAccessPolicy / Get-ManagementRoleAssignment)."
    )


class EwsDisabled(AccessError):
    kind, permanent, title = "ews_disabled", True, "EWS is switched off for this tenant or app"
    remedy = (
        "Exchange Web Services is switched off for this tenant or mailbox, or the app is not on the tenant's EWS "
        "allow-list. The Exchange administrator must allow it: Set-OrganizationConfig -EwsEnabled $true, and add "
        "our Client ID to EwsAllowedAppIDs (Set-OrganizationConfig -EwsApplicationAccessPolicy EnforceAllowList "
        "-EwsAllowedAppIDs @{Add='<client id>'}). Better, move the brokerage to the Microsoft Graph backend, which "
        "this switch does not touch: Exchange Online switches EWS off tenant by tenant from 1 October 2026 and for "
        "every tenant on 1 April 2027."
    )


class MailboxNotAllowed(AccessError):
    kind, permanent, title = "mailbox_not_allowed", True, "The address is outside the brokerage's domains"
    remedy = (
        "This address is not in one of the brokerage's verified email domains, so its credentials are not used "
        "for it. Correct the agent's address, or add the domain to the brokerage if it really is theirs."
    )


# --- Transient and catch-all -----------------------------------------------------------------------


class Throttled(AccessError):
    kind, permanent, title = "throttled", False, "Microsoft asked us to slow down"
    remedy = "Microsoft is throttling requests for this brokerage; work resumes by itself after the back-off."

    def __init__(self, detail: str = "", *, back_off_seconds: float = 30.0, secrets: Iterable[str] = ()) -> None:
        self.back_off_seconds = float(back_off_seconds)
        super().__init__(f"{detail} (back off {self.back_off_seconds:g}s)".strip(), secrets=secrets)


class TransientNetwork(AccessError):
    kind, permanent, title = "transient_network", False, "The network failed on the way to Microsoft"
    remedy = "A connection failed or timed out. It is retried automatically; act only if it persists for hours."


class ServerError(AccessError):
    kind, permanent, title = "server_error", False, "Microsoft answered with a server error"
    remedy = "Microsoft 365 returned a server error. It is retried automatically; act only if it persists for hours."


class TokenRejected(AccessError):
    kind, permanent, title = "token_rejected", False, "Exchange rejected an access token"
    remedy = "Exchange refused a token it should accept (expired or revoked early); a new token is fetched on retry."


class TlsFailure(AccessError):
    kind, permanent, title = "tls_certificate", True, "The TLS certificate could not be verified"
    remedy = (
        "The server's TLS certificate could not be verified. Check the brokerage's EWS URL and authority host, and, "
        "for an on-premises Exchange with a private certificate authority, that the CA bundle configured for the "
        "brokerage contains that authority."
    )


class RequestRejected(AccessError):
    kind, permanent, title = "request_rejected", True, "Exchange rejected our request as malformed"
    remedy = (
        "Exchange refused a request Engage Sync sent as invalid against its schema (ErrorSchemaValidation): a defect "
        "in Engage Sync, not at Microsoft and not in the brokerage's setup. Retrying the same request will not help; "
        "engineering must fix it (the detail names the line, position and violation). Syncs keep retrying on their "
        "back-off, so a release with the fix resumes them by itself."
    )


class UnknownFailure(AccessError):
    kind, permanent, title = "unknown", False, "An unrecognised failure"
    remedy = "The failure was not recognised. Engineering should look at the detail; it is retried meanwhile."


ACCESS_ERROR_CLASSES: tuple[type[AccessError], ...] = (
    InvalidSecret, ExpiredSecret, AppNotInTenant, TenantNotFound, ConsentMissing, ServicePrincipalMissing,
    ConditionalAccess, MailboxNotFound, MailboxOutOfScope, EwsDisabled, MailboxNotAllowed, Throttled,
    TransientNetwork, ServerError, TokenRejected, TlsFailure, RequestRejected, UnknownFailure,
)  # fmt: skip


# --- Outcomes of item operations (not access failures) ---------------------------------------------


class ConflictError(GatewayError):
    kind, title = "conflict", "The item changed since the version we hold"


class ItemNotFound(GatewayError):
    kind, title = "item_not_found", "The item does not exist (any more)"


class InvalidItem(GatewayError):
    kind, permanent, title = "invalid_item", True, "The item cannot be written to the mailbox as it is"


class WatermarkExpired(GatewayError):
    kind, title = "watermark_expired", "The stored watermark is no longer accepted; read the collection afresh"


class MessageRejected(GatewayError):
    """Exchange refused this one message (a recipient, its size, the mailbox's quota): resending cannot help."""

    kind, permanent, title = "message_rejected", True, "Exchange refused the message"
    remedy = (
        "Exchange refused this message itself: a recipient address it rejects, a message over the size limit, or "
        "an agent's mailbox over its quota. Correct the message in the CRM (or free space in the mailbox) and send "
        "it again as a new email; other emails of the mailbox are not affected."
    )


class SendAsDenied(GatewayError):
    kind, permanent, title = "send_as_denied", True, "The mailbox may not send as this address"
    remedy = (
        "Exchange does not let this mailbox send as the address the message is from. The Exchange administrator "
        "must grant the agent's mailbox Send As on that address, or the CRM must send from the agent's own address."
    )


_MESSAGE_ERROR_CLASSES: dict[type[Exception], type[GatewayError]] = {
    ews_errors.ErrorInvalidRecipients: MessageRejected,
    ews_errors.ErrorMessageSizeExceeded: MessageRejected,
    ews_errors.ErrorQuotaExceeded: MessageRejected,
    ews_errors.ErrorSendAsDenied: SendAsDenied,
}


# --- Scrubbing --------------------------------------------------------------------------------------

_SCRUB_PATTERNS = (
    re.compile(r"eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*"),  # JWTs (access tokens, client assertions)
    re.compile(r"(?i)(bearer\s+)[\w.~+/=-]+"),
    re.compile(r"(?i)((?:client_secret|access_token|client_assertion|password)[\"']?\s*[=:]\s*[\"']?)[^\"'&\s,}]+"),
)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """The text with known secret values and anything token-shaped replaced by ``[redacted]``."""
    for value in secrets:
        if value and len(value) >= 4:
            text = text.replace(value, "[redacted]")
    for pattern in _SCRUB_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "[redacted]", text)
    return text


# --- Classifiers: Entra ID --------------------------------------------------------------------------

_AADSTS_CLASSES: dict[int, type[AccessError]] = {
    7000215: InvalidSecret,  # Invalid client secret provided
    7000222: ExpiredSecret,  # The provided client secret keys are expired
    700027: InvalidSecret,  # Client assertion failed signature validation (certificate not registered)
    700024: InvalidSecret,  # Client assertion is not within its valid time range
    50012: InvalidSecret,  # Invalid client assertion / credential
    50027: InvalidSecret,  # Client assertion JWT malformed
    700021: InvalidSecret,  # Client assertion subject does not match the client id
    700023: InvalidSecret,  # Client assertion audience mismatch
    7000218: InvalidSecret,  # No credential sent
    700016: AppNotInTenant,  # Application not found in the directory
    90002: TenantNotFound,  # Tenant not found
    90072: TenantNotFound,  # Tenant-scoped lookup failed
    900023: TenantNotFound,  # Tenant identifier is neither a valid GUID nor a valid name
    65001: ConsentMissing,  # The user or administrator has not consented
    501051: ConsentMissing,  # Application is not assigned a role for the API
    7000112: ServicePrincipalMissing,  # Application is disabled
    7000229: ServicePrincipalMissing,  # The client application is missing a service principal in the tenant
    500011: ServicePrincipalMissing,  # Resource principal not found in the tenant
    500014: ServicePrincipalMissing,  # Service principal for the resource is disabled
    53003: ConditionalAccess,  # Access blocked by Conditional Access policies
    53000: ConditionalAccess,
    53001: ConditionalAccess,
    530034: ConditionalAccess,
    50053: Throttled,  # Too many sign-in attempts
    90033: ServerError,  # A transient error occurred
}


def classify_token_result(result: dict[str, Any], *, secrets: Iterable[str] = ()) -> AccessError:
    """The error class for an MSAL error result (``error``, ``error_codes``, ``error_description``)."""
    codes = [int(c) for c in result.get("error_codes") or [] if str(c).isdigit()]
    description = str(result.get("error_description") or "")
    codes += [int(c) for c in re.findall(r"AADSTS(\d+)", description)]
    detail = f"{result.get('error', 'error')}: {description.splitlines()[0] if description else ''}".strip()
    for code in codes:
        if code in _AADSTS_CLASSES:
            cls = _AADSTS_CLASSES[code]
            if cls is Throttled:
                return Throttled(detail, back_off_seconds=60, secrets=secrets)
            return cls(detail, secrets=secrets)
    error = str(result.get("error") or "")
    if error in {"temporarily_unavailable", "server_error"}:
        return ServerError(detail, secrets=secrets)
    if error == "unauthorized_client":
        return AppNotInTenant(detail, secrets=secrets)
    if error == "invalid_client":
        return InvalidSecret(detail, secrets=secrets)
    return UnknownFailure(detail, secrets=secrets)


def classify_authority_failure(exc: ValueError, *, secrets: Iterable[str] = ()) -> AccessError:
    """MSAL's authority discovery answers an unknown tenant with a ValueError before any token request."""
    text = str(exc)
    if "Unable to get authority configuration" in text or "tenant" in text.lower():
        return TenantNotFound(text.split(" Authority would")[0], secrets=secrets)
    return UnknownFailure(text, secrets=secrets)


# --- Classifiers: transport and EWS -----------------------------------------------------------------

_EWS_CODE_CLASSES: dict[type[Exception], type[AccessError]] = {
    ews_errors.ErrorNonExistentMailbox: MailboxNotFound,
    ews_errors.ErrorInvalidSmtpAddress: MailboxNotFound,
    ews_errors.ErrorImpersonateUserDenied: MailboxOutOfScope,
    ews_errors.ErrorAccessDenied: MailboxOutOfScope,
    ews_errors.ErrorImpersonationDenied: ConsentMissing,
    ews_errors.ErrorInternalServerError: ServerError,
    ews_errors.ErrorInternalServerTransientError: ServerError,
    ews_errors.ErrorMailboxStoreUnavailable: ServerError,
    ews_errors.ErrorMailboxMoveInProgress: ServerError,
    ews_errors.ErrorTimeoutExpired: TransientNetwork,
    # A TransportError subclass, so it must be matched before the catch-all below calls it a server error.
    ews_errors.ErrorSchemaValidation: RequestRejected,
}
_NETWORK_ERRORS = (
    requests.exceptions.ConnectionError, requests.exceptions.Timeout, requests.exceptions.ChunkedEncodingError,
    TimeoutError, ConnectionError,
)  # fmt: skip


def _is_tls(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, requests.exceptions.SSLError | ssl.SSLError):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def classify_exception(exc: BaseException, *, secrets: Iterable[str] = ()) -> GatewayError:
    """The gateway error for anything raised by exchangelib, requests, urllib3 or ssl."""
    if isinstance(exc, GatewayError):
        return exc
    text = f"{type(exc).__name__}: {exc}"
    if _is_tls(exc):
        return TlsFailure(text, secrets=secrets)
    if isinstance(exc, ews_errors.ErrorServerBusy):
        if "Reraised from ErrorTimeoutExpired" in str(exc):  # exchangelib folds connection errors into ServerBusy
            return TransientNetwork(text, secrets=secrets)
        return Throttled(text, back_off_seconds=exc.back_off or 30, secrets=secrets)
    if isinstance(exc, ews_errors.RateLimitError):
        return Throttled(text, back_off_seconds=exc.wait or 30, secrets=secrets)
    if isinstance(exc, ews_errors.ErrorExceededConnectionCount | ews_errors.ErrorTooManyObjectsOpened):
        return Throttled(text, back_off_seconds=10, secrets=secrets)
    if isinstance(exc, ews_errors.ErrorIrresolvableConflict | ews_errors.ErrorStaleObject):
        return ConflictError(text, secrets=secrets)
    if isinstance(exc, ews_errors.ErrorItemNotFound):
        return ItemNotFound(text, secrets=secrets)
    if isinstance(exc, ews_errors.ErrorInvalidSyncStateData):
        return WatermarkExpired(text, secrets=secrets)
    for ews_class, cls in (*_EWS_CODE_CLASSES.items(), *_MESSAGE_ERROR_CLASSES.items()):
        if isinstance(exc, ews_class):
            return cls(text, secrets=secrets)
    if isinstance(exc, MsalError):
        # MSAL raises (rather than returns) for a token endpoint answering 5xx/429 without an OAuth error body.
        match = re.search(r"HTTP Error: (\d+)", str(exc))
        status = int(match.group(1)) if match else 0
        if status == 429:
            return Throttled(text, back_off_seconds=30, secrets=secrets)
        return (ServerError if status >= 500 else UnknownFailure)(text, secrets=secrets)
    if isinstance(exc, requests.exceptions.HTTPError) and exc.response is not None:
        status = exc.response.status_code  # MSAL raises these for a failing OpenID discovery endpoint
        if status == 429 or status == 503:
            return Throttled(text, back_off_seconds=_retry_after_seconds(exc.response.headers) or 30, secrets=secrets)
        return (ServerError if status >= 500 else UnknownFailure)(text, secrets=secrets)
    if isinstance(exc, _NETWORK_ERRORS):
        return TransientNetwork(text, secrets=secrets)
    if isinstance(exc, ews_errors.TransportError):
        if _is_tls(exc.__context__):
            return TlsFailure(text, secrets=secrets)
        return ServerError(text, secrets=secrets)
    return UnknownFailure(text, secrets=secrets)


def classify_http_response(status: int, headers: Mapping[str, str], body: str, *, secrets: Iterable[str] = ()) -> AccessError:
    """The error class for a non-SOAP HTTP failure from the mail endpoint (401, 403, 429, 5xx)."""
    authenticate = headers.get("WWW-Authenticate", "")
    diagnostics = headers.get("x-ms-diagnostics", "")  # Exchange Online says why it refused a token here
    text = f"HTTP {status}: {diagnostics or authenticate or body[:300]}"
    retry_after = _retry_after_seconds(headers)
    lowered = f"{diagnostics} {authenticate} {body[:2000]}".lower()
    if status == 429 or (status == 503 and retry_after is not None):
        return Throttled(text, back_off_seconds=retry_after or 30, secrets=secrets)
    if status in (401, 403) and ("ews" in lowered and ("disabled" in lowered or "allow" in lowered or "block" in lowered)):
        return EwsDisabled(text, secrets=secrets)
    if status == 401 and ("role" in lowered or "permission" in lowered or "consent" in lowered):
        return ConsentMissing(text, secrets=secrets)
    if status == 401:
        return TokenRejected(text, secrets=secrets)
    if status == 403 and ("conditional" in lowered or "aadsts53" in lowered):
        return ConditionalAccess(text, secrets=secrets)
    if status == 403:
        return MailboxOutOfScope(text, secrets=secrets)
    if status == 503:
        return Throttled(text, back_off_seconds=30, secrets=secrets)
    if status >= 500:
        return ServerError(text, secrets=secrets)
    return UnknownFailure(text, secrets=secrets)


def _retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None
