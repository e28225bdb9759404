"""Graph calendar routes (see __init__.py for the layout and wire.py for the handler contract).

Events of the default calendar (``/events``, ``/calendar/events``) or of any calendar folder
(``/calendars/{id}/events``): list, create (``transactionId`` makes a retried create answer the event it already
made), get, update, delete; ``/events/{id}/instances``; ``/calendarView`` and ``/calendarView/delta`` (occurrences,
exceptions and single events in a window, never series masters). An occurrence is addressed by its own id:
PATCH turns it into an exception, DELETE (or ``/cancel``) cancels it, as in Exchange.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from simulator.mailstore import Folder

from . import calendar_delta, delta, event_fields, extended, ids
from .event_ids import calendar_event, event_id, instance_id, removed_id
from .event_instances import Instance, in_window, instances_of, occurrence, of_item, parse_z, z
from .event_times import output_zone, window
from .wire import GraphError, GraphRequest, Response, Route, empty_response, invalid_request, json_response, route

ROUTES: list[Route] = []

READ = ("Calendars.ReadWrite", "Calendars.Read")
WRITE = ("Calendars.ReadWrite",)
DEFAULT_PAGE = 10  # Graph's page size for events when the client does not ask for one
MAX_PAGE = 1000
DELTA_KIND = "calendarView"
# Where the events of a calendar live: the default calendar, or a calendar folder named by its Graph id.
_CAL = r"(?:/calendar|/calendars/(?P<calendar>[^/]+))?"
_ID = r"(?P<id>[^/]+)"
_BODY_TYPE = re.compile(r'outlook\.body-content-type\s*=\s*"?(text|html)"?', re.IGNORECASE)
_FILTERS = (
    (re.compile(r"^transactionId eq '(?P<value>(?:[^']|'')*)'$", re.IGNORECASE),
     lambda item, m: item.fields.get("transaction_id") == m["value"].replace("''", "'")),
    (re.compile(r"^iCalUId eq '(?P<value>(?:[^']|'')*)'$", re.IGNORECASE),
     lambda item, m: item.fields.get("uid") == m["value"].replace("''", "'")),
)


# --- shared pieces ---------------------------------------------------------------------------------------------
def _calendar(request: GraphRequest, match: re.Match[str]) -> Folder:
    calendar_id = match.groupdict().get("calendar")
    if calendar_id is None:
        return request.world.mailstore.folder(request.address, "calendar")
    folder = ids.find_folder(request.world, request.address, calendar_id)
    if folder.folder_class != "IPF.Appointment":
        raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    return folder


def _event(request: GraphRequest, match: re.Match[str]) -> Instance:
    instance = calendar_event(request, match["id"])
    if match.groupdict().get("calendar") is not None and instance.item.folder_id != _calendar(request, match).id:
        raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    return instance


@dataclass(frozen=True, slots=True)
class _Shape:
    """How this request wants events: zone for times, extended properties, body format, ``$select``."""

    zone_label: str
    zone: ZoneInfo
    expand: list[str] | None
    body_type: str
    select: str | None


def _shape(request: GraphRequest) -> _Shape:
    """Read once per request, before any event is rendered, so a bad ``$expand`` is a 400 even for an empty list."""
    label, zone = output_zone(request.prefer)
    return _Shape(label, zone, extended.expanded_keys(request.query.get("$expand")), _body_type(request),
                  request.query.get("$select"))


def _render(request: GraphRequest, instance: Instance, shape: _Shape | None = None) -> dict[str, Any]:
    shape = shape or _shape(request)
    mailbox = request.world.mailstore.mailbox(request.address)
    master = instance_id(instance.item, None, request.prefer.immutable_ids) if instance.original else None
    how = event_fields.Rendering(mailbox.address, mailbox.display_name, shape.zone_label, shape.zone,
                                 event_id(request, instance), master, shape.expand, shape.body_type)
    return event_fields.select(event_fields.to_graph(instance, how), shape.select)


def _body_type(request: GraphRequest) -> str:
    """``Prefer: outlook.body-content-type="text"|"html"`` (echoed when honoured); HTML without it, as Graph."""
    get_all = getattr(request.headers, "get_all", None)
    values = list(get_all("Prefer") or []) if get_all else [request.headers.get("Prefer") or ""]
    for value in values:
        found = _BODY_TYPE.search(value)
        if found:
            wanted = found[1].lower()
            applied = f'outlook.body-content-type="{wanted}"'
            if applied not in request.prefer.applied:
                request.prefer.applied.append(applied)
            return wanted
    return "html"


def _context(request: GraphRequest, what: str) -> str:
    return f"{request.base_url}/v1.0/$metadata#users('{request.address}')/{what}"


def _page_size(request: GraphRequest) -> int:
    size = request.prefer.max_page_size or DEFAULT_PAGE
    top = request.query.get("$top")
    if top is not None:
        if not top.isdigit():
            raise invalid_request(f"The value '{top}' of the query option '$top' is invalid.")
        size = int(top)
    return max(1, min(size, MAX_PAGE))


def _skip(request: GraphRequest) -> int:
    skip = request.query.get("$skip", "0")
    if not skip.isdigit():
        raise invalid_request(f"The value '{skip}' of the query option '$skip' is invalid.")
    return int(skip)


def _paged(request: GraphRequest, instances: list[Instance], what: str) -> Response:
    """One page of a collection by ``$skip`` (only that page rendered); ``@odata.nextLink`` repeats the query with
    the next ``$skip``. The endpoint echoes ``request.prefer.applied`` in Preference-Applied."""
    skip, size, shape = _skip(request), _page_size(request), _shape(request)
    body: dict[str, Any] = {"@odata.context": _context(request, what),
                            "value": [_render(request, i, shape) for i in instances[skip:skip + size]]}
    if skip + size < len(instances):
        query = {k: v for k, v in request.query.items() if k != "$skip"}
        query["$skip"] = str(skip + size)
        body["@odata.nextLink"] = request.url(request.path, urlencode(query, safe="$,'()=: /"))
    return json_response(200, body)


def _meeting_mail(request: GraphRequest, fields: dict[str, Any], properties: dict[str, Any], what: str) -> None:
    """Exchange sends the organizer's attendees a request, update or cancellation; the outbound log records it
    in the same shape as the EWS side (ews/operations/sending.record_meeting_mail)."""
    if not fields.get("attendees"):
        return
    organizer = fields.get("organizer")
    if organizer and organizer["email"].lower() != request.address.lower():
        return  # an attendee's copy: only the organizer's changes reach the attendees
    prefix = {"request": "", "update": "Updated: ", "cancellation": "Canceled: "}[what]
    request.world.mailstore.record_sent(request.address, {
        "to": [{"email": a["email"], "name": a.get("name") or a["email"]} for a in fields["attendees"]],
        "subject": prefix + fields.get("subject", ""), "body": fields.get("body", ""),
        "body_type": fields.get("body_type", "Text"), "meeting": what, "uid": fields.get("uid"),
    }, properties)


# --- events ----------------------------------------------------------------------------------------------------
@route("GET", _CAL + r"/events", READ)
def list_events(request: GraphRequest, match: re.Match[str]) -> Response:
    """Single events and series masters of a calendar (no expansion), optionally filtered, paged by ``$skip``."""
    folder = _calendar(request, match)
    items = [item for item in folder.items.values() if item.kind == "event"]
    wanted = request.query.get("$filter")
    condition = extended.any_filter(wanted) if wanted else None
    if condition is not None:
        items = [item for item in items if extended.matches(item, condition)]
    elif wanted:
        for pattern, test in _FILTERS:
            found = pattern.match(wanted.strip())
            if found:
                items = [item for item in items if test(item, found)]
                break
        else:
            raise GraphError(400, "BadRequest", f"Invalid filter clause: {wanted}")
    return _paged(request, [of_item(item) for item in items], "events")


@route("POST", _CAL + r"/events", WRITE)
def create_event(request: GraphRequest, match: re.Match[str]) -> Response:
    """Create an event (201). A transactionId already used in this mailbox answers the event it created."""
    folder = _calendar(request, match)
    fields, _, properties = event_fields.from_graph(request.body)
    store = request.world.mailstore
    transaction = fields.get("transaction_id")
    if transaction:
        for candidate in store.mailbox(request.address).folders.values():
            for item in candidate.items.values():
                if (item.kind == "event" and candidate.folder_class == "IPF.Appointment"
                        and item.fields.get("transaction_id") == transaction):
                    return json_response(201, {"@odata.context": _context(request, "events/$entity"),
                                               **_render(request, of_item(item))})
    if fields.get("attendees"):
        fields["invitations_sent"] = True
        _meeting_mail(request, fields, properties, "request")
    created = store.create_item(request.address, folder.id, "event", fields, properties)
    return json_response(201, {"@odata.context": _context(request, "events/$entity"),
                               **_render(request, of_item(created))})


@route("GET", _CAL + r"/events/" + _ID, READ)
def get_event(request: GraphRequest, match: re.Match[str]) -> Response:
    """One event, series master (with its recurrence) or occurrence."""
    return json_response(200, {"@odata.context": _context(request, "events/$entity"),
                               **_render(request, _event(request, match))})


@route("PATCH", _CAL + r"/events/" + _ID, WRITE)
def update_event(request: GraphRequest, match: re.Match[str]) -> Response:
    """Change an event; on an occurrence the change makes (or extends) an exception of its series."""
    instance = _event(request, match)
    store, item = request.world.mailstore, instance.item
    if instance.original is None:
        fields, deleted, properties = event_fields.from_graph(request.body, item.fields)
        if "recurrence" in fields or "recurrence" in deleted:
            # A new pattern replaces the series: Exchange drops its exceptions and cancelled occurrences.
            fields.update({"modified_occurrences": {}, "deleted_occurrences": []})
        item = store.update_item(request.address, item.id, fields, deleted, properties)
        updated = of_item(item)
    else:
        if isinstance(request.body, dict) and ("recurrence" in request.body
                                               or "singleValueExtendedProperties" in request.body):
            raise invalid_request("An occurrence of a series cannot change the recurrence or extended properties; "
                                  "change the series master.")
        current = {**instance.fields, "start": z(instance.start), "end": z(instance.end)}
        fields, _, _ = event_fields.from_graph(request.body, current)
        key = z(instance.original)
        modified = {k: dict(v) for k, v in (item.fields.get("modified_occurrences") or {}).items()}
        modified.setdefault(key, {}).update(fields)
        item = store.update_item(request.address, item.id, {"modified_occurrences": modified})
        updated = occurrence(item, instance.original) or instance
    _meeting_mail(request, updated.fields, item.extended, "update")
    return json_response(200, {"@odata.context": _context(request, "events/$entity"), **_render(request, updated)})


@route("DELETE", _CAL + r"/events/" + _ID, WRITE)
def delete_event(request: GraphRequest, match: re.Match[str]) -> Response:
    """Delete an event (it goes to Deleted Items) or cancel one occurrence of a series (204)."""
    instance = _event(request, match)
    _meeting_mail(request, instance.fields, instance.item.extended, "cancellation")
    _remove(request, instance)
    return empty_response(204)


@route("POST", _CAL + r"/events/" + _ID + r"/cancel", WRITE)
def cancel_event(request: GraphRequest, match: re.Match[str]) -> Response:
    """The organizer cancels a meeting or one occurrence: attendees get the cancellation (with the comment), the
    event goes to Deleted Items (an occurrence is cancelled in its series); 202 (event-cancel.md)."""
    instance = _event(request, match)
    organizer = instance.fields.get("organizer")
    if organizer and organizer["email"].lower() != request.address.lower():
        raise invalid_request("Your request can't be completed. You need to be an organizer to cancel a meeting.")
    body = request.body if isinstance(request.body, dict) else {}
    comment = next((v for k, v in body.items() if k.lower() == "comment"), None)
    if comment is not None and not isinstance(comment, str):
        raise invalid_request("The 'Comment' parameter must be a string.")
    fields = {**instance.fields, "body": comment, "body_type": "Text"} if comment else instance.fields
    _meeting_mail(request, fields, instance.item.extended, "cancellation")
    if instance.original is None:
        request.world.mailstore.update_item(request.address, instance.item.id, {"is_cancelled": True})
    _remove(request, instance)
    return empty_response(202)


def _remove(request: GraphRequest, instance: Instance) -> None:
    """An occurrence leaves its series (listed as deleted); an event moves to Deleted Items, as in Outlook."""
    store, item = request.world.mailstore, instance.item
    if instance.original is not None:
        key = z(instance.original)
        modified = dict(item.fields.get("modified_occurrences") or {})
        modified.pop(key, None)
        store.update_item(request.address, item.id, {
            "deleted_occurrences": [*(item.fields.get("deleted_occurrences") or []), key],
            "modified_occurrences": modified})
    else:
        store.move_item(request.address, item.id, store.folder(request.address, "deleteditems").id)


@route("GET", _CAL + r"/events/" + _ID + r"/instances", READ)
def list_instances(request: GraphRequest, match: re.Match[str]) -> Response:
    """The occurrences and exceptions of a series in a window (an event that is not a series has none)."""
    start, end = window(request.query)
    instance = _event(request, match)
    found = instances_of(instance.item, start, end) if instance.original is None else []
    return _paged(request, found, "events")


# --- calendar view and its delta -------------------------------------------------------------------------------
@route("GET", _CAL + r"/calendarView", READ)
def calendar_view(request: GraphRequest, match: re.Match[str]) -> Response:
    """Single events, occurrences and exceptions overlapping the window, by start."""
    start, end = window(request.query)
    found = in_window(_calendar(request, match).items.values(), start, end)
    return _paged(request, found, "calendarView")


@route("GET", _CAL + r"/calendarView/delta(?:\(\))?", READ)
def calendar_view_delta(request: GraphRequest, match: re.Match[str]) -> Response:
    """A page of what changed in the window since the token (everything in it on the first call of a round)."""
    folder = _calendar(request, match)
    token = delta.from_query(request, DELTA_KIND, folder.id)
    states = calendar_delta.registry(request.world)
    if token is None:
        start, end = window(request.query)
        round_id = states.start_round(request.address, {}, in_window(folder.items.values(), start, end))
        return _delta_page(request, folder, (start, end), round_id, 0, folder.last_seq)
    # The window travels in the token (delta-query-events.md: the tokens encode startDateTime and endDateTime);
    # dates sent again with a token are ignored, so the window stays what the round started with.
    start, end = (parse_z(text) for text in token.extra["w"])
    if "r" in token.extra:  # $skiptoken: the next page of a round
        return _delta_page(request, folder, (start, end), int(token.extra["r"]), int(token.extra["o"]), token.seq)
    if folder.last_seq == token.seq:  # nothing changed in the calendar since: no items, the same deltaLink
        return json_response(200, {"@odata.context": _context(request, "calendarView"), "value": [],
                                   **delta.links(request, token, done=True)})
    previous = states.snapshot(request.address, int(token.extra["s"]))
    if previous is None:
        raise delta.sync_state_not_found(token.generation, request.world.mailstore.mailbox(request.address)
                                         .delta_generation)
    round_id = states.start_round(request.address, previous, in_window(folder.items.values(), start, end))
    return _delta_page(request, folder, (start, end), round_id, 0, folder.last_seq)


def _delta_page(request: GraphRequest, folder: Folder, bounds: tuple[datetime, datetime], round_id: int,
                offset: int, seq: int) -> Response:
    states = calendar_delta.registry(request.world)
    found = states.round(request.address, round_id)
    if found is None:
        mailbox = request.world.mailstore.mailbox(request.address)
        raise delta.sync_state_not_found(mailbox.delta_generation, mailbox.delta_generation)
    size = min(request.prefer.max_page_size or DEFAULT_PAGE, MAX_PAGE)
    page = found.entries[offset:offset + size]
    series: dict[str, dict[str, Instance]] = {}  # each series on the page is expanded once, over the window
    shape = _shape(request)
    values = [_delta_entry(request, folder, bounds, series, shape, entry) for entry in page]
    done = offset + size >= len(found.entries)
    extra: dict[str, Any] = {"w": [z(bounds[0]), z(bounds[1])]}
    extra.update({"s": found.snapshot_id} if done else {"r": round_id, "o": offset + size})
    body = {"@odata.context": _context(request, "calendarView"), "value": values,
            **delta.links(request, delta.DeltaToken(DELTA_KIND, folder.id, seq, extra), done)}
    return json_response(200, body)


def _delta_entry(request: GraphRequest, folder: Folder, bounds: tuple[datetime, datetime],
                 series: dict[str, dict[str, Instance]], shape: _Shape, entry: calendar_delta.Entry
                 ) -> dict[str, Any]:
    """The instance as it is now, or ``@removed`` when it is gone (or left the window since the round began)."""
    item_id, original_key = entry.key
    item = folder.items.get(item_id)
    if not entry.removed and item is not None:
        if original_key:
            if item_id not in series:
                series[item_id] = {i.key[1]: i for i in instances_of(item, *bounds)}
            instance = series[item_id].get(original_key)
        else:
            instance = of_item(item)
        if instance is not None:
            return {"@odata.type": "#microsoft.graph.event", **_render(request, instance, shape)}
    gone = removed_id(item_id, entry.immutable_id, original_key, request.prefer.immutable_ids)
    return {"@odata.type": "#microsoft.graph.event", "id": gone, "@removed": {"reason": "deleted"}}
