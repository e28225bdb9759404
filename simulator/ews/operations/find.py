"""FindItem: restrictions, sort order, indexed paging, and CalendarView expanding series into occurrences."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lxml import etree

from simulator.mailstore import Folder
from simulator.mailstore.recurrence import occurrences

from .. import soap
from ..context import RequestContext
from ..lookup import ItemError, occurrence_view, resolve_folder
from ..render import View, render_item, view_of
from ..restriction import matches, value_of
from ..shape import parse_shape
from ..soap import m, sub, t
from ..values import parse_instant


def _sort_key(view: View, path: etree._Element | None) -> Any:
    if path is None:
        return view.start or view.item.created.isoformat()
    value = value_of(view.item, path)
    return (value is None, "" if value is None else str(value))


def _calendar_views(context: RequestContext, folder: Folder, window: etree._Element,
                    restriction: etree._Element | None) -> list[View]:
    start = parse_instant(window.get("StartDate", ""))
    end = parse_instant(window.get("EndDate", ""))
    if end < start:
        raise soap.SoapFault("ErrorCalendarEndDateIsEarlierThanStartDate", "EndDate is earlier than StartDate.")
    mailbox = context.store.mailbox(context.address)
    found: list[View] = []
    for item in folder.items.values():
        if item.kind != "event" or (restriction is not None and not matches(item, restriction[0])):
            continue
        if item.fields.get("recurrence"):
            for occurrence in occurrences(item.fields, start, end):
                found.append(occurrence_view(item, occurrence.original_start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                             mailbox.display_name, mailbox.address))
            continue
        item_start = datetime.fromisoformat(item.fields["start"].replace("Z", "+00:00"))
        item_end = datetime.fromisoformat(item.fields["end"].replace("Z", "+00:00"))
        if item_start < end and item_end > start:
            found.append(view_of(item, mailbox.display_name, mailbox.address))
    found.sort(key=lambda v: v.start or v.fields.get("start", ""))
    return found


def find_item(context: RequestContext, request: etree._Element) -> etree._Element:
    """Answer FindItem for each parent folder: matching items, sorted and paged, or a calendar window."""
    shape = parse_shape(request.find(m("ItemShape")))
    restriction = request.find(m("Restriction"))
    calendar = request.find(m("CalendarView"))
    paging = request.find(m("IndexedPageItemView"))
    order = request.find(f"{m('SortOrder')}/{t('FieldOrder')}")
    root, messages = soap.response_root("FindItem")
    mailbox = context.store.mailbox(context.address)
    for node in request.find(m("ParentFolderIds")):
        try:
            folder = resolve_folder(context, node)
        except ItemError as error:
            soap.response_message(messages, "FindItem", error.code, error.text)
            continue
        if calendar is not None:
            views = _calendar_views(context, folder, calendar, restriction)
            limit = int(calendar.get("MaxEntriesReturned") or len(views) or 1)
            offset = 0
        else:
            views = [view_of(item, mailbox.display_name, mailbox.address) for item in folder.items.values()
                     if restriction is None or matches(item, restriction[0])]
            path = order[0] if order is not None else None
            views.sort(key=lambda v: _sort_key(v, path), reverse=order is not None and order.get("Order") == "Descending")
            limit = int(paging.get("MaxEntriesReturned") or len(views) or 1) if paging is not None else len(views) or 1
            offset = int(paging.get("Offset", "0")) if paging is not None else 0
            if paging is not None and paging.get("BasePoint") == "End":
                offset = max(0, len(views) - offset - limit)
        page = views[offset:offset + limit]
        message = soap.response_message(messages, "FindItem")
        result = sub(message, m("RootFolder"), TotalItemsInView=str(len(views)),
                     IncludesLastItemInRange="true" if offset + len(page) >= len(views) else "false")
        if calendar is None:
            result.set("IndexedPagingOffset", str(offset + len(page)))
        items = sub(result, t("Items"))
        for view in page:
            render_item(items, view, shape, folder.change_key, folder.id)
    return root
