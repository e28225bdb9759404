"""Our ``Contact`` ⇄ Graph's contact JSON.

Graph's contact has a mobile phone, two business and two home phones, and no fax or "other" phone: those of our
phone kinds are not written over Graph (a contact written through EWS keeps them; Graph leaves them untouched).
An update sends every property we map, ``null`` or ``[]`` where ours is empty, so an update removes what the new
version no longer has.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from mailboxes.items import AddressType, Contact, PhoneType, PostalAddress

_ADDRESSES = {AddressType.HOME: "homeAddress", AddressType.BUSINESS: "businessAddress", AddressType.OTHER: "otherAddress"}
_ADDRESS_PARTS = {"street": "street", "city": "city", "state": "state", "postal_code": "postalCode",
                  "country": "countryOrRegion"}  # fmt: skip
NOT_ON_GRAPH = frozenset({PhoneType.BUSINESS_FAX, PhoneType.HOME_FAX, PhoneType.OTHER})


def contact_to_graph(contact: Contact) -> dict[str, Any]:
    display = contact.display_name or " ".join(p for p in (contact.given_name, contact.surname) if p) or "(no name)"
    body: dict[str, Any] = {
        "givenName": contact.given_name or None,
        "surname": contact.surname or None,
        "displayName": display,
        "emailAddresses": [{"address": email, "name": email} for email in contact.emails[:3]],
        "mobilePhone": contact.phones.get(PhoneType.MOBILE) or None,
        "businessPhones": [contact.phones[PhoneType.BUSINESS]] if contact.phones.get(PhoneType.BUSINESS) else [],
        "homePhones": [contact.phones[PhoneType.HOME]] if contact.phones.get(PhoneType.HOME) else [],
        "companyName": contact.company or None,
        "jobTitle": contact.job_title or None,
        "personalNotes": contact.notes or None,
        "birthday": f"{contact.birthday.isoformat()}T00:00:00Z" if contact.birthday else None,
    }
    for kind, name in _ADDRESSES.items():
        address = contact.addresses.get(kind)
        body[name] = ({graph: getattr(address, ours) or None for ours, graph in _ADDRESS_PARTS.items()}
                      if address is not None else None)
    return body


def contact_from_graph(body: dict[str, Any]) -> Contact:
    phones: dict[PhoneType, str] = {}
    if body.get("mobilePhone"):
        phones[PhoneType.MOBILE] = body["mobilePhone"]
    for kind, member in ((PhoneType.BUSINESS, "businessPhones"), (PhoneType.HOME, "homePhones")):
        numbers = [n for n in body.get(member) or () if n]
        if numbers:
            phones[kind] = numbers[0]
    addresses = {}
    for kind, name in _ADDRESSES.items():
        parts = body.get(name) or {}
        address = PostalAddress(**{ours: parts.get(graph) or "" for ours, graph in _ADDRESS_PARTS.items()})
        if address != PostalAddress():
            addresses[kind] = address
    birthday = body.get("birthday")
    return Contact(
        given_name=body.get("givenName") or "",
        surname=body.get("surname") or "",
        display_name=body.get("displayName") or "",
        emails=tuple(e["address"] for e in body.get("emailAddresses") or () if e.get("address")),
        phones=phones,
        addresses=addresses,
        company=body.get("companyName") or "",
        job_title=body.get("jobTitle") or "",
        notes=body.get("personalNotes") or "",
        birthday=dt.date.fromisoformat(birthday[:10]) if birthday else None,
    )
