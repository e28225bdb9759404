"""Resolving request ids (folder ids, ItemId, OccurrenceItemId, RecurringMasterItemId) to store folders, items and
render views, with Exchange's answers for ids that name nothing: a well-formed id of nothing is ErrorItemNotFound
(for folders too), an id that is not an Exchange id at all is ErrorInvalidIdMalformed."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import timedelta

from lxml import etree

from simulator.mailstore import Folder, Item
from simulator.mailstore.recurrence import occurrences

from .context import RequestContext
from .occurrence_ids import occurrence_id, parse_occurrence_id, parse_z
from .render import View, view_of


class ItemError(Exception):
    """An item-level error answered in the item's response message (not a SOAP fault)."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code, self.text = code, text


NOT_FOUND = ("ErrorItemNotFound", "The specified object was not found in the store., The process failed to get the "
             "correct properties.")
MALFORMED = ("ErrorInvalidIdMalformed", "Id is malformed.")
# A well-known folder the mailbox does not have (or another mailbox's): Exchange's own answer for those.
FOLDER_NOT_FOUND = ("ErrorFolderNotFound", "The specified folder could not be found in the store.")


@dataclass(slots=True)
class Target:
    """A resolved id: the stored item, and the original start when it names one occurrence of it."""

    item: Item
    original_start_key: str | None = None  # "...Z" of the occurrence's original start


def _check_id(store_id: str) -> None:
    """Raise ErrorInvalidIdMalformed unless the id could be an Exchange id (non-empty base64)."""
    try:
        if not base64.b64decode(store_id, validate=True):
            raise ValueError("empty id")
    except (binascii.Error, ValueError):
        raise ItemError(*MALFORMED) from None


def resolve_folder(context: RequestContext, node: etree._Element) -> Folder:
    """Resolve a t:FolderId or t:DistinguishedFolderId element to a folder of the impersonated mailbox, or raise
    ItemError with Exchange's code: ErrorItemNotFound for a well-formed id of no folder, ErrorInvalidIdMalformed
    for an id that is not one, ErrorFolderNotFound for a well-known folder the mailbox lacks."""
    folder = context.folder_from(node)
    if folder is not None:
        return folder
    if etree.QName(node).localname == "FolderId":
        _check_id(node.get("Id", ""))
        raise ItemError(*NOT_FOUND)
    raise ItemError(*FOLDER_NOT_FOUND)


def resolve(context: RequestContext, node: etree._Element) -> Target:
    """Resolve an ItemId / OccurrenceItemId / RecurringMasterItemId element; raise ItemError when it names nothing."""
    name = etree.QName(node).localname
    if name == "OccurrenceItemId":
        master = _item(context, node.get("RecurringMasterId", ""))
        index = int(node.get("InstanceIndex", "0"))
        if not master.fields.get("recurrence"):
            raise ItemError("ErrorItemNotFound", "The specified object was not found in the store.")
        start = parse_z(master.fields["start"])
        # Indexes count deleted occurrences too (an index names a slot of the pattern), so expand without them.
        pattern_only = {**master.fields, "deleted_occurrences": []}
        found = [o for o in occurrences(pattern_only, start - timedelta(days=1), start + timedelta(days=366 * 30))
                 if o.index == index]
        if not found:
            raise ItemError("ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange",
                            "The occurrence index is out of the recurrence range.")
        key = found[0].original_start.strftime("%Y-%m-%dT%H:%M:%SZ")
        if key in (master.fields.get("deleted_occurrences") or []):
            raise ItemError("ErrorCalendarOccurrenceIsDeletedFromRecurrence",
                            "Occurrence with this index was previously deleted from the recurrence.")
        return Target(master, key)
    if name == "RecurringMasterItemId":
        parsed = parse_occurrence_id(node.get("OccurrenceId", ""))
        return Target(_item(context, parsed[0] if parsed else node.get("OccurrenceId", "")))
    item_id = node.get("Id", "")
    parsed = parse_occurrence_id(item_id)
    if parsed is not None:
        master_id, original = parsed
        key = original.strftime("%Y-%m-%dT%H:%M:%SZ")
        master = _item(context, master_id)
        if key in (master.fields.get("deleted_occurrences") or []):
            raise ItemError(*NOT_FOUND)
        return Target(master, key)
    return Target(_item(context, item_id))


def _item(context: RequestContext, item_id: str) -> Item:
    item = context.store.item(context.address, item_id)
    if item is None:
        _check_id(item_id)
        raise ItemError(*NOT_FOUND)
    return item


def view_for(context: RequestContext, target: Target) -> View:
    """Return the render view of a target: the item itself, or the occurrence (with its exception's overrides)."""
    mailbox = context.store.mailbox(context.address)
    if target.original_start_key is None:
        return view_of(target.item, mailbox.display_name, mailbox.address)
    return occurrence_view(target.item, target.original_start_key, mailbox.display_name, mailbox.address)


def occurrence_view(master: Item, original_key: str, owner_name: str, owner_address: str) -> View:
    """Return the view of one occurrence of a series, applying its exception's overrides."""
    fields = master.fields
    overrides = (fields.get("modified_occurrences") or {}).get(original_key)
    original = parse_z(original_key)
    length = parse_z(fields["end"]) - parse_z(fields["start"])
    merged = {k: v for k, v in fields.items() if k not in ("recurrence", "modified_occurrences", "deleted_occurrences")}
    start = original
    end = original + length
    if overrides:
        merged.update({k: v for k, v in overrides.items() if k not in ("start", "end")})
        start = parse_z(overrides.get("start", original_key))
        end = parse_z(overrides["end"]) if "end" in overrides else start + length
    return View(master, merged, owner_name, owner_address, occurrence_id(master.id, original),
                "Exception" if overrides else "Occurrence", original,
                start.strftime("%Y-%m-%dT%H:%M:%SZ"), end.strftime("%Y-%m-%dT%H:%M:%SZ"))


def item_ids(container: etree._Element | None) -> list[etree._Element]:
    """Return the id elements of an ItemIds container (empty for None)."""
    if container is None:
        return []
    return [n for n in container if etree.QName(n).localname in ("ItemId", "OccurrenceItemId", "RecurringMasterItemId")]

