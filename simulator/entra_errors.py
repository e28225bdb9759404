"""Entra ID's documented token-endpoint error bodies (AADSTS codes), built in one place."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class EntraError(Exception):
    """An OAuth error as Entra answers it: HTTP status, OAuth `error`, AADSTS code and message."""

    status: int
    error: str
    code: int
    message: str

    def body(self) -> bytes:
        """The documented JSON shape: error, error_description (with trace lines), error_codes, ids, error_uri."""
        trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
        timestamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        description = (f"AADSTS{self.code}: {self.message}\r\nTrace ID: {trace_id}\r\n"
                       f"Correlation ID: {correlation_id}\r\nTimestamp: {timestamp}")
        return json.dumps({
            "error": self.error, "error_description": description, "error_codes": [self.code],
            "timestamp": timestamp, "trace_id": trace_id, "correlation_id": correlation_id,
            "error_uri": f"https://login.microsoftonline.com/error?code={self.code}",
        }).encode()


def tenant_not_found(tenant: str) -> EntraError:
    return EntraError(400, "invalid_request", 90002,
                      f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing "
                      "into the correct cloud. Check with your subscription administrator, this may happen if there "
                      "are no active subscriptions for the tenant.")


def tenant_identifier_invalid(tenant: str) -> EntraError:
    return EntraError(400, "invalid_request", 900023,
                      f"Specified tenant identifier '{tenant}' is neither a valid DNS name, nor a valid external domain.")


def post_required(method: str) -> EntraError:
    return EntraError(400, "invalid_request", 900561,
                      f"The endpoint only accepts POST, OPTIONS requests. Received a {method} request.")


def missing_parameter(name: str) -> EntraError:
    return EntraError(400, "invalid_request", 900144,
                      f"The request body must contain the following parameter: '{name}'.")


def unsupported_grant_type(grant_type: str) -> EntraError:
    return EntraError(400, "unsupported_grant_type", 70003,
                      f"The app requested an unsupported grant type '{grant_type}'.")


def app_not_found(client_id: str, tenant_id: str) -> EntraError:
    return EntraError(400, "unauthorized_client", 700016,
                      f"Application with identifier '{client_id}' was not found in the directory '{tenant_id}'. This "
                      "can happen if the application has not been installed by the administrator of the tenant or "
                      "consented to by any user in the tenant. You may have sent your authentication request to the "
                      "wrong tenant.")


def service_principal_missing(client_id: str, tenant_id: str) -> EntraError:
    return EntraError(400, "invalid_client", 7000229,
                      f"The client application {client_id} is missing service principal in the tenant {tenant_id}. "
                      "See instructions here: https://go.microsoft.com/fwlink/?linkid=2225119")


def credential_missing() -> EntraError:
    return EntraError(401, "invalid_client", 7000218,
                      "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")


def invalid_secret(client_id: str) -> EntraError:
    return EntraError(401, "invalid_client", 7000215,
                      "Invalid client secret provided. Ensure the secret being sent in the request is the client "
                      f"secret value, not the client secret ID, for a secret added to app '{client_id}'.")


def expired_secret(client_id: str) -> EntraError:
    return EntraError(401, "invalid_client", 7000222,
                      f"The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to "
                      "create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate "
                      "credentials for added security: https://aka.ms/certCreds.")


def assertion_key_not_found(client_id: str, thumbprint: str) -> EntraError:
    return EntraError(401, "invalid_client", 700027,
                      "Client assertion failed signature validation. [Reason - The key was not found., Thumbprint "
                      f"of key used by client: '{thumbprint}', Please visit the Azure Portal, Graph Explorer or "
                      f"directly use MS Graph to see configured keys for app Id '{client_id}'.]")


def assertion_bad_signature() -> EntraError:
    return EntraError(401, "invalid_client", 700027, "Client assertion failed signature validation.")


def assertion_key_expired(client_id: str, thumbprint: str) -> EntraError:
    return EntraError(401, "invalid_client", 700027,
                      "Client assertion failed signature validation. [Reason - The key used is expired., Thumbprint "
                      f"of key used by client: '{thumbprint}', Please visit the "
                      f"Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id "
                      f"'{client_id}'.]")


def assertion_time_range(now: int, not_before: int | None, expires: int | None) -> EntraError:
    def fmt(value: int | None) -> str:
        return datetime.fromtimestamp(value, UTC).strftime("%m/%d/%Y %H:%M:%S") if value else "(none)"
    return EntraError(401, "invalid_client", 700024,
                      f"Client assertion is not within its valid time range. Current time: {fmt(now)}, assertion "
                      f"valid from {fmt(not_before)}, expiry time of assertion {fmt(expires)}. Review the "
                      "documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .")


def assertion_subject_mismatch() -> EntraError:
    return EntraError(401, "invalid_client", 700021,
                      "Client assertion application identifier doesn't match 'client_id' parameter. Review the "
                      "documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .")


def assertion_audience_mismatch(audience: str) -> EntraError:
    return EntraError(401, "invalid_client", 700023,
                      f"Client assertion audience claim does not match Realm issuer. Audience: '{audience}'.")


def assertion_malformed() -> EntraError:
    return EntraError(401, "invalid_client", 50027,
                      "JWT token is invalid or malformed.")


def scope_without_default(scope: str) -> EntraError:
    return EntraError(400, "invalid_scope", 1002012,
                      f"The provided value for scope {scope} is not valid. Client credential flows must have a scope "
                      "value with /.default suffixed to the resource identifier (application ID URI).")


def scope_invalid(scope: str) -> EntraError:
    return EntraError(400, "invalid_scope", 70011,
                      f"The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid.")


def resource_not_found(resource: str, tenant_name: str) -> EntraError:
    return EntraError(400, "invalid_resource", 500011,
                      f"The resource principal named {resource} was not found in the tenant named {tenant_name}. "
                      "This can happen if the application has not been installed by the administrator of the tenant "
                      "or consented to by any user in the tenant. You might have sent your authentication request to "
                      "the wrong tenant.")


def transient(status: int) -> EntraError:
    """What a token-endpoint outage looks like (a fault the control API injects)."""
    return EntraError(status, "temporarily_unavailable" if status == 503 else "server_error", 90033,
                      "A transient error has occurred. Please try again.")
