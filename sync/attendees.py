"""Attendees the CRM keeps to itself: on a backend where writing an event with attendees always invites them
(``Capabilities.attendees_always_invited``: Graph has no "save without sending"), an event the CRM does not ask
to announce (``send_invitations`` False) is written without its attendees, so nobody is mailed.

The mailbox's copy then lacks them; read back, that would look like the agent removing every attendee and the
CRM would lose them. So an event read without attendees whose CRM row (by link, or by our tag) keeps uninvited
attendees is taken as holding the row's: the pair agrees, and nothing flows either way.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping

from mailboxes.items import Event as ItemEvent
from sync.models import Event as EventRow
from sync.state import Link, RemoteChanges


def without_uninvited_attendees(item: ItemEvent, asked: bool) -> ItemEvent:
    """The event as a backend that invites every attendee it is given should write it."""
    return item if asked else dataclasses.replace(item, attendees=())


def with_crm_only_attendees(changes: RemoteChanges, links: Mapping[str, Link]) -> RemoteChanges:
    """``changes`` with each attendee-less event of ours given back the attendees its CRM row keeps uninvited."""
    by_remote = {link.remote_id: link.local_id for link in links.values()}
    owners: dict[str, uuid.UUID] = {}
    for item in changes.items:
        if item.content.canonical.get("attendees"):
            continue
        local_id = by_remote.get(item.remote_id) or item.tag
        try:
            owners[item.remote_id] = uuid.UUID(str(local_id))
        except ValueError:
            continue  # not ours (no link, no tag of ours): the mailbox's own event, as it is
    if not owners:
        return changes
    kept = dict(
        EventRow.objects.filter(pk__in=set(owners.values()), send_invitations=False)
        .exclude(attendees=[])
        .values_list("pk", "attendees")
    )
    if not kept:
        return changes
    items = tuple(
        dataclasses.replace(item, content=item.content.replace(
            attendees=tuple(dict(person) for person in kept[owners[item.remote_id]])))
        if owners.get(item.remote_id) in kept else item
        for item in changes.items
    )  # fmt: skip
    return dataclasses.replace(changes, items=items)
