"""The conflict policy of a brokerage and how it settles an item both sides changed since they last agreed."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sync.actions import Decision
from sync.content import Content, FieldDigests, changed_since, empty
from sync.state import LocalItem, RemoteItem


class ConflictPolicy(StrEnum):
    MERGE = "merge"  # fields changed on one side only are kept from that side; contested fields: later wins
    LATER_WINS = "later_wins"  # the whole item from the side edited last
    REMOTE_WINS = "remote_wins"  # the whole item from the mailbox
    LOCAL_WINS = "local_wins"  # the whole item from the CRM


@dataclass(frozen=True)
class SyncPolicy:
    """Per-brokerage sync settings; the defaults are the documented product behaviour (sync/README.md)."""

    conflicts: ConflictPolicy = ConflictPolicy.MERGE
    edit_beats_delete: bool = True
    # The mass-deletion guard: pause when one sync would mirror at least ``mass_delete_min_count`` deletions
    # that are more than ``mass_delete_fraction`` of the linked items, or when a side lost every linked item
    # while there were at least ``empty_side_min_linked``.
    mass_delete_fraction: float = 0.5
    mass_delete_min_count: int = 5
    empty_side_min_linked: int = 2

    def __post_init__(self) -> None:
        if not 0 < self.mass_delete_fraction <= 1:
            raise ValueError("mass_delete_fraction must be in (0, 1]")
        if self.mass_delete_min_count < 1 or self.empty_side_min_linked < 1:
            raise ValueError("mass-deletion minimums must be at least 1")


@dataclass(frozen=True)
class Resolution:
    """The content both sides should hold, how it was decided, and which side's changes were overridden."""

    content: Content
    decision: Decision
    overridden: tuple[str, ...]


def remote_is_later(local: LocalItem, remote: RemoteItem) -> bool:
    """Later change wins; a tie goes to the mailbox, where the agent edits by hand (deterministic either way)."""
    return remote.modified_at >= local.modified_at


def resolve_both_changed(
    local: LocalItem, remote: RemoteItem, base: FieldDigests | None, policy: SyncPolicy, *, fill_empty: bool = True
) -> Resolution:
    """Settle an item both sides changed; ``base`` is the agreed state's digests, None for a pair never linked.

    Without a base, ``fill_empty`` lets a value beat an empty field (two records of one person found by
    matching); a pair found by our tag was one record, so there a cleared field is an edit and goes by policy.
    """
    local_content, remote_content = local.content, remote.content
    differing = changed_since(local_content.field_digests, remote_content)
    if base is None and fill_empty:
        local_changed = differing - _empty_fields(local_content)
        remote_changed = differing - _empty_fields(remote_content)
    elif base is None:
        local_changed = remote_changed = differing
    else:
        local_changed = changed_since(base, local_content)
        remote_changed = changed_since(base, remote_content)
    contested = local_changed & remote_changed & differing

    if policy.conflicts is ConflictPolicy.MERGE or base is None:
        # Without a base (a pair found by tag or by matching) nothing tells an edit from a stale value,
        # so every policy merges: a value beats an empty field, and contested fields go by the policy.
        remote_takes_contested = _remote_wins_contested(local, remote, policy)
        take_from_remote = (remote_changed - local_changed) | (contested if remote_takes_contested else frozenset())
        merged = local_content.taking(remote_content, take_from_remote)
        if base is None:
            decision = Decision.PAIRED
        elif not contested:
            decision = Decision.MERGED
        else:
            decision = Decision.REMOTE_WON if remote_takes_contested else Decision.LOCAL_WON
        return Resolution(merged, decision, tuple(sorted(contested)))

    remote_wins = _remote_wins_contested(local, remote, policy)
    loser_changes = (local_changed if remote_wins else remote_changed) & differing
    return Resolution(
        remote_content if remote_wins else local_content,
        Decision.REMOTE_WON if remote_wins else Decision.LOCAL_WON,
        tuple(sorted(loser_changes)),
    )


def _remote_wins_contested(local: LocalItem, remote: RemoteItem, policy: SyncPolicy) -> bool:
    if policy.conflicts is ConflictPolicy.REMOTE_WINS:
        return True
    if policy.conflicts is ConflictPolicy.LOCAL_WINS:
        return False
    return remote_is_later(local, remote)


def _empty_fields(content: Content) -> frozenset[str]:
    blank = empty(content.kind).field_digests
    return frozenset(name for name, digest in content.field_digests.items() if blank[name] == digest)
