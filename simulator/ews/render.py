"""Store items -> EWS item elements (Contact, CalendarItem, Message), requested properties only, in schema order."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lxml import etree

from simulator.mailstore import Item
from simulator.mailstore.records import ITEM_CLASSES

from .render_calendar import render_calendar
from .shape import Shape
from .soap import sub, t
from .values import format_instant, is_array_type

ELEMENT_OF_KIND = {"contact": "Contact", "event": "CalendarItem", "message": "Message"}
# store phone key <-> EWS PhoneNumberKeyType; unknown EWS keys are stored under their own name.
PHONE_KEYS = {"business": "BusinessPhone", "business2": "BusinessPhone2", "home": "HomePhone", "home2": "HomePhone2",
              "mobile": "MobilePhone", "business_fax": "BusinessFax", "home_fax": "HomeFax", "other": "OtherTelephone",
              "pager": "Pager", "assistant": "AssistantPhone", "car": "CarPhone", "company_main": "CompanyMainPhone"}
PHONE_FIELDS = {v: k for k, v in PHONE_KEYS.items()}
ADDRESS_KEYS = {"business": "Business", "home": "Home", "other": "Other"}
ADDRESS_PARTS = (("Street", "street"), ("City", "city"), ("State", "state"), ("CountryOrRegion", "country"),
                 ("PostalCode", "postal_code"))
_TAGS = re.compile(r"<[^>]+>")


@dataclass(slots=True)
class View:
    """What to render: an item, or one occurrence of a series (then `occurrence` carries its own id and times)."""

    item: Item
    fields: dict[str, Any]
    owner_name: str
    owner_address: str
    item_id: str
    calendar_type: str = "Single"
    original_start: datetime | None = None
    start: str | None = None
    end: str | None = None


def view_of(item: Item, owner_name: str, owner_address: str) -> View:
    """Return the View of a stored item."""
    calendar_type = "RecurringMaster" if item.kind == "event" and item.fields.get("recurrence") else "Single"
    return View(item, item.fields, owner_name, owner_address, item.id, calendar_type)


def _text(parent: etree._Element, name: str, value: Any) -> None:
    if isinstance(value, bool):
        value = "true" if value else "false"
    sub(parent, t(name), str(value))


def _mailbox(parent: etree._Element, person: dict[str, str], tag: str = "Mailbox") -> etree._Element:
    node = sub(parent, t(tag))
    sub(node, t("Name"), person.get("name") or person["email"])
    sub(node, t("EmailAddress"), person["email"])
    sub(node, t("RoutingType"), "SMTP")
    return node


def _body(view: View) -> tuple[str, str]:
    if view.item.kind == "contact":
        return view.fields.get("notes", ""), "Text"
    return view.fields.get("body", ""), view.fields.get("body_type", "Text")


def _render_body(parent: etree._Element, view: View, shape: Shape) -> None:
    text, kind = _body(view)
    if shape.body_type == "Text" and kind == "HTML":
        text, kind = _TAGS.sub("", text), "Text"
    elif shape.body_type == "HTML" and kind == "Text":
        text, kind = f"<html><body>{text}</body></html>" if text else "", "HTML"
    sub(parent, t("Body"), text, BodyType=kind)


def _subject(view: View) -> str:
    if view.item.kind == "contact":
        return view.fields.get("subject") or view.fields.get("file_as") or view.fields.get("display_name", "")
    return view.fields.get("subject", "")


def _display(people: list[dict[str, str]]) -> str:
    return "; ".join(p.get("name") or p["email"] for p in people)


def _recipients_of(view: View, kind: str) -> list[dict[str, str]]:
    if view.item.kind == "message":
        return view.fields.get(kind, [])
    wanted = {"to": "required", "cc": "optional"}.get(kind)
    return [a for a in view.fields.get("attendees", []) if a.get("type", "required") == wanted]


Renderer = Callable[[etree._Element, View, Shape], None]


def render_attachments(parent: etree._Element, attachments: list[dict[str, Any]], *, ids_only: bool = False,
                       with_content: bool = False, root: Any = None, tag: str | None = None) -> etree._Element:
    """Append an Attachments element: ids only (CreateItem), metadata (GetItem) or with content (GetAttachment).

    ``root`` (the parent item) adds RootItemId / RootItemChangeKey to each id, as CreateAttachment answers.
    """
    holder = sub(parent, tag or t("Attachments"))
    for record in attachments:
        node = sub(holder, t("FileAttachment"))
        root_attrs = {"RootItemId": root.id, "RootItemChangeKey": root.change_key} if root is not None else {}
        sub(node, t("AttachmentId"), Id=record["id"], **root_attrs)
        if ids_only:
            continue
        sub(node, t("Name"), record["name"])
        sub(node, t("ContentType"), record["content_type"])
        if record.get("content_id"):
            sub(node, t("ContentId"), record["content_id"])
        sub(node, t("Size"), str(record["size"]))
        sub(node, t("LastModifiedTime"), record["last_modified"])
        sub(node, t("IsInline"), "true" if record.get("is_inline") else "false")
        sub(node, t("IsContactPhoto"), "false")
        if with_content:
            sub(node, t("Content"), record["content"])
    return holder


def _common_head(node: etree._Element, view: View, shape: Shape) -> None:
    item, fields = view.item, view.fields
    if shape.wants("item:ItemClass"):
        _text(node, "ItemClass", ITEM_CLASSES[item.kind])
    if shape.wants("item:Subject"):
        _text(node, "Subject", _subject(view))
    if shape.wants("item:Sensitivity"):
        _text(node, "Sensitivity", fields.get("sensitivity", "Normal"))
    if shape.wants("item:Body"):
        _render_body(node, view, shape)
    if shape.wants("item:Attachments") and fields.get("attachments"):
        render_attachments(node, fields["attachments"])
    if shape.wants("item:DateTimeReceived"):
        _text(node, "DateTimeReceived", fields.get("sent_at") or format_instant(item.created))
    if shape.wants("item:Size"):
        attached = sum(a["size"] for a in fields.get("attachments") or [])
        _text(node, "Size", 512 + len(_body(view)[0]) + len(_subject(view)) + attached)
    if shape.wants("item:Categories") and fields.get("categories"):
        categories = sub(node, t("Categories"))
        for name in fields["categories"]:
            sub(categories, t("String"), name)
    if shape.wants("item:Importance"):
        _text(node, "Importance", fields.get("importance", "Normal"))
    for uri, name, value in (("item:IsSubmitted", "IsSubmitted", bool(fields.get("sent_at"))),
                             ("item:IsDraft", "IsDraft", bool(fields.get("is_draft", False))),
                             ("item:IsFromMe", "IsFromMe", False), ("item:IsResend", "IsResend", False),
                             ("item:IsUnmodified", "IsUnmodified", item.version == 1)):
        if shape.wants(uri):
            _text(node, name, value)
    if shape.wants("item:DateTimeSent"):
        _text(node, "DateTimeSent", fields.get("sent_at") or format_instant(item.created))
    if shape.wants("item:DateTimeCreated"):
        _text(node, "DateTimeCreated", format_instant(item.created))
    if item.kind == "event":
        reminder = fields.get("reminder_minutes", 15)
        if shape.wants("item:ReminderDueBy") and view.start:
            _text(node, "ReminderDueBy", view.start)
        if shape.wants("item:ReminderIsSet"):
            _text(node, "ReminderIsSet", fields.get("reminder_is_set", True))
        if shape.wants("item:ReminderMinutesBeforeStart"):
            _text(node, "ReminderMinutesBeforeStart", reminder)
    elif shape.wants("item:ReminderIsSet"):
        _text(node, "ReminderIsSet", False)
    if item.kind != "contact":
        if shape.wants("item:DisplayCc"):
            _text(node, "DisplayCc", _display(_recipients_of(view, "cc")))
        if shape.wants("item:DisplayTo"):
            _text(node, "DisplayTo", _display(_recipients_of(view, "to")))
    if shape.wants("item:HasAttachments"):
        _text(node, "HasAttachments", any(not a.get("is_inline") for a in fields.get("attachments") or []))
    for key, uri in shape.extended:
        if key in item.extended:
            _extended(node, uri, item.extended[key], key)


def _extended(parent: etree._Element, uri: etree._Element, value: Any, key: str) -> None:
    node = sub(parent, t("ExtendedProperty"))
    sub(node, t("ExtendedFieldURI"), **dict(uri.attrib))
    if is_array_type(key):
        values = sub(node, t("Values"))
        for entry in value:
            sub(values, t("Value"), str(entry))
    else:
        sub(node, t("Value"), str(value))


def _common_tail(node: etree._Element, view: View, shape: Shape) -> None:
    item = view.item
    if shape.wants("item:Culture"):
        _text(node, "Culture", "en-US")
    if shape.wants("item:EffectiveRights"):
        rights = sub(node, t("EffectiveRights"))
        for name, value in (("CreateAssociated", False), ("CreateContents", False), ("CreateHierarchy", False),
                            ("Delete", True), ("Modify", True), ("Read", True), ("ViewPrivateItems", True)):
            _text(rights, name, value)
    if shape.wants("item:LastModifiedName"):
        _text(node, "LastModifiedName", view.owner_name)
    if shape.wants("item:LastModifiedTime"):
        _text(node, "LastModifiedTime", format_instant(item.modified))
    if shape.wants("item:IsAssociated"):
        _text(node, "IsAssociated", False)
    if shape.wants("item:TextBody"):
        text, kind = _body(view)
        sub(node, t("TextBody"), _TAGS.sub("", text) if kind == "HTML" else text, BodyType="Text")


def _contact(node: etree._Element, view: View, shape: Shape) -> None:
    fields = view.fields
    simple = (("contacts:FileAs", "FileAs", fields.get("file_as") or fields.get("display_name", "")),
              ("contacts:DisplayName", "DisplayName", fields.get("display_name", "")),
              ("contacts:GivenName", "GivenName", fields.get("given_name")),
              ("contacts:Initials", "Initials", fields.get("initials")),
              ("contacts:MiddleName", "MiddleName", fields.get("middle_name")),
              ("contacts:Nickname", "Nickname", fields.get("nickname")))
    for uri, name, value in simple:
        if value is not None and shape.wants(uri):
            _text(node, name, value)
    if shape.wants("contacts:CompleteName"):
        complete = sub(node, t("CompleteName"))
        for name, key in (("FirstName", "given_name"), ("MiddleName", "middle_name"), ("LastName", "surname"),
                          ("Initials", "initials"), ("FullName", "display_name"), ("Nickname", "nickname")):
            if fields.get(key):
                _text(complete, name, fields[key])
    if fields.get("company_name") is not None and shape.wants("contacts:CompanyName"):
        _text(node, "CompanyName", fields["company_name"])
    emails = [(n, fields[f"email{n}"]) for n in (1, 2, 3) if fields.get(f"email{n}")]
    if emails and shape.wants("contacts:EmailAddress"):
        entries = sub(node, t("EmailAddresses"))
        for n, address in emails:
            sub(entries, t("Entry"), address, Key=f"EmailAddress{n}")
    addresses = {k: v for k, v in (fields.get("addresses") or {}).items() if v}
    if addresses and shape.wants("contacts:PhysicalAddress"):
        entries = sub(node, t("PhysicalAddresses"))
        for kind, parts in addresses.items():
            entry = sub(entries, t("Entry"), Key=ADDRESS_KEYS.get(kind, kind))
            for name, key in ADDRESS_PARTS:
                if parts.get(key):
                    _text(entry, name, parts[key])
    phones = {k: v for k, v in (fields.get("phones") or {}).items() if v}
    if phones and shape.wants("contacts:PhoneNumber"):
        entries = sub(node, t("PhoneNumbers"))
        for kind, number in phones.items():
            sub(entries, t("Entry"), number, Key=PHONE_KEYS.get(kind, kind))
    if fields.get("assistant_name") and shape.wants("contacts:AssistantName"):
        _text(node, "AssistantName", fields["assistant_name"])
    if fields.get("birthday") and shape.wants("contacts:Birthday"):
        _text(node, "Birthday", f"{fields['birthday']}T00:00:00Z")
    if fields.get("business_homepage") and shape.wants("contacts:BusinessHomePage"):
        _text(node, "BusinessHomePage", fields["business_homepage"])
    if shape.wants("contacts:ContactSource"):
        _text(node, "ContactSource", "Store")
    for uri, name, key in (("contacts:Department", "Department", "department"),
                           ("contacts:JobTitle", "JobTitle", "job_title"), ("contacts:Manager", "Manager", "manager"),
                           ("contacts:OfficeLocation", "OfficeLocation", "office"),
                           ("contacts:Profession", "Profession", "profession"),
                           ("contacts:SpouseName", "SpouseName", "spouse_name"),
                           ("contacts:Surname", "Surname", "surname")):
        if fields.get(key) is not None and shape.wants(uri):
            _text(node, name, fields[key])
    if shape.wants("contacts:HasPicture"):
        _text(node, "HasPicture", False)
    if fields.get("notes") and shape.wants("contacts:Notes"):
        _text(node, "Notes", fields["notes"])


def _message(node: etree._Element, view: View, shape: Shape) -> None:
    fields = view.fields
    sender = fields.get("from") or {"email": view.owner_address, "name": view.owner_name}
    if shape.wants("message:Sender"):
        _mailbox(sub(node, t("Sender")), sender)
    for uri, name, key in (("message:ToRecipients", "ToRecipients", "to"), ("message:CcRecipients", "CcRecipients", "cc"),
                           ("message:BccRecipients", "BccRecipients", "bcc")):
        if fields.get(key) and shape.wants(uri):
            holder = sub(node, t(name))
            for person in fields[key]:
                _mailbox(holder, person)
    if shape.wants("message:IsReadReceiptRequested"):
        _text(node, "IsReadReceiptRequested", False)
    if shape.wants("message:IsDeliveryReceiptRequested"):
        _text(node, "IsDeliveryReceiptRequested", False)
    if shape.wants("message:ConversationTopic"):
        _text(node, "ConversationTopic", fields.get("subject", ""))
    if shape.wants("message:From"):
        _mailbox(sub(node, t("From")), sender)
    if fields.get("internet_message_id") and shape.wants("message:InternetMessageId"):
        _text(node, "InternetMessageId", fields["internet_message_id"])
    if shape.wants("message:IsRead"):
        _text(node, "IsRead", bool(fields.get("is_read", False)))
    if shape.wants("message:IsResponseRequested"):
        _text(node, "IsResponseRequested", False)
    if fields.get("reply_to") and shape.wants("message:ReplyTo"):
        holder = sub(node, t("ReplyTo"))
        for person in fields["reply_to"]:
            _mailbox(holder, person)


def render_item(parent: etree._Element, view: View, shape: Shape, folder_change_key: str | None = None,
                parent_folder_id: str | None = None) -> etree._Element:
    """Append the item element for a view with the properties the shape asks for."""
    node = sub(parent, t(ELEMENT_OF_KIND[view.item.kind]))
    sub(node, t("ItemId"), Id=view.item_id, ChangeKey=view.item.change_key)
    if parent_folder_id and shape.wants("item:ParentFolderId"):
        sub(node, t("ParentFolderId"), Id=parent_folder_id, ChangeKey=folder_change_key or "")
    _common_head(node, view, shape)
    _common_tail(node, view, shape)
    if view.item.kind == "contact":
        _contact(node, view, shape)
    elif view.item.kind == "event":
        render_calendar(node, view, shape)
    else:
        _message(node, view, shape)
    return node
