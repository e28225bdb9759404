"""Initial-sync matching: pair items that already exist on both sides instead of copying each across.

Contacts pair by email address, then by name and phone number; events by subject, start and end. A pair is
made only when it is the one candidate both ways; anything less certain is reported and left unpaired.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sync.content import Content
from sync.normalize import ItemKind
from sync.state import LocalItem, RemoteItem


@dataclass(frozen=True)
class Match:
    local_id: str
    remote_id: str
    rule: str  # which key paired them: "email", "name+phone", "subject+time"


@dataclass(frozen=True)
class Ambiguity:
    """A key shared by more than one candidate on some side: left for a person to pair."""

    rule: str
    key: str
    local_ids: tuple[str, ...]
    remote_ids: tuple[str, ...]


@dataclass(frozen=True)
class MatchReport:
    matches: tuple[Match, ...] = ()
    ambiguous: tuple[Ambiguity, ...] = ()


def _email_keys(content: Content) -> Iterable[str]:
    return content.canonical.get("emails") or ()


def _name_phone_keys(content: Content) -> Iterable[str]:
    name = f"{content.canonical['given_name']} {content.canonical['surname']}".strip().casefold()
    if not name:
        return ()
    return [f"{name}|{number}" for _kind, number in content.canonical.get("phones") or ()]


def _event_keys(content: Content) -> Iterable[str]:
    subject = str(content.canonical["subject"]).casefold()
    if not subject or content.canonical["start"] is None:
        return ()
    return [f"{subject}|{content.canonical['start']}|{content.canonical['end']}"]


RULES: dict[ItemKind, tuple[tuple[str, Callable[[Content], Iterable[str]]], ...]] = {
    ItemKind.CONTACT: (("email", _email_keys), ("name+phone", _name_phone_keys)),
    ItemKind.EVENT: (("subject+time", _event_keys),),
}


def match_existing(local_items: Sequence[LocalItem], remote_items: Sequence[RemoteItem]) -> MatchReport:
    """Unique pairs by each rule in turn; a later rule only sees what earlier rules left unpaired."""
    locals_left = {item.local_id: item.content for item in local_items}
    remotes_left = {item.remote_id: item.content for item in remote_items}
    matches: list[Match] = []
    ambiguous: dict[tuple[str, str], Ambiguity] = {}
    kinds = {content.kind for content in (*locals_left.values(), *remotes_left.values())}
    for kind in sorted(kinds):
        for rule, keys_of in RULES[kind]:
            local_keys = {lid: set(keys_of(c)) for lid, c in locals_left.items() if c.kind == kind}
            remote_keys = {rid: set(keys_of(c)) for rid, c in remotes_left.items() if c.kind == kind}
            found, unclear = _unique_pairs(rule, local_keys, remote_keys)
            matches.extend(found)
            for match in found:
                del locals_left[match.local_id], remotes_left[match.remote_id]
            ambiguous.update({(a.rule, a.key): a for a in unclear})
    # Report only what is still unpaired: an email shared by two contacts may have been settled by phone.
    still = [
        a for a in ambiguous.values()
        if any(lid in locals_left for lid in a.local_ids) and any(rid in remotes_left for rid in a.remote_ids)
    ]
    return MatchReport(tuple(sorted(matches, key=lambda m: m.local_id)), tuple(sorted(still, key=lambda a: (a.rule, a.key))))


def _unique_pairs(
    rule: str, local_keys: dict[str, set[str]], remote_keys: dict[str, set[str]]
) -> tuple[list[Match], list[Ambiguity]]:
    locals_by_key: dict[str, set[str]] = defaultdict(set)
    remotes_by_key: dict[str, set[str]] = defaultdict(set)
    for lid, keys in local_keys.items():
        for key in keys:
            locals_by_key[key].add(lid)
    for rid, keys in remote_keys.items():
        for key in keys:
            remotes_by_key[key].add(rid)
    shared = locals_by_key.keys() & remotes_by_key.keys()
    remotes_of: dict[str, set[str]] = defaultdict(set)
    locals_of: dict[str, set[str]] = defaultdict(set)
    for key in shared:
        for lid in locals_by_key[key]:
            remotes_of[lid] |= remotes_by_key[key]
        for rid in remotes_by_key[key]:
            locals_of[rid] |= locals_by_key[key]
    matches = [
        Match(lid, next(iter(rids)), rule)
        for lid, rids in remotes_of.items()
        if len(rids) == 1 and locals_of[next(iter(rids))] == {lid}
    ]
    paired = {m.local_id for m in matches}
    unclear = [
        Ambiguity(rule, key, tuple(sorted(locals_by_key[key])), tuple(sorted(remotes_by_key[key])))
        for key in shared
        if not locals_by_key[key] <= paired
    ]
    return matches, unclear
