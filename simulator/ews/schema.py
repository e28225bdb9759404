"""Microsoft's EWS schema (`xsd/`, see xsd/SOURCE.md) loaded once into lxml, for strict mode and the tests."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from lxml import etree

_HERE = Path(__file__).resolve().parent
# The schema travels with the simulator; the variable points elsewhere (another schema generation, say).
SCHEMA_DIR = Path(os.environ.get("SIMULATOR_EWS_SCHEMA_DIR", _HERE / "xsd"))

_lock = threading.Lock()
_schema: etree.XMLSchema | None = None
_T = "http://schemas.microsoft.com/exchange/services/2006/types"
# Well-known folders Exchange Online accepts that the 2016 schema's DistinguishedFolderIdNameType does not list yet
# (exchangelib asks for them when it discovers the folder tree).
NEWER_DISTINGUISHED_FOLDERS = frozenset({
    "allcategorizeditems", "allcontacts", "allitems", "allpersonmetadata", "companycontacts", "dlppolicyevaluation",
    "fromfavoritesenders", "inference", "onenotepagepreviews", "peoplecentricconversationbuddies",
    "qedcdefaultretention", "qedclongretention", "qedcmediumretention", "qedcshortretention", "quarantinedemail",
    "quarantinedemaildefaultcategory", "recoverableitemssubstrateholds", "relevantcontacts",
    "sharepointnotifications", "shortnotes", "temporarysaves", "usercuratedcontacts",
})


class SchemaMissing(FileNotFoundError):
    """Strict mode was asked for but a schema file is not where it should be."""


class _LocalSchemas(etree.Resolver):
    """Serve types.xsd with an import of the XML namespace (types.xsd uses xml:lang without importing it)."""

    def __init__(self, types_xsd: bytes) -> None:
        super().__init__()
        self._types = types_xsd

    def resolve(self, url: str, pubid: str | None, context: object) -> object:
        if url.endswith("types.xsd"):
            return self.resolve_string(self._types, context)
        return None


def schema() -> etree.XMLSchema:
    """Return the compiled messages.xsd (+ types.xsd) schema, loading it on first use (~0.2 s)."""
    global _schema
    with _lock:
        if _schema is None:
            for needed in (SCHEMA_DIR / "messages.xsd", SCHEMA_DIR / "types.xsd"):
                if not needed.is_file():
                    raise SchemaMissing(f"strict mode needs Microsoft's EWS schema, and {needed} is missing "
                                        "(SIMULATOR_EWS_SCHEMA_DIR names the directory holding messages.xsd and "
                                        "types.xsd; --lenient serves without validating)")
            types = etree.parse(str(SCHEMA_DIR / "types.xsd"))
            types.getroot().insert(0, etree.Element(
                "{http://www.w3.org/2001/XMLSchema}import",
                namespace="http://www.w3.org/XML/1998/namespace", schemaLocation=(_HERE / "xsd" / "xml.xsd").as_uri()))
            parser = etree.XMLParser()
            parser.resolvers.add(_LocalSchemas(etree.tostring(types)))
            _schema = etree.XMLSchema(etree.parse(str(SCHEMA_DIR / "messages.xsd"), parser))
        return _schema


def violation(element: etree._Element) -> tuple[int, int, str] | None:
    """Return (line, column, message) of the first schema violation in `element`, or None if it is valid."""
    checker = schema()
    newer = [n for n in element.iter(f"{{{_T}}}DistinguishedFolderId") if n.get("Id") in NEWER_DISTINGUISHED_FOLDERS]
    if newer:
        # Validate the rest of the request as Exchange Online would: these names are valid there.
        element = etree.fromstring(etree.tostring(element))
        for node in element.iter(f"{{{_T}}}DistinguishedFolderId"):
            if node.get("Id") in NEWER_DISTINGUISHED_FOLDERS:
                node.set("Id", "inbox")
    if checker.validate(element):
        return None
    error = checker.error_log[0]
    return error.line, error.column, error.message
