"""The executor contract, shown on the in-memory sides: crashes, stale change keys and retries never duplicate or lose."""

import datetime as dt

import pytest

from sync.actions import UpdateBoth
from sync.content import Content
from sync.policy import SyncPolicy
from sync.reconcile import plan_sync
from tests.sync.two_sides import EPOCH, Crash, Crm, Executor, Mailbox, run_sync

ANN = Content.contact(given_name="Ann", surname="Lee", emails=["ann@example.com"])


def later(seconds: int) -> dt.datetime:
    return EPOCH + dt.timedelta(seconds=seconds)


def test_crash_after_the_remote_create_before_the_link_is_saved_makes_no_duplicate_on_retry():
    # given a new CRM contact, and a sync that dies right after creating it in the mailbox
    crm, mailbox = Crm(), Mailbox()
    crm.user_create(ANN, EPOCH)
    with pytest.raises(Crash):
        run_sync(crm, mailbox, later(1), crash_after=2)  # effects: write-ahead mark, remote create | link save
    assert len(mailbox.items) == 1 and crm.links == {}
    # when the sync is retried
    run_sync(crm, mailbox, later(2))
    # then the mailbox still holds one copy, now linked, and a further sync has nothing to do
    assert len(mailbox.items) == 1 and len(crm.links) == 1
    assert run_sync(crm, mailbox, later(3)).quiet


def test_an_edit_between_the_crash_and_the_retry_reaches_the_mailbox_once():
    crm, mailbox = Crm(), Mailbox()
    local_id = crm.user_create(ANN, EPOCH)
    with pytest.raises(Crash):
        run_sync(crm, mailbox, later(1), crash_after=2)
    crm.user_update(local_id, ANN.replace(company="ACME"), later(2))
    run_sync(crm, mailbox, later(3))
    run_sync(crm, mailbox, later(4))
    (item,) = mailbox.items.values()
    assert item.content == ANN.replace(company="ACME")


def test_executor_tag_lookup_links_an_earlier_create_the_plan_did_not_see():
    # given a plan made before the earlier try's create reached the mailbox (a redelivered task)
    crm, mailbox = Crm(), Mailbox()
    local_id = crm.user_create(ANN, EPOCH)
    remote_changes, _ = mailbox.read_changes(None, EPOCH)
    plan = plan_sync(crm.links, crm.changes(), remote_changes)
    mailbox.create(ANN, local_id, later(1))  # the earlier try, whose link was lost
    # when the plan is applied
    Executor(crm, mailbox, later(2)).apply(plan)
    # then the tag lookup links that item instead of creating a second one
    assert len(mailbox.items) == 1
    assert crm.links[local_id].remote_id == next(iter(mailbox.items))


def test_a_stale_change_key_rereads_and_merges_instead_of_overwriting():
    # given a synced contact, edited in the CRM, and planned
    crm, mailbox = Crm(), Mailbox()
    local_id = crm.user_create(ANN, EPOCH)
    run_sync(crm, mailbox, later(1))
    remote_id = crm.links[local_id].remote_id
    crm.user_update(local_id, ANN.replace(company="ACME"), later(2))
    remote_changes, _ = mailbox.read_changes(crm.watermark, later(3))
    plan = plan_sync(crm.links, crm.changes(), remote_changes)
    # when the agent edits it in Outlook before the push lands
    mailbox.user_update(remote_id, ANN.replace(job_title="Broker"), later(4))
    applied = Executor(crm, mailbox, later(5)).apply(plan)
    # then the push is refused (no blind overwrite) and the next sync merges both edits
    assert not applied
    assert mailbox.items[remote_id].content == ANN.replace(job_title="Broker")
    run_sync(crm, mailbox, later(6))
    assert mailbox.items[remote_id].content == crm.rows[local_id].content == ANN.replace(company="ACME", job_title="Broker")


def test_a_crash_between_the_two_writes_of_a_merge_converges_on_retry():
    crm, mailbox = Crm(), Mailbox()
    local_id = crm.user_create(ANN, EPOCH)
    run_sync(crm, mailbox, later(1))
    remote_id = crm.links[local_id].remote_id
    crm.user_update(local_id, ANN.replace(company="ACME"), later(2))
    mailbox.user_update(remote_id, ANN.replace(job_title="Broker"), later(3))
    # when the merge's CRM write lands and the worker dies before the mailbox write
    with pytest.raises(Crash):
        run_sync(crm, mailbox, later(4), crash_after=1)
    assert crm.rows[local_id].content == ANN.replace(company="ACME", job_title="Broker")
    assert mailbox.items[remote_id].content == ANN.replace(job_title="Broker")
    # then the retry finishes the merge on the mailbox side from the CRM's copy
    plan = run_sync(crm, mailbox, later(5))
    assert not any(isinstance(action, UpdateBoth) for action in plan.actions)
    assert mailbox.items[remote_id].content == ANN.replace(company="ACME", job_title="Broker")
    assert run_sync(crm, mailbox, later(6)).quiet


def test_a_sync_with_nothing_changed_makes_one_mailbox_request():
    crm, mailbox = Crm(), Mailbox()
    for n in range(50):
        crm.user_create(Content.contact(given_name=f"P{n}", emails=[f"p{n}@example.com"]), EPOCH)
    run_sync(crm, mailbox, later(1))
    mailbox.requests = 0
    plan = run_sync(crm, mailbox, later(2))
    assert plan.quiet
    assert mailbox.requests == 1  # the change feed read; no fetch, no write


def test_a_push_that_landed_before_a_crash_does_not_override_a_later_crm_edit():
    # given a synced contact whose CRM edit reached the mailbox just before the worker died
    crm, mailbox = Crm(), Mailbox()
    local_id = crm.user_create(ANN, EPOCH)
    run_sync(crm, mailbox, later(1))
    remote_id = crm.links[local_id].remote_id
    crm.user_update(local_id, ANN.replace(company="ACME"), later(2))
    with pytest.raises(Crash):
        run_sync(crm, mailbox, later(3), crash_after=2)  # mark, mailbox update | link save
    # when the CRM user changes it back before the retry
    crm.user_update(local_id, ANN, later(4))
    run_sync(crm, mailbox, later(5))
    # then the mailbox gets the CRM's latest, not our own stale push back into the CRM
    assert crm.rows[local_id].content == mailbox.items[remote_id].content == ANN


# -- meetings cancelled in the CRM (found by the calendar model's soak run) -----------------------------------

VIEWING = Content.event(subject="Viewing", start=EPOCH, end=EPOCH + dt.timedelta(hours=1))
POLICY_3 = SyncPolicy(mass_delete_min_count=4, empty_side_min_linked=3)


def test_a_meeting_reopened_after_its_removal_was_cut_off_comes_back_instead_of_being_deleted():
    # given a synced meeting the CRM cancels, and a sync that dies after removing it from the mailbox
    crm, mailbox = Crm(), Mailbox()
    local_id = crm.user_create(VIEWING, EPOCH)
    run_sync(crm, mailbox, later(1))
    crm.user_update(local_id, VIEWING.replace(cancelled=True), later(2))
    with pytest.raises(Crash):
        run_sync(crm, mailbox, later(3), crash_after=2)  # effects: the mark | the removal | the unlink
    assert mailbox.items == {} and local_id in crm.links
    # when the CRM re-opens it (its content is the agreed one again) before the next sync
    crm.user_update(local_id, VIEWING, later(4))
    run_sync(crm, mailbox, later(5))
    # then the removal is known to be ours: the meeting is back in the mailbox, not deleted from the CRM
    assert crm.rows[local_id].content == VIEWING
    (item,) = mailbox.items.values()
    assert item.content == VIEWING and item.tag == local_id
    assert run_sync(crm, mailbox, later(6)).quiet


def test_an_outlook_copy_of_a_meeting_the_crm_keeps_cancelled_is_a_new_meeting_not_the_crm_rows():
    # given a synced meeting, copied in Outlook (the copy keeps our tag), then cancelled in the CRM
    crm, mailbox = Crm(), Mailbox()
    local_id = crm.user_create(VIEWING, EPOCH)
    run_sync(crm, mailbox, later(1))
    (original,) = mailbox.items
    copy = VIEWING.replace(subject="Viewing (copy)")
    mailbox.user_create(copy, later(2), tag=mailbox.items[original].tag)
    crm.user_update(local_id, VIEWING.replace(cancelled=True), later(3))
    run_sync(crm, mailbox, later(4))
    # when a copy of the copy appears too, and a sync lists every CRM row
    mailbox.user_create(copy.replace(subject="Viewing (copy 2)"), later(5), tag=local_id)
    run_sync(crm, mailbox, later(6), full_local_listing=True)
    # then the cancelled row kept its own content; each copy is a meeting of its own in the CRM
    assert crm.rows[local_id].content == VIEWING.replace(cancelled=True) and local_id not in crm.links
    subjects = sorted(row.content.values["subject"] for row in crm.rows.values())
    assert subjects == ["Viewing", "Viewing (copy 2)", "Viewing (copy)"]
    assert run_sync(crm, mailbox, later(7), full_local_listing=True).quiet


def test_a_wiped_calendar_still_pauses_when_a_cancellation_was_in_flight():
    # given three synced meetings, a sync cut off after marking one cancelled meeting's removal (before the request)
    crm, mailbox = Crm(), Mailbox()
    ids = [crm.user_create(VIEWING.replace(subject=f"Viewing {n}"), EPOCH) for n in range(3)]
    run_sync(crm, mailbox, later(1))
    crm.user_update(ids[0], VIEWING.replace(subject="Viewing 0", cancelled=True), later(2))
    with pytest.raises(Crash):
        run_sync(crm, mailbox, later(3), crash_after=1)  # effects: the mark | the removal | the unlink
    # when the calendar comes back empty
    for remote_id in list(mailbox.items):
        mailbox.user_delete(remote_id)
    plan = run_sync(crm, mailbox, later(4), POLICY_3)
    # then the sync pauses: the marked meeting's absence counts as a loss like the others
    assert plan.paused is not None and plan.actions == ()
    assert set(crm.rows) == set(ids)


def _recreate_in_flight_then_cancelled():
    """A meeting the agent deleted in Outlook while the CRM edited it (edit beats delete: re-created), the
    re-create's link lost in a crash, then the meeting cancelled in the CRM."""
    crm, mailbox = Crm(), Mailbox()
    local_id = crm.user_create(VIEWING, EPOCH)
    run_sync(crm, mailbox, later(1))
    (first,) = mailbox.items
    mailbox.user_delete(first)
    crm.user_update(local_id, VIEWING.replace(location="Office"), later(2))
    with pytest.raises(Crash):
        run_sync(crm, mailbox, later(3), crash_after=2)  # effects: the mark | the create | the link
    assert crm.links[local_id].remote_id == first and len(mailbox.items) == 1
    crm.user_update(local_id, VIEWING.replace(location="Office", cancelled=True), later(4))
    return crm, mailbox, local_id


@pytest.mark.parametrize("cut_off", ["crash before the removal", "stale change key"])
def test_a_cancellation_of_a_recreate_in_flight_that_is_cut_off_still_removes_it_once(cut_off):
    crm, mailbox, local_id = _recreate_in_flight_then_cancelled()
    # when the sync that cancels it is cut off before the removal (or the item's change key moved)
    if cut_off == "crash before the removal":
        with pytest.raises(Crash):
            run_sync(crm, mailbox, later(5), crash_after=1)  # effects: the removal's mark | the removal | the unlink
    else:
        remote, _ = mailbox.read_changes(crm.watermark, later(5))
        plan = plan_sync(crm.links, crm.changes(), remote, first_sync=not crm.first_sync_done)
        mailbox.server_touch(next(iter(mailbox.items)))  # an attendee answered: a new change key, same content
        assert not Executor(crm, mailbox, later(5)).apply(plan)
    run_sync(crm, mailbox, later(6))
    # then the re-created meeting is removed after all, and the CRM keeps one row, cancelled
    assert mailbox.items == {}
    assert list(crm.rows) == [local_id] and crm.rows[local_id].content.values["cancelled"] is True
    assert run_sync(crm, mailbox, later(7)).quiet


def test_a_refused_removal_leaves_no_flag_that_would_undo_a_later_outlook_deletion():
    # given a synced meeting the CRM cancels, whose removal is refused (an attendee answered: a new change key)
    crm, mailbox = Crm(), Mailbox()
    policy = SyncPolicy(edit_beats_delete=False)
    local_id = crm.user_create(VIEWING, EPOCH)
    run_sync(crm, mailbox, later(1), policy)
    (remote_id,) = mailbox.items
    crm.user_update(local_id, VIEWING.replace(cancelled=True), later(2))
    remote, _ = mailbox.read_changes(crm.watermark, later(3))
    plan = plan_sync(crm.links, crm.changes(), remote, policy)
    mailbox.server_touch(remote_id)
    assert not Executor(crm, mailbox, later(3)).apply(plan)
    # when the CRM re-opens it (the agreed content again) and the agent deletes it in Outlook
    crm.user_update(local_id, VIEWING, later(4))
    mailbox.user_delete(remote_id)
    run_sync(crm, mailbox, later(5), policy)
    # then the agent's deletion is mirrored, not taken for our removal and undone
    assert mailbox.items == {} and local_id not in crm.rows
