"""SOAP envelopes, response messages and faults in the shape Exchange Online writes them (lxml, no templates)."""

from __future__ import annotations

from collections.abc import Iterable

from lxml import etree

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
E = "http://schemas.microsoft.com/exchange/services/2006/errors"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NSMAP = {"m": M, "t": T}

# What Exchange Online reports in every response header (exchangelib maps the "V2018_01_08" alias itself).
SERVER_VERSION = {"MajorVersion": "15", "MinorVersion": "20", "MajorBuildNumber": "8792", "MinorBuildNumber": "32",
                  "Version": "V2018_01_08"}

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=True)


class SoapFault(Exception):
    """An error answered as an HTTP 500 SOAP Fault rather than a response message (EWS's request-level errors)."""

    def __init__(self, code: str, message: str, values: dict[str, str] | None = None,
                 schema_violation: tuple[int, int, str] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.values, self.schema_violation = code, message, values or {}, schema_violation


def parse(body: bytes) -> etree._Element:
    """Parse a request body; raise etree.XMLSyntaxError for a body that is not XML."""
    return etree.fromstring(body, _PARSER)


def m(tag: str) -> str:
    return f"{{{M}}}{tag}"


def t(tag: str) -> str:
    return f"{{{T}}}{tag}"


def sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    """Append a child element (qualified tag) with optional text and attributes."""
    child = etree.SubElement(parent, tag, attrs) if attrs else etree.SubElement(parent, tag)
    if text is not None:
        child.text = text
    return child


def response_root(operation: str) -> tuple[etree._Element, etree._Element]:
    """Return the <m:{operation}Response> element and its <m:ResponseMessages> container."""
    root = etree.Element(m(f"{operation}Response"), nsmap=NSMAP)
    return root, etree.SubElement(root, m("ResponseMessages"))


def response_message(messages: etree._Element, operation: str, code: str = "NoError", text: str | None = None,
                     response_class: str | None = None) -> etree._Element:
    """Append one <m:{operation}ResponseMessage> with its class, code and (for errors) text."""
    if response_class is None:
        response_class = "Success" if code == "NoError" else "Error"
    message = etree.SubElement(messages, m(f"{operation}ResponseMessage"), ResponseClass=response_class)
    if text is not None:
        sub(message, m("MessageText"), text)
    sub(message, m("ResponseCode"), code)
    if code != "NoError":
        sub(message, m("DescriptiveLinkKey"), "0")
    return message


def envelope(body_element: etree._Element) -> bytes:
    """Wrap a response element in an envelope with Exchange Online's ServerVersionInfo header."""
    env = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"s": SOAP})
    header = etree.SubElement(env, f"{{{SOAP}}}Header")
    etree.SubElement(header, f"{{{T}}}ServerVersionInfo", SERVER_VERSION, nsmap={"h": T})
    body = etree.SubElement(env, f"{{{SOAP}}}Body", nsmap={"xsi": XSI, "xsd": "http://www.w3.org/2001/XMLSchema"})
    body.append(body_element)
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def fault_envelope(fault: SoapFault) -> bytes:
    """Render a SoapFault as Exchange Online does (faultcode in the types namespace, details in errors/types)."""
    env = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"s": SOAP})
    body = etree.SubElement(env, f"{{{SOAP}}}Body")
    node = etree.SubElement(body, f"{{{SOAP}}}Fault")
    code = etree.SubElement(node, "faultcode", nsmap={"a": T})
    code.text = f"a:{fault.code}"
    text = etree.SubElement(node, "faultstring")
    text.set("{http://www.w3.org/XML/1998/namespace}lang", "en-US")
    text.text = fault.message
    detail = etree.SubElement(node, "detail")
    etree.SubElement(detail, f"{{{E}}}ResponseCode", nsmap={"e": E}).text = fault.code
    etree.SubElement(detail, f"{{{E}}}Message", nsmap={"e": E}).text = fault.message
    if fault.values or fault.schema_violation:
        xml = etree.SubElement(detail, t("MessageXml"), nsmap={"t": T})
        if fault.schema_violation:
            line, position, violation = fault.schema_violation
            sub(xml, t("LineNumber"), str(line))
            sub(xml, t("LinePosition"), str(position))
            sub(xml, t("Violation"), violation)
        for name, value in fault.values.items():
            sub(xml, t("Value"), value, Name=name)
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def texts(elements: Iterable[etree._Element]) -> list[str]:
    """Return the text of each element ("" for empty ones)."""
    return [e.text or "" for e in elements]
