"""exchangelib as the product uses it against Exchange Online: app-only OAuth token, impersonation, our CA."""

from __future__ import annotations

import msal
import requests
from exchangelib import (
    IMPERSONATION,
    OAUTH2,
    Account,
    Configuration,
    ExtendedProperty,
    FailFast,
    Identity,
    OAuth2Credentials,
    Version,
)
from exchangelib.protocol import BaseProtocol
from exchangelib.version import EXCHANGE_O365


class EngageId(ExtendedProperty):
    """The tag the product puts on items it created (a named property in its own property set); Graph names it
    ``String {c11ff724-aa03-4555-9952-8fa248a11c3e} Name EngageId``."""

    property_set_id = "c11ff724-aa03-4555-9952-8fa248a11c3e"
    property_name = "EngageId"
    property_type = "String"


class SimulatorCAAdapter(requests.adapters.HTTPAdapter):
    """Trust the simulator's CA for every request exchangelib sends (set as BaseProtocol.HTTP_ADAPTER_CLS)."""

    ca_path: str | None = None

    def cert_verify(self, conn, url, verify, cert):  # type: ignore[no-untyped-def]
        super().cert_verify(conn, url, self.ca_path or verify, cert)


class SimulatorCredentials(OAuth2Credentials):
    """Client credentials whose token endpoint is the tenant's authority (exchangelib hard-codes Microsoft's).

    exchangelib drops the access token whenever it closes a session (after any error) and fetches a new one itself.
    """

    def __init__(self, *args, authority: str, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.authority = authority

    @property
    def token_url(self) -> str:
        return f"{self.authority}/oauth2/v2.0/token"


def app_token(tenant) -> dict:
    """Get an app-only token for Exchange with MSAL's client-credentials grant, as the product does."""
    app = msal.ConfidentialClientApplication(tenant.client_id, client_credential=tenant.client_secret,
                                             authority=tenant.authority, instance_discovery=False,
                                             verify=tenant.ca_path)
    result = app.acquire_token_for_client(scopes=["https://outlook.office365.com/.default"])
    return {"access_token": result["access_token"], "token_type": "Bearer", "expires_in": result["expires_in"]}


def exchange_account(tenant, mailbox: str | None = None, token: dict | None = None) -> Account:
    """An exchangelib Account impersonating `mailbox` (the tenant's first by default) with an app-only token."""
    mailbox = mailbox or tenant.mailboxes[0]
    SimulatorCAAdapter.ca_path = tenant.ca_path
    BaseProtocol.HTTP_ADAPTER_CLS = SimulatorCAAdapter
    credentials = SimulatorCredentials(client_id=tenant.client_id, client_secret=tenant.client_secret,
                                       tenant_id=tenant.tenant_id, identity=Identity(primary_smtp_address=mailbox),
                                       access_token=token or app_token(tenant), authority=tenant.authority)
    config = Configuration(service_endpoint=tenant.ews_url, credentials=credentials, auth_type=OAUTH2,
                           version=Version(build=EXCHANGE_O365), retry_policy=FailFast())
    return Account(mailbox, config=config, autodiscover=False, access_type=IMPERSONATION)
