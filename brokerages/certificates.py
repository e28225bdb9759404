"""Reading the certificate credential staff paste: a PEM private key with its certificate."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization


@dataclass(frozen=True)
class CertificateFacts:
    thumbprint: str  # SHA-1, upper-case hex: what Entra ID shows under Certificates & secrets
    expires_on: datetime.date


class CertificateProblem(ValueError):
    """A message for staff; never contains the PEM."""


def inspect_pem(pem: str) -> CertificateFacts:
    """The thumbprint and expiry of a PEM bundle holding one private key and its matching certificate."""
    data = pem.strip().encode()
    if b"-----BEGIN" not in data:
        raise CertificateProblem("This is not PEM text: it should start with -----BEGIN.")
    try:
        private_key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise CertificateProblem("The private key is password-protected; export it without a password.") from None
    except ValueError:
        raise CertificateProblem(
            "No readable private key found: paste the private key (-----BEGIN PRIVATE KEY-----) and the certificate."
        ) from None
    try:
        certificate = x509.load_pem_x509_certificate(data)
    except ValueError:
        raise CertificateProblem("No certificate found: paste the certificate (-----BEGIN CERTIFICATE-----) too.") from None
    if certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != private_key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
        raise CertificateProblem("The private key does not belong to the certificate; paste the matching pair.")
    return CertificateFacts(
        thumbprint=certificate.fingerprint(hashes.SHA1()).hex().upper(),  # noqa: S303  (an identifier, as Entra ID shows it)
        expires_on=certificate.not_valid_after_utc.date(),
    )
