"""The sync engine the fleet runs: ``sync_mailbox(mailbox, gateway, keep_lease) -> EngineResult``.

Per enabled folder: read the mailbox's changes since the stored watermark, read the CRM's changes since the
links, plan (sync.reconcile, pure), apply (sync.executor), and store the new watermark only when every action
applied. A skipped action (a side moved under us) means re-read and re-plan, a bounded number of times. The
linked items whose creation no stored watermark covers yet (ours, or pulled in a round whose watermark was not
stored) stay marked; a sync whose feed does not report one reads it by id. The mass-deletion guard pauses the mailbox and alerts staff; gateway errors propagate
to the fleet, after what was safely done is saved (every applied action already is).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import replace

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from brokerages.models import Mailbox
from engage_sync.failpoints import failpoint
from mailboxes.gateway import MailboxGateway
from mailboxes.items import Collection
from scheduling.runs import EngineResult
from sync import ledger
from sync.actions import CreateRemote, SyncAction, UpdateBoth, UpdateRemote
from sync.attendees import with_crm_only_attendees
from sync.executor import Executor
from sync.models import BrokerageSyncSettings, FolderState
from sync.policy import ConflictPolicy, SyncPolicy
from sync.pull import Pulled, check_unseen_writes, read_remote
from sync.reconcile import Plan, plan_sync
from sync.state import RemoteChanges, RemoteItem
from sync.window import CalendarWindow

log = logging.getLogger(__name__)


def sync_mailbox(mailbox: Mailbox, gateway: MailboxGateway, keep_lease: Callable[[], None]) -> EngineResult:
    """One two-way sync of the mailbox's enabled folders; the fleet's engine (scheduling.runs.run_sync)."""
    policy, window = policy_of(mailbox.brokerage_id)
    states = {state.collection: state for state in FolderState.objects.filter(mailbox_id=mailbox.pk)}  # one query
    total = EngineResult()
    for collection, enabled in ((Collection.CONTACTS, mailbox.contacts_enabled), (Collection.CALENDAR, mailbox.calendar_enabled)):
        if not enabled:
            continue
        keep_lease()
        state = states.get(collection.value) or ledger.folder_state(mailbox.pk, collection)
        outcome = sync_folder(mailbox, gateway, collection, keep_lease, policy,
                              window if collection is Collection.CALENDAR else None, state)  # fmt: skip
        total = EngineResult(total.pulled + outcome.pulled, total.pushed + outcome.pushed,
                             total.conflicts + outcome.conflicts, outcome.paused_reason)  # fmt: skip
        if outcome.paused_reason:
            break  # the mailbox pauses as a whole; the next folder waits for staff too
    return total


def policy_of(brokerage_id: int) -> tuple[SyncPolicy, CalendarWindow]:
    """The brokerage's conflict policy and calendar window (the documented defaults when none is set)."""
    row = BrokerageSyncSettings.objects.filter(brokerage_id=brokerage_id).first()
    if row is None:
        return SyncPolicy(), CalendarWindow()
    policy = SyncPolicy(
        conflicts=ConflictPolicy(row.conflict_policy), edit_beats_delete=row.edit_beats_delete,
        mass_delete_fraction=row.mass_delete_fraction, mass_delete_min_count=max(1, row.mass_delete_min_count),
    )  # fmt: skip
    return policy, CalendarWindow(dt.timedelta(days=row.calendar_past_days), dt.timedelta(days=row.calendar_future_days))


def sync_folder(
    mailbox: Mailbox, gateway: MailboxGateway, collection: Collection, keep_lease: Callable[[], None],
    policy: SyncPolicy, window: CalendarWindow | None, state: FolderState | None = None,
) -> EngineResult:  # fmt: skip
    state = state or ledger.folder_state(mailbox.pk, collection)
    page_size = min(settings.SYNC_PAGE_SIZE, gateway.capabilities.max_page_size)
    pulled = pushed = conflicts = 0
    gone: set[str] = set()
    reread = full_read_due(state, collection, timezone.now())
    for _round in range(1 + settings.SYNC_REPLAN_ROUNDS):
        # Every round so far applied its actions before this read starts: storing its watermark confirms their links.
        written = state.write_round
        unconfirmed = ledger.unconfirmed_writes(mailbox.pk, collection) if written > state.confirmed_round else frozenset()
        remote = read_remote(gateway, mailbox.email, collection, None if reread else state.watermark or None,
                             page_size=page_size, keep_lease=keep_lease)  # fmt: skip
        changes = remote.changes
        if unconfirmed and not changes.complete:
            # A feed nets out an item created and deleted since its watermark: what it did not report of ours, by id.
            changes = check_unseen_writes(gateway, mailbox.email, collection, changes, remote.unreadable, unconfirmed)
        if gone and not changes.complete:
            changes = replace(changes, deleted_ids=tuple(sorted({*changes.deleted_ids, *gone})))
        local = ledger.local_changes(mailbox.pk, collection, first_sync=not state.first_sync_done)
        if not changes.complete and not (changes.items or changes.deleted_ids) and not (local.items or local.tombstones):
            # Nothing on either side: no need to read the link table; the watermark may still move.
            _commit(state, remote, Plan(), written)
            return EngineResult(pulled, pushed, conflicts)
        links = ledger.load_links(mailbox.pk, collection)
        if remote.unreadable:
            # An item we cannot compare is not gone: keep it out of the plan rather than mirror a deletion.
            links = {lid: link for lid, link in links.items() if link.remote_id not in remote.unreadable}
        if window is not None:
            changes = _within_window(changes, links, window)
            if gateway.capabilities.attendees_always_invited:
                changes = with_crm_only_attendees(changes, links)
        plan = plan_sync(links, local, changes, policy, allow_mass_deletion=state.confirm_mass_deletion,
                         first_sync=not state.first_sync_done)  # fmt: skip
        if plan.paused is not None:
            reason = f"{collection}: {plan.paused.reason}"
            _alert_mass_deletion(mailbox, reason)
            return EngineResult(pulled, pushed, conflicts, reason)
        keep_lease()
        # Counted before the first action, so a crash after it still leaves the round's links awaiting confirmation.
        write_round = ledger.start_write_round(state) if plan.actions else None
        executor = Executor(mailbox.pk, mailbox.email, collection, gateway, keep_lease, write_round, written)
        complete = executor.apply(plan.actions)
        pulled, pushed, conflicts = pulled + executor.pulled, pushed + executor.pushed, conflicts + executor.conflicts
        gone |= executor.gone
        if complete:
            # This read covers what the round pulled; what it wrote to the mailbox needs a read that starts later.
            _commit(state, remote, plan, written if _writes_mailbox_items(plan.actions) else state.write_round)
            reread = False
            if not executor.pushed:
                return EngineResult(pulled, pushed, conflicts)
            failpoint("sync.before_confirming_read")
            # We wrote to the mailbox: read once more so the watermark moves past our own writes and confirms them.
            # If this read fails, or this was the last round, the writes stay unconfirmed and the next sync reads
            # what its feed does not report of them by id (a feed nets out our create and a user's delete of it).
        # else a side moved under us: re-read from the same watermark and re-plan; never overwrite blindly.
    return EngineResult(pulled, pushed, conflicts)


def _writes_mailbox_items(actions: tuple[SyncAction, ...]) -> bool:
    """Whether the plan creates or updates mailbox items (removals need no confirmation: there is nothing to net out)."""
    return any(isinstance(action, CreateRemote | UpdateRemote | UpdateBoth) for action in actions)


def full_read_due(state: FolderState, collection: Collection, now: dt.datetime) -> bool:
    """Whether the folder's periodic full read is due (SYNC_CALENDAR_REREAD_DAYS / SYNC_CONTACTS_REREAD_DAYS)."""
    days = settings.SYNC_CALENDAR_REREAD_DAYS if collection is Collection.CALENDAR else settings.SYNC_CONTACTS_REREAD_DAYS
    return _reread_due(state, now, days)


def calendar_reread_due(state: FolderState, now: dt.datetime) -> bool:
    """Whether this calendar's periodic full read is due: every SYNC_CALENDAR_REREAD_DAYS plus a per-mailbox share of
    that again, so mailboxes onboarded together do not all read their calendars in full on the same day.

    A full read is what an expired watermark costs (one listing, compared against the links; nothing written if
    nothing changed); it imports events the window skipped when they arrived and has now reached.
    """
    return _reread_due(state, now, settings.SYNC_CALENDAR_REREAD_DAYS)


def _reread_due(state: FolderState, now: dt.datetime, days: int) -> bool:
    if not days or not state.first_sync_done:
        return False
    last = state.last_full_sync_at  # set by every complete read (the first sync's too; migration 0005 for older ones)
    if last is None:
        return False
    spread = (state.mailbox_id * 2654435761 % 2**32) / 2**32  # Knuth's multiplicative hash: ids spread evenly
    return now - last >= dt.timedelta(days=days * (1 + spread))


def _within_window(changes: RemoteChanges, links: dict, window: CalendarWindow) -> RemoteChanges:
    """Leave out unlinked, untagged mailbox events outside the calendar window (linked ones always sync)."""
    linked = {link.remote_id for link in links.values()}
    now = timezone.now()

    def keep(item: RemoteItem) -> bool:
        return item.remote_id in linked or item.tag is not None or window.covers(item.content, now)

    kept = tuple(item for item in changes.items if keep(item))
    if len(kept) == len(changes.items):
        return changes
    return replace(changes, items=kept)


def _commit(state: FolderState, remote: Pulled, plan: Plan, written: int) -> None:
    """Store the watermark: everything it covers is applied, and the links stamped with rounds up to ``written`` are
    confirmed with it, in one transaction."""
    complete = remote.changes.complete
    confirms = written > state.confirmed_round
    if (remote.watermark == state.watermark and state.first_sync_done and not complete
            and not state.confirm_mass_deletion and not confirms):  # fmt: skip
        return  # a quiet sync whose watermark did not move: nothing to write
    now = timezone.now()
    fields = ["watermark", "last_completed_at"]
    if confirms:
        state.confirmed_round = written
        fields.append("confirmed_round")
    state.watermark, state.last_completed_at = remote.watermark, now
    if complete:  # the first sync, a lost watermark, or the calendar's periodic full read
        state.last_full_sync_at = now
        fields.append("last_full_sync_at")
    if remote.restarted:
        state.full_syncs += 1
        fields.append("full_syncs")
    if not state.first_sync_done:
        state.first_sync_done = True
        state.match_report = {
            "matched": [{"local_id": m.local_id, "remote_id": m.remote_id, "rule": m.rule} for m in plan.matches.matches],
            "ambiguous": [{"rule": a.rule, "key": a.key, "local_ids": list(a.local_ids), "remote_ids": list(a.remote_ids)}
                          for a in plan.matches.ambiguous],
        }  # fmt: skip
        fields += ["first_sync_done", "match_report"]
        log.info("sync: mailbox %s %s first sync: %d matched, %d ambiguous", state.mailbox_id, state.collection,
                 len(plan.matches.matches), len(plan.matches.ambiguous))  # fmt: skip
    if state.confirm_mass_deletion:
        state.confirm_mass_deletion = False
        fields.append("confirm_mass_deletion")
    with transaction.atomic():
        if confirms:
            ledger.confirm_writes(state.mailbox_id, Collection(state.collection), written)
        state.save(update_fields=fields)


def _alert_mass_deletion(mailbox: Mailbox, reason: str) -> None:
    """Tell staff the mailbox's sync paused instead of mirroring a mass loss (the fleet marks it paused)."""
    from brokerages.staff_alerts import mail_staff

    log.warning("sync: mailbox %s paused by the mass-deletion guard: %s", mailbox.pk, reason)
    mail_staff(
        f"[Engage Sync] {mailbox.email}: sync paused — mass deletion",
        f"The sync of {mailbox.email} paused instead of mirroring a mass deletion: {reason}.\n\n"
        "If the deletion is intended, confirm it on the folder's sync state in the admin (action \"Confirm the "
        "mass deletion\") and resume the mailbox; otherwise restore the items first.\n",
    )
