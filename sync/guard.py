"""The mass-deletion guard: a side that suddenly lost most of its items is a fault to report, not a change to mirror."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sync.policy import SyncPolicy


class Side(StrEnum):
    LOCAL = "local"  # the CRM
    REMOTE = "remote"  # the mailbox


@dataclass(frozen=True)
class MassDeletion:
    """Why a plan was paused: which side lost how many of the linked items. Staff confirm or repair."""

    side: Side
    lost: int
    linked: int
    reason: str


def check_mass_deletion(linked: int, lost: dict[Side, int], policy: SyncPolicy) -> MassDeletion | None:
    """The first side whose losses trip the guard, or None; ``lost`` counts linked items reported gone."""
    for side in (Side.REMOTE, Side.LOCAL):
        count = lost.get(side, 0)
        if count == 0:
            continue
        if count == linked and linked >= policy.empty_side_min_linked:
            return MassDeletion(side, count, linked, f"the {side} side lost all {linked} linked items")
        if count >= policy.mass_delete_min_count and count > policy.mass_delete_fraction * linked:
            return MassDeletion(
                side,
                count,
                linked,
                f"the {side} side lost {count} of {linked} linked items "
                f"(more than {policy.mass_delete_fraction:.0%}, at least {policy.mass_delete_min_count})",
            )
    return None
