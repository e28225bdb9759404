"""ItemShape: which properties a request asks for (base shape, FieldURIs, extended properties)."""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from .soap import t
from .values import extended_key

# What EWS's Default base shape returns per item (the AllProperties shape returns everything we keep).
DEFAULT_URIS = frozenset({
    "item:ItemId", "item:ParentFolderId", "item:ItemClass", "item:Subject", "item:Sensitivity", "item:Body",
    "item:Attachments", "item:DateTimeReceived", "item:Size", "item:HasAttachments", "item:DateTimeCreated",
    "message:From", "message:ToRecipients", "message:IsRead", "contacts:DisplayName", "contacts:FileAs",
    "contacts:GivenName", "contacts:Surname", "contacts:CompanyName", "contacts:EmailAddress",
    "contacts:PhoneNumber", "calendar:Start", "calendar:End", "calendar:Location", "calendar:IsAllDayEvent",
    "calendar:Organizer", "calendar:CalendarItemType", "calendar:LegacyFreeBusyStatus", "calendar:UID",
})


@dataclass(slots=True)
class Shape:
    """The properties to render: `uris` (None = all), extended property keys with the request's own URI elements."""

    uris: frozenset[str] | None
    extended: list[tuple[str, etree._Element]] = field(default_factory=list)
    body_type: str = "Best"

    def wants(self, uri: str) -> bool:
        return self.uris is None or uri in self.uris


ID_ONLY = Shape(uris=frozenset({"item:ItemId"}))


def parse_shape(node: etree._Element | None) -> Shape:
    """Return the Shape an ItemShape element asks for (IdOnly when the element is missing)."""
    if node is None:
        return ID_ONLY
    base = node.findtext(t("BaseShape")) or "IdOnly"
    uris: set[str] | None
    if base == "AllProperties":
        uris = None
    elif base == "Default":
        uris = set(DEFAULT_URIS)
    else:
        uris = {"item:ItemId"}
    extended: list[tuple[str, etree._Element]] = []
    additional = node.find(t("AdditionalProperties"))
    if additional is not None:
        for uri in additional:
            local = etree.QName(uri).localname
            if local == "ExtendedFieldURI":
                extended.append((extended_key(uri), uri))
            elif uris is not None and uri.get("FieldURI"):
                # Indexed paths name one part ("contacts:PhysicalAddress:Street"); we answer with the whole entry.
                field_uri = uri.get("FieldURI")
                uris.add("contacts:PhysicalAddress" if field_uri.startswith("contacts:PhysicalAddress:") else field_uri)
    return Shape(uris=frozenset(uris) if uris is not None else None, extended=extended,
                 body_type=node.findtext(t("BodyType")) or "Best")
