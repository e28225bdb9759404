"""Graph mail routes over the store EWS serves: drafts, reads with the extended-property filter, send, sendMail,
attachments and upload sessions (see __init__.py for the layout and wire.py for the handler contract).

A draft sent with ``POST /messages/{id}/send`` moves to Sent Items (an immutable id still finds it there); sending
an id that is no longer a draft is 404 ``ErrorItemNotFound``, so a retried send never delivers twice. Both sends
write the store's outbound log as EWS does (mail_sending.py) and count against the mailbox's send limit.
"""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import unquote

from simulator.mailstore import Item

from . import ids, mail_sending, uploads
from .extended import expanded_keys, parse_filter
from .message_fields import READABLE, parse_file_attachment, parse_message, render_attachment, render_message
from .message_lookup import find_mail_folder, find_message, folder_id, mail_folders, message_id
from .message_order import parse_orderby, sort_value
from .query_options import invalid_query, option, paged, parse_select
from .wire import GraphError, GraphRequest, Response, Route, empty_response, json_response, route

ROUTES: list[Route] = []
# Upload-session URLs (after /api/v2.0): no bearer token, the URL's authtoken authorizes (uploads.py).
UPLOAD_ROUTES: list[Route] = [
    Route(method, re.compile(uploads.SESSION_PATH + "$", re.IGNORECASE), handler, ())
    for method, handler in (("PUT", uploads.put_chunk), ("DELETE", uploads.cancel))]

MAIL = ("Mail.ReadWrite",)  # drafts, attachments (application permission)
READ_MAIL = ("Mail.ReadWrite", "Mail.Read")
SEND = ("Mail.Send",)
_MESSAGE = r"(?P<id>[^/]+)"
_FOLDER = r"(?P<folder>[^/]+)"
_LIST_OPTIONS = frozenset({"$filter", "$select", "$top", "$skip", "$expand", "$orderby", "$count"})
_ITEM_OPTIONS = frozenset({"$select", "$expand"})


# --- helpers -----------------------------------------------------------------------------------------------------
def _context(request: GraphRequest, tail: str) -> str:
    return f"{request.base_url}/v1.0/$metadata#users('{request.address}')/{tail}"


def _refuse_unknown_options(request: GraphRequest, allowed: frozenset[str]) -> None:
    for name in request.query:
        if name.startswith("$") and name.lower() not in allowed:
            raise invalid_query(f"Query option '{name}' is not supported on this resource.")


def _message(request: GraphRequest, match: re.Match[str]) -> Item:
    return find_message(request.world, request.address, unquote(match["id"]))


def _shape(request: GraphRequest) -> dict[str, Any]:
    """The rendering options a request's $select and $expand ask for (parsed before anything is looked up)."""
    selected = option(request, "$select")
    expand = option(request, "$expand")
    if expand is not None and not expand.strip():
        raise invalid_query("$expand is empty; expand singleValueExtendedProperties($filter=id eq '...').")
    return {"select": parse_select(selected, READABLE, "microsoft.graph.message"),
            "extended_keys": expanded_keys(expand)}


def _render(request: GraphRequest, item: Item, shape: dict[str, Any] | None = None) -> dict[str, Any]:
    """A message shaped by the request's $select and $expand."""
    folder = request.world.mailstore.mailbox(request.address).folders[item.folder_id]
    shape = shape or _shape(request)
    graph_id = message_id(request, item)
    rendered = render_message(item, graph_id, folder_id(folder), **shape)
    if shape["extended_keys"] is not None:  # the annotations Graph adds to an expanded message
        rendered["@odata.id"] = f"{request.base_url}/v1.0/users('{request.address}')/messages('{graph_id}')"
        rendered["singleValueExtendedProperties@odata.context"] = _context(
            request, f"messages('{graph_id}')/singleValueExtendedProperties")
    return rendered


def _create(request: GraphRequest, folder_name: str) -> Response:
    folder = find_mail_folder(request, folder_name)
    fields, extended = parse_message(request.body, request.address)
    fields.setdefault("subject", "")
    fields["is_draft"] = True  # Graph creates messages as drafts, whatever folder they are saved in
    fields.setdefault("is_read", True)
    item = request.world.mailstore.create_item(request.address, folder.id, "message", fields, extended)
    return json_response(201, {"@odata.context": _context(request, "messages/$entity"), **_render(request, item)})


def _list(request: GraphRequest, folders: list[Any], context_tail: str, path: str) -> Response:
    _refuse_unknown_options(request, _LIST_OPTIONS)
    shape = _shape(request)
    filter_text = option(request, "$filter")
    wanted = parse_filter(filter_text) if filter_text is not None else None
    sort_key, descending = parse_orderby(option(request, "$orderby"))
    found = [item for folder in folders for item in folder.items.values() if item.kind == "message"
             and (wanted is None or wanted.matches(item))]
    found.sort(key=lambda item: (sort_value(item, sort_key), item.id), reverse=descending)
    page, more = paged(request, found, path=path)
    selected = option(request, "$select")
    if selected is not None:  # Graph names the selection in the context: .../messages(sender,subject)
        context_tail += f"({','.join(name.strip() for name in selected.split(',') if name.strip())})"
    payload: dict[str, Any] = {"@odata.context": _context(request, context_tail),
                               "value": [_render(request, item, shape) for item in page]}
    count = option(request, "$count")
    if count is not None:
        if count.lower() not in ("true", "false"):
            raise invalid_query(f"Invalid value '{count}' for query option $count: expected true or false.")
        if count.lower() == "true":
            payload["@odata.count"] = len(found)
    return json_response(200, {**payload, **more})


# --- drafts and reads --------------------------------------------------------------------------------------------
@route("POST", r"/messages", MAIL)
def create_draft(request: GraphRequest, match: re.Match[str]) -> Response:
    """POST /messages: a draft in Drafts, 201 with the message (its extended properties kept, not echoed)."""
    return _create(request, "drafts")


@route("POST", rf"/mailFolders/{_FOLDER}/messages", MAIL)
def create_in_folder(request: GraphRequest, match: re.Match[str]) -> Response:
    return _create(request, unquote(match["folder"]))


@route("GET", r"/messages", READ_MAIL)
def list_messages(request: GraphRequest, match: re.Match[str]) -> Response:
    """GET /messages: the messages of every mail folder."""
    return _list(request, mail_folders(request), "messages", "/messages")


@route("GET", rf"/mailFolders/{_FOLDER}/messages", READ_MAIL)
def list_folder_messages(request: GraphRequest, match: re.Match[str]) -> Response:
    folder = find_mail_folder(request, unquote(match["folder"]))
    return _list(request, [folder], f"mailFolders('{match['folder']}')/messages",
                 f"/mailFolders/{match['folder']}/messages")


@route("GET", rf"/messages/{_MESSAGE}", READ_MAIL)
def get_message(request: GraphRequest, match: re.Match[str]) -> Response:
    _refuse_unknown_options(request, _ITEM_OPTIONS)
    item = _message(request, match)
    return json_response(200, {"@odata.context": _context(request, "messages/$entity"), **_render(request, item)})


@route("GET", rf"/mailFolders/{_FOLDER}/messages/{_MESSAGE}", READ_MAIL)
def get_folder_message(request: GraphRequest, match: re.Match[str]) -> Response:
    folder = find_mail_folder(request, unquote(match["folder"]))
    if _message(request, match).folder_id != folder.id:
        raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    return get_message(request, match)


@route("PATCH", rf"/messages/{_MESSAGE}", MAIL)
def update_message(request: GraphRequest, match: re.Match[str]) -> Response:
    """PATCH: the properties named change (extended properties are set or replaced by id); 200 with the message."""
    item = _message(request, match)
    fields, extended = parse_message(request.body, request.address, partial=True)
    item = request.world.mailstore.update_item(request.address, item.id, fields, set_extended=extended)
    return json_response(200, {"@odata.context": _context(request, "messages/$entity"), **_render(request, item)})


@route("DELETE", rf"/messages/{_MESSAGE}", MAIL)
def delete_message(request: GraphRequest, match: re.Match[str]) -> Response:
    """DELETE moves the message to Deleted Items as Outlook does; deleting it there removes it for good."""
    item = _message(request, match)
    store = request.world.mailstore
    trash = store.folder(request.address, "deleteditems")
    if item.folder_id == trash.id:
        store.delete_item(request.address, item.id)
    else:
        store.move_item(request.address, item.id, trash.id)
    return empty_response(204)


# --- sending -----------------------------------------------------------------------------------------------------
@route("POST", rf"/messages/{_MESSAGE}/send", SEND)
def send_draft(request: GraphRequest, match: re.Match[str]) -> Response:
    """POST /messages/{id}/send: 202; the draft leaves (outbound log) and moves to Sent Items."""
    item = _message(request, match)
    if not item.fields.get("is_draft"):
        # Already sent (the immutable id now names the copy in Sent Items): there is no draft to send, and a
        # retried send must not deliver twice.
        raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    mail_sending.require_recipients(item.fields)
    mail_sending.take_send_slot(request)
    store = request.world.mailstore
    sent = mail_sending.submitted_fields(request, item.fields)
    mail_sending.record(request, sent, item.extended)
    moved = store.move_item(request.address, item.id, store.folder(request.address, "sentitems").id)
    store.update_item(request.address, moved.id, sent)
    return empty_response(202)


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"  # the docs' own example sends "false" as a string
    raise GraphError(400, "RequestBodyRead", f"{name} must be true or false.")


@route("POST", r"/sendMail", SEND)
def send_mail(request: GraphRequest, match: re.Match[str]) -> Response:
    """POST /sendMail: 202 with no body and no id; a copy in Sent Items unless saveToSentItems is false."""
    if not isinstance(request.body, dict):
        raise GraphError(400, "RequestBodyRead", "The request body must be {\"message\": {...}}.")
    parameters = {key.lower(): value for key, value in request.body.items()}
    unknown = set(parameters) - {"message", "savetosentitems"}
    if unknown:
        raise GraphError(400, "RequestBodyRead", f"The parameter '{sorted(unknown)[0]}' is not a sendMail "
                                                 "parameter (message, saveToSentItems).")
    if not isinstance(parameters.get("message"), dict):
        raise GraphError(400, "ErrorInvalidParameter", "The message parameter is missing or is not a message.")
    save = _flag(parameters.get("savetosentitems", True), "saveToSentItems")
    fields, extended = parse_message(parameters["message"], request.address)
    mail_sending.require_recipients(fields)
    mail_sending.take_send_slot(request)
    sent = mail_sending.submitted_fields(request, fields)
    mail_sending.record(request, sent, extended)
    if save:
        store = request.world.mailstore
        store.create_item(request.address, store.folder(request.address, "sentitems").id, "message", sent, extended)
    return empty_response(202)


# --- attachments -------------------------------------------------------------------------------------------------
def _attachment(request: GraphRequest, item: Item, attachment_id: str) -> dict[str, Any]:
    wanted = ids.ews_id(unquote(attachment_id))
    for record in item.fields.get("attachments") or []:
        if record["id"] == wanted:
            return record
    raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")


def _attachments_context(request: GraphRequest, item: Item) -> str:
    return _context(request, f"messages('{message_id(request, item)}')/attachments")


@route("POST", rf"/messages/{_MESSAGE}/attachments", MAIL)
def add_attachment(request: GraphRequest, match: re.Match[str]) -> Response:
    """A file attachment under 3 MB in one POST (larger: 413, use an upload session); 201 with it."""
    item = _message(request, match)
    record = parse_file_attachment(request.body, request.address)
    request.world.mailstore.add_attachments(request.address, item.id, [record])
    return json_response(201, {"@odata.context": _attachments_context(request, item) + "/$entity",
                               **render_attachment(record)})


@route("GET", rf"/messages/{_MESSAGE}/attachments", READ_MAIL)
def list_attachments(request: GraphRequest, match: re.Match[str]) -> Response:
    item = _message(request, match)
    return json_response(200, {"@odata.context": _attachments_context(request, item),
                               "value": [render_attachment(r) for r in item.fields.get("attachments") or []]})


@route("GET", rf"/messages/{_MESSAGE}/attachments/(?P<attachment>[^/]+)", READ_MAIL)
def get_attachment(request: GraphRequest, match: re.Match[str]) -> Response:
    item = _message(request, match)
    record = _attachment(request, item, match["attachment"])
    return json_response(200, {"@odata.context": _attachments_context(request, item) + "/$entity",
                               **render_attachment(record)})


@route("GET", rf"/messages/{_MESSAGE}/attachments/(?P<attachment>[^/]+)/\$value", READ_MAIL)
def get_attachment_content(request: GraphRequest, match: re.Match[str]) -> Response:
    """The raw bytes of a file attachment (outlook-large-attachments.md, step 4)."""
    record = _attachment(request, _message(request, match), match["attachment"])
    return 200, {"Content-Type": record["content_type"]}, base64.b64decode(record["content"])


@route("POST", rf"/messages/{_MESSAGE}/attachments/createUploadSession", MAIL)
def create_upload_session(request: GraphRequest, match: re.Match[str]) -> Response:
    """201 uploadSession: a pre-authenticated URL for chunked PUTs of a 3-150 MB file (uploads.py)."""
    graph_id = unquote(match["id"])
    find_message(request.world, request.address, graph_id)
    announced = uploads.parse_attachment_item(request.body)
    session = uploads.sessions_of(request.world).open(request.address, graph_id, **announced)
    return json_response(201, uploads.session_json(request.base_url, session))
