"""Email domains of a brokerage: how staff may write them, and which addresses belong to them.

A brokerage's credentials may be used only for mailboxes in its own domains (design invariant 6), so
the match is exact and case-insensitive: a subdomain or a look-alike suffix is a different domain.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

# One DNS label: letters, digits, hyphens inside, at most 63 characters (RFC 1035, with IDNA as punycode).
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normalize_domain(text: str) -> str:
    """The domain in canonical form (lower case, no trailing dot); ValidationError with a remedy otherwise."""
    raw = text.strip()
    domain = raw.lower().rstrip(".")
    if not domain:
        raise ValidationError("An email domain is empty; remove the extra comma.")
    if "@" in domain:
        raise ValidationError(
            f"“{raw}” is not a domain: enter only the part after the @, for example {domain.rsplit('@', 1)[-1] or 'example.com'}."
        )
    if "://" in domain or "/" in domain:
        raise ValidationError(f"“{raw}” looks like a web address; enter just the domain, for example example.com.")
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValidationError(f"“{raw}” is not a valid domain name.") from None
    labels = domain.split(".")
    if len(domain) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise ValidationError(f"“{raw}” is not a valid domain name; it should look like example.com.")
    if labels[-1].isdigit():
        raise ValidationError(f"“{raw}” is an IP address, not an email domain.")
    return domain


def domain_of(address: str) -> str | None:
    """The lower-cased domain of a well-formed email address, or None when it is not one."""
    address = (address or "").strip()
    try:
        validate_email(address)
    except ValidationError:
        return None
    return address.rsplit("@", 1)[1].lower().rstrip(".")


def address_in_domains(address: str, domains: list[str] | tuple[str, ...]) -> bool:
    """Whether address is a well-formed email whose domain is exactly one of domains (case-insensitive)."""
    domain = domain_of(address)
    return domain is not None and domain in {d.lower().rstrip(".") for d in domains}
