"""The EWS endpoint: one SOAP request in, one SOAP response out, with Exchange Online's checks in its order.

Order (as Exchange Online applies them): well-formed XML / schema (strict mode) -> the org's EWS switch and app
allow-list -> ExchangeImpersonation present and naming a mailbox of the token's tenant -> throttling (faults,
concurrent connections) -> the operation.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from lxml import etree

from simulator.ews import schema, soap
from simulator.ews.context import RequestContext
from simulator.ews.operations import OPERATIONS

log = logging.getLogger(__name__)

_XML_HEADERS = {"Content-Type": "text/xml; charset=utf-8"}
_KNOWN_HEADERS = frozenset({"RequestServerVersion", "ExchangeImpersonation", "TimeZoneContext", "MailboxCulture",
                            "DateTimePrecision", "ManagementRole"})
_BUSY_TEXT = "The server cannot service this request right now. Try again later."
# What Exchange Online answers when the organization's EWS switch or EwsAllowedAppIDs shuts the app out: a policy
# block is an HTTP 403 before any SOAP processing (no EWS error code to parse).
EWS_BLOCKED_BODY = b"EWS access is blocked for this application by the organization's EWS policy."


def handle(world: Any, claims: Any, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
    """Answer one POST to /EWS/Exchange.asmx for an authenticated token; return (status, headers, body)."""
    started = time.perf_counter()
    strict = bool(getattr(world, "strict", False))
    try:
        status, payload = _answer(world, claims, body, strict)
    except soap.SoapFault as fault:
        status, payload = 500, soap.fault_envelope(fault)
    except _Blocked:
        return 403, {"Content-Type": "text/plain; charset=utf-8"}, EWS_BLOCKED_BODY
    log.debug("EWS answered %s in %.1f ms", status, (time.perf_counter() - started) * 1000)
    return status, dict(_XML_HEADERS), payload


class _Blocked(Exception):
    pass


def _answer(world: Any, claims: Any, body: bytes, strict: bool) -> tuple[int, bytes]:
    try:
        root = soap.parse(body)
    except etree.XMLSyntaxError as e:
        raise soap.SoapFault("ErrorSchemaValidation", "The request failed schema validation: " + str(e),
                             schema_violation=(e.lineno or 0, e.offset or 0, str(e))) from None
    header = root.find(f"{{{soap.SOAP}}}Header")
    body_node = root.find(f"{{{soap.SOAP}}}Body")
    if root.tag != f"{{{soap.SOAP}}}Envelope" or body_node is None or len(body_node) == 0:
        raise soap.SoapFault("ErrorSchemaValidation", "The request failed schema validation: no SOAP body.")
    request = body_node[0]
    operation = etree.QName(request).localname
    if strict:
        _validate_request(header, request)

    tenant = world.directory.find_tenant(claims.tenant_id) if hasattr(world.directory, "find_tenant") else None
    if tenant is not None and (not tenant.ews_enabled or (tenant.ews_allowed_app_ids is not None and str(
            claims.app_id).lower() not in {app.lower() for app in tenant.ews_allowed_app_ids})):
        raise _Blocked
    address = _impersonated_address(header)
    _check_mailbox(world, claims, address)

    world.stats.count("ews_operation", operation)
    world.stats.count("ews_mailbox", address.lower())
    fault = world.faults.pick(claims.tenant_id, address, operation)
    if fault is not None and fault.kind == "server_busy":
        raise soap.SoapFault("ErrorServerBusy", _BUSY_TEXT, {"BackOffMilliseconds": str(fault.back_off_ms)})
    if (fault is not None and fault.kind == "connection_limit") or not world.faults.enter_connection(address):
        raise soap.SoapFault("ErrorExceededConnectionCount", "You have exceeded the available concurrent "
                             "connections for your account.  Try again once your other requests have completed.")
    try:
        handler = OPERATIONS.get(operation)
        if handler is None:
            raise soap.SoapFault("ErrorInvalidRequest", f"The request is invalid: {operation} is not supported.")
        context = RequestContext(world=world, store=world.mailstore, address=world.mailstore.mailbox(address).address,
                                 tenant_id=claims.tenant_id, fault=fault, header=header)
        with world.lock:
            try:
                response = handler(context, request)
            except soap.SoapFault:
                raise
            except Exception:  # a request we did not foresee: answer as Exchange does, and log it loudly
                log.exception("EWS %s failed", operation)
                raise soap.SoapFault("ErrorInternalServerError",
                                     "An internal server error occurred. The operation failed.") from None
    finally:
        world.faults.leave_connection(address)
    if strict:
        _validate_response(operation, response)
    return 200, soap.envelope(response)


def _validate_request(header: etree._Element | None, request: etree._Element) -> None:
    parts = [request] + [h for h in (header if header is not None else []) if etree.QName(h).localname in _KNOWN_HEADERS]
    for part in parts:
        problem = schema.violation(part)
        if problem is not None:
            line, column, message = problem
            raise soap.SoapFault("ErrorSchemaValidation", f"The request failed schema validation: {message}",
                                 schema_violation=(line, column, message))


def _validate_response(operation: str, response: etree._Element) -> None:
    problem = schema.violation(response)
    if problem is not None:
        # The simulator broke its own contract: make it loud in strict mode (the test suite's mode).
        log.error("EWS %s response violates the schema: %s", operation, problem)
        raise soap.SoapFault("ErrorInternalServerError", f"An internal server error occurred: the {operation} "
                             f"response violates the schema ({problem[2]}).")


def _impersonated_address(header: etree._Element | None) -> str:
    sid = None if header is None else header.find(f"{soap.t('ExchangeImpersonation')}/{soap.t('ConnectingSID')}")
    if sid is None:
        raise soap.SoapFault("ErrorInvalidExchangeImpersonationHeaderData",
                             "ExchangeImpersonation SOAP header must be present for this type of OAuth token.")
    for tag in ("PrimarySmtpAddress", "SmtpAddress", "PrincipalName"):
        value = sid.findtext(soap.t(tag))
        if value:
            return value.strip()
    raise soap.SoapFault("ErrorInvalidExchangeImpersonationHeaderData",
                         "The impersonation principal name is invalid or could not be resolved.")


def _check_mailbox(world: Any, claims: Any, address: str) -> None:
    owner = world.directory.tenant_of_mailbox(address)
    if owner is None:
        raise soap.SoapFault("ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.",
                             {"SmtpAddress": address})
    if owner.tenant_id.lower() != str(claims.tenant_id).lower():
        raise soap.SoapFault("ErrorImpersonateUserDenied",
                             "The account does not have permission to impersonate the requested user.")
    if not world.mailstore.mailbox_exists(address):
        # Every licensed user in the directory has a mailbox; create it empty on first use.
        world.mailstore.ensure_mailbox(address)
