"""Graph's answers and httpx's exceptions, classified once into the neutral ``mailboxes.errors`` taxonomy.

Graph's error body is ``{"error": {"code", "message", "innerError"}}``; the code says more than the status.
Throttling (429, and 503 with or without ``Retry-After``) is the same ``Throttled`` EWS's ErrorServerBusy gives,
so the brokerage-wide cool-down applies whichever backend asked.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterable, Mapping

import httpx

from mailboxes.errors import (
    AccessError,
    ConditionalAccess,
    ConflictError,
    ConsentMissing,
    GatewayError,
    InvalidItem,
    ItemNotFound,
    MailboxNotFound,
    MailboxOutOfScope,
    MessageRejected,
    SendAsDenied,
    ServerError,
    Throttled,
    TlsFailure,
    TokenRejected,
    TransientNetwork,
    UnknownFailure,
    WatermarkExpired,
)

GRAPH_ROLES = ("Contacts.ReadWrite", "Calendars.ReadWrite", "Mail.ReadWrite", "Mail.Send")
DEFAULT_BACK_OFF = 30.0


class GraphConsentMissing(ConsentMissing):
    """ConsentMissing (same ``kind``) with the remedy for Graph's application permissions, naming the missing
    ones when the token told us which (``missing``); a refusal on a route cannot say, so it names all four."""

    title = "Admin consent for the Microsoft Graph permissions is missing"
    remedy = (
        "The app lacks a granted Microsoft Graph application permission. In Entra ID, app registration → API "
        "permissions, add Microsoft Graph → Application permissions → Contacts.ReadWrite, Calendars.ReadWrite, "
        "Mail.ReadWrite and Mail.Send, then click \"Grant admin consent\" and confirm that each status reads "
        "\"Granted\"."
    )

    def __init__(self, detail: str = "", *, missing: Iterable[str] = (), secrets: Iterable[str] = ()) -> None:
        super().__init__(detail, secrets=secrets)
        self.missing = tuple(missing)
        if self.missing:
            names = ", ".join(self.missing)
            self.title = f"Admin consent for the Microsoft Graph permission {names} is missing"
            self.remedy = (
                f"The app's token lacks the Microsoft Graph application permission {names}. In Entra ID, app "
                f"registration → API permissions, add Microsoft Graph → Application permissions → {names}, then "
                "click \"Grant admin consent\" and confirm that its status reads \"Granted\" (a permission added "
                "but not consented is not in the token)."
            )


class GraphMailboxOutOfScope(MailboxOutOfScope):
    """MailboxOutOfScope (same ``kind``) as Graph says it: the app's mailbox scope leaves this mailbox out.

    (A mailbox of another tenant is MailboxNotFound on Graph: /users/{address} does not find it.)"""

    remedy = (
        "Exchange Online limits this app to a set of mailboxes and this one is outside it: an Application Access "
        "Policy or an RBAC for Applications management scope. The Exchange administrator must add the mailbox to "
        "the mail-enabled security group the policy names (check with Test-ApplicationAccessPolicy -Identity "
        "<mailbox> -AppId <client id>) or to the management scope of the app's role assignments (check with "
        "Test-ServicePrincipalAuthorization -Identity <client id> -Resource <mailbox>)."
    )


_MAILBOX_MISSING = {"errorinvaliduser", "mailboxnotenabledforrestapi", "mailboxnotsupportedforrestapi",
                    "errornonexistentmailbox", "errorinvalidsmtpaddress"}  # fmt: skip
_ITEM_MISSING = {"erroritemnotfound", "errorinvalididmalformed", "itemnotfound"}
_WATERMARK = {"syncstatenotfound", "resyncrequired", "syncstateinvalid"}
_MESSAGE = {"errorinvalidrecipients": MessageRejected, "errormessagesizeexceeded": MessageRejected,
            "errorquotaexceeded": MessageRejected, "requestentitytoolarge": MessageRejected,
            "errorsendasdenied": SendAsDenied}  # fmt: skip


def error_code(body: str) -> tuple[str, str]:
    """(code, message) of a Graph error body; empty strings when it is not one."""
    try:
        error = json.loads(body).get("error") or {}
    except (ValueError, AttributeError):
        return "", ""
    return str(error.get("code") or ""), str(error.get("message") or "")


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None


def classify_response(status: int, headers: Mapping[str, str], body: str, *, secrets: Iterable[str] = ()) -> GatewayError:
    """The gateway error for a Graph answer with status ≥ 400."""
    code, message = error_code(body)
    lowered, text = code.lower(), f"HTTP {status} {code}: {message or body[:300]}"
    retry_after = retry_after_seconds(headers)
    if status == 429 or status == 503:
        return Throttled(text, back_off_seconds=retry_after if retry_after is not None else DEFAULT_BACK_OFF,
                         secrets=secrets)
    if status == 401:
        if any(word in message.lower() for word in ("role", "permission", "consent")):
            return GraphConsentMissing(text, secrets=secrets)
        return TokenRejected(text, secrets=secrets)
    if status == 403:
        return _forbidden(text, lowered, message.lower(), secrets)
    if status == 404:
        if lowered in _MAILBOX_MISSING:
            return MailboxNotFound(text, secrets=secrets)
        if lowered in _ITEM_MISSING:
            return ItemNotFound(text, secrets=secrets)
        return UnknownFailure(text, secrets=secrets)  # ResourceNotFound: a URL we built wrong
    if status in (409, 412):
        return ConflictError(text, secrets=secrets)
    if status == 410 or lowered in _WATERMARK:
        return WatermarkExpired(text, secrets=secrets)
    if lowered in _MESSAGE:
        return _MESSAGE[lowered](text, secrets=secrets)
    if status == 413:
        return MessageRejected(text, secrets=secrets)
    if status == 400 and lowered in _ITEM_MISSING:
        return ItemNotFound(text, secrets=secrets)
    if status == 400:
        return InvalidItem(text, secrets=secrets)  # Graph refused what we wrote: retrying the same cannot help
    if status >= 500:
        return ServerError(text, secrets=secrets)
    return UnknownFailure(text, secrets=secrets)


def _forbidden(text: str, code: str, message: str, secrets: Iterable[str]) -> AccessError:
    if "conditional access" in message or "aadsts53" in message:
        return ConditionalAccess(text, secrets=secrets)
    # Graph's documented answer to a mailbox outside an application access policy / RBAC-for-Applications scope.
    if "access to odata is disabled" in message or "scope" in message:
        return GraphMailboxOutOfScope(text, secrets=secrets)
    # ErrorAccessDenied "Access is denied. Check credentials and try again.": the token lacks the route's role.
    if code in ("erroraccessdenied", "authorization_requestdenied", "accessdenied"):
        return GraphConsentMissing(text, secrets=secrets)
    return GraphMailboxOutOfScope(text, secrets=secrets)


def classify_exception(exc: BaseException, *, secrets: Iterable[str] = ()) -> GatewayError:
    """The gateway error for an exception raised by httpx (or the ssl module under it)."""
    if isinstance(exc, GatewayError):
        return exc
    text = f"{type(exc).__name__}: {exc}"
    if _is_tls(exc):
        return TlsFailure(text, secrets=secrets)
    if isinstance(exc, httpx.PoolTimeout):  # every connection of the brokerage busy for the whole wait
        return Throttled(text, back_off_seconds=10, secrets=secrets)
    if isinstance(exc, httpx.TransportError | TimeoutError | ConnectionError):
        return TransientNetwork(text, secrets=secrets)
    return UnknownFailure(text, secrets=secrets)


def _is_tls(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(exc):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False
