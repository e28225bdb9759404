"""The simulator's local certificate authority and HTTPS server certificate, made once per state directory."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import certifi
import trustme

SERVER_NAMES = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class TlsFiles:
    """Where the CA bundle (what clients trust) and the server's chain and key live."""

    ca_path: Path
    cert_chain_path: Path
    key_path: Path

    @property
    def combined_bundle_path(self) -> Path:
        """The system's CAs plus ours: for REQUESTS_CA_BUNDLE, which overrides a requests Session's `verify`."""
        return self.ca_path.with_name("ca-bundle-with-system.pem")


def ensure_certificates(state_dir: Path) -> TlsFiles:
    """Return the state directory's CA and server certificate, creating them on first start.

    Reusing them across restarts keeps `ca.pem` valid for a service already told to trust it.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(state_dir / "ca.pem", state_dir / "server-chain.pem", state_dir / "server-key.pem")
    if not (files.ca_path.exists() and files.cert_chain_path.exists() and files.key_path.exists()):
        _create(files)
    system = Path(certifi.where()).read_bytes()
    files.combined_bundle_path.write_bytes(system.rstrip(b"\n") + b"\n" + files.ca_path.read_bytes())
    return files


def _create(files: TlsFiles) -> None:
    ca = trustme.CA(organization_name="Engage Sync Microsoft 365 simulator")
    leaf = ca.issue_cert(*SERVER_NAMES)
    leaf.private_key_pem.write_to_path(str(files.key_path))
    files.key_path.chmod(0o600)
    with files.cert_chain_path.open("wb") as chain:
        for blob in leaf.cert_chain_pems:
            chain.write(blob.bytes())
    ca.cert_pem.write_to_path(str(files.ca_path))


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """An HTTPS server context: TLS 1.2+, the generated chain."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(files.cert_chain_path), str(files.key_path))
    return context
