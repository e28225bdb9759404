"""How to reach one brokerage's Microsoft 365: plain connection details, handed in by the caller (no Django)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from mailboxes.errors import MailboxNotAllowed
from mailboxes.secret import Secret

EXCHANGE_SCOPE = "https://outlook.office365.com/.default"  # the audience of EWS tokens
GRAPH_SCOPE = "https://graph.microsoft.com/.default"  # the audience of Microsoft Graph tokens


@dataclass(frozen=True)
class ClientCertificate:
    """A certificate credential: the PEM private key (a Secret) and the certificate's SHA-1 thumbprint (hex)."""

    private_key_pem: Secret
    thumbprint: str
    public_certificate_pem: str | None = None  # sent as x5c (subject name/issuer authentication) when given


@dataclass(frozen=True)
class ConnectionDetails:
    """One brokerage's tenant, app credentials and endpoints; ``key`` names it in caches and logs (e.g. its pk).

    ``backend`` picks the protocol (``ews`` or ``graph``); each backend reads only its own URL.
    """

    key: str
    tenant_id: str
    client_id: str
    client_secret: Secret | None = None
    certificate: ClientCertificate | None = None
    authority_host: str = "https://login.microsoftonline.com"
    ews_url: str = "https://outlook.office365.com/EWS/Exchange.asmx"
    graph_url: str = "https://graph.microsoft.com/v1.0"  # the Graph root, version included (the simulator's: …/v1.0)
    ca_bundle_path: str | None = None
    allowed_domains: frozenset[str] = field(default_factory=frozenset)
    backend: str = "ews"

    def __post_init__(self) -> None:
        if (self.client_secret is None) == (self.certificate is None):
            raise ValueError("Give exactly one credential: a client secret or a certificate")
        object.__setattr__(self, "allowed_domains", frozenset(d.strip().lower() for d in self.allowed_domains))

    @property
    def authority(self) -> str:
        """The token authority URL: the authority host (https) followed by the tenant id."""
        host = self.authority_host if "://" in self.authority_host else f"https://{self.authority_host}"
        return f"{host.rstrip('/')}/{self.tenant_id}"

    @property
    def is_microsoft_authority(self) -> bool:
        host = urlsplit(self.authority).hostname or ""
        return host in {"login.microsoftonline.com", "login.microsoft.com", "login.windows.net"}

    @property
    def credential_fingerprint(self) -> str:
        """A short one-way fingerprint of the credential, so a rotated secret never shares a cached token or app."""
        material = self.client_secret.reveal() if self.client_secret else self.certificate.thumbprint  # type: ignore[union-attr]
        return hashlib.sha256(f"{self.client_id}\0{material}".encode()).hexdigest()[:16]

    def secret_values(self) -> tuple[str, ...]:
        """Plaintexts that must never be shown; the scrubber removes them from any message."""
        if self.client_secret is not None:
            return (self.client_secret.reveal(),)
        return (self.certificate.private_key_pem.reveal(),)  # type: ignore[union-attr]

    def require_allowed(self, mailbox: str) -> str:
        """The normalised address, or MailboxNotAllowed when it is outside the brokerage's domains (invariant 6)."""
        address = mailbox.strip().lower()
        local, _, domain = address.rpartition("@")
        if not local or domain not in self.allowed_domains:
            raise MailboxNotAllowed(f"{address!r} is not in the domains of brokerage {self.key}")
        return address
