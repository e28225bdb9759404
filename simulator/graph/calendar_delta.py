"""calendarView delta: what a client was told about a window, and the rounds that bring it up to date.

The token (``delta.py``: mailbox, calendar folder, delta generation) carries the window and the calendar folder's
change sequence at the start of the round, so the window is fixed for the token's life. What the client was told
(a snapshot: instance -> version) is kept here, in memory, keyed by an id the token carries; a round's change list
(what changed since the previous snapshot) is kept the same way, so every page of a round, replayed or not, answers
the same entries. When the calendar has not changed since the token's sequence, no snapshot is needed at all: the
answer is an empty page and the same deltaLink. A snapshot the simulator no longer holds (it restarted, or the
mailbox made more than ``KEEP_PER_MAILBOX`` rounds since) answers 410 ``SyncStateNotFound`` when there are changes
to report, which sends the client back to a full read of the window, as Exchange does when it drops a sync state.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from .event_instances import Instance

KEEP_PER_MAILBOX = 64  # snapshots and rounds remembered per mailbox, newest first

InstanceKey = tuple[str, str]  # (store item id, original start "...Z" or "")


@dataclass(slots=True)
class Seen:
    """What the client holds for one instance: its ``version``, and the master's immutable id (for @removed)."""

    version: str
    immutable_id: str


@dataclass(slots=True)
class Entry:
    """One line of a round: an instance to send (as it is when the page is served) or to report ``@removed``."""

    key: InstanceKey
    immutable_id: str
    removed: bool


@dataclass(slots=True)
class Round:
    entries: list[Entry]
    snapshot_id: int  # what the client holds once it has read every page


class _Mailbox:
    def __init__(self) -> None:
        self.snapshots: OrderedDict[int, dict[InstanceKey, Seen]] = OrderedDict()
        self.rounds: OrderedDict[int, Round] = OrderedDict()


class Registry:
    """Snapshots and rounds of one world, per mailbox; call under ``world.lock``."""

    def __init__(self) -> None:
        self._mailboxes: dict[str, _Mailbox] = {}
        self._ids = itertools.count(1)

    def _of(self, address: str) -> _Mailbox:
        return self._mailboxes.setdefault(address.lower(), _Mailbox())

    @staticmethod
    def _keep(table: OrderedDict[int, Any], key: int, value: Any) -> None:
        table[key] = value
        while len(table) > KEEP_PER_MAILBOX:
            table.popitem(last=False)

    def snapshot(self, address: str, snapshot_id: int) -> dict[InstanceKey, Seen] | None:
        return self._of(address).snapshots.get(snapshot_id)

    def round(self, address: str, round_id: int) -> Round | None:
        return self._of(address).rounds.get(round_id)

    def start_round(self, address: str, previous: dict[InstanceKey, Seen], current: list[Instance]) -> int:
        """Record the round that brings `previous` up to `current` (new or changed first by start, then removals)."""
        series: dict[str, str] = {}
        now = {instance.key: Seen(version(instance, series), instance.item.immutable_id) for instance in current}
        entries = [Entry(instance.key, instance.item.immutable_id, False) for instance in current
                   if (seen := previous.get(instance.key)) is None or seen.version != now[instance.key].version]
        entries.extend(Entry(key, seen.immutable_id, True) for key, seen in previous.items() if key not in now)
        mailbox = self._of(address)
        snapshot_id, round_id = next(self._ids), next(self._ids)
        self._keep(mailbox.snapshots, snapshot_id, now)
        self._keep(mailbox.rounds, round_id, Round(entries, snapshot_id))
        return round_id


def version(instance: Instance, series: dict[str, str]) -> str:
    """What a client's copy of an instance depends on: a single event's change key; for an occurrence, the series'
    own content (not its other exceptions or cancellations) and its own exception, so changing one occurrence does
    not report its siblings again. `series` caches the master's part per round."""
    if instance.original is None:
        return instance.item.change_key
    item = instance.item
    base = series.get(item.id)
    if base is None:
        shared = {k: v for k, v in item.fields.items() if k not in ("modified_occurrences", "deleted_occurrences")}
        base = series[item.id] = _digest([shared, item.extended])
    return base + _digest(instance.overrides or {})


def _digest(value: Any) -> str:
    return hashlib.blake2b(json.dumps(value, sort_keys=True, default=str).encode(), digest_size=8).hexdigest()


_REGISTRIES: weakref.WeakKeyDictionary[Any, Registry] = weakref.WeakKeyDictionary()
_REGISTRIES_LOCK = threading.Lock()


def registry(world: Any) -> Registry:
    """The calendar delta registry of a world (created on first use; it goes away with the world)."""
    with _REGISTRIES_LOCK:
        found = _REGISTRIES.get(world)
        if found is None:
            found = _REGISTRIES[world] = Registry()
        return found
