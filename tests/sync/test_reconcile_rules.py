"""One example per rule of the planner's table (sync/README.md): given a link and each side's state, which action."""

import datetime as dt

import pytest

from sync.actions import (
    CancelRemote,
    CreateLocal,
    CreateRemote,
    Decision,
    DeleteLocal,
    DeleteRemote,
    Forget,
    KeepCancelled,
    LinkPair,
    UpdateBoth,
    UpdateLocal,
    UpdateRemote,
)
from sync.content import Content
from sync.policy import ConflictPolicy, SyncPolicy
from sync.reconcile import plan_sync
from sync.state import Link, LocalChanges, LocalItem, LocalTombstone, RemoteChanges, RemoteItem

T0 = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)
AGREED = Content.contact(given_name="Ann", surname="Lee", emails=["ann@example.com"], company="ACME", job_title="Broker")
LINK = Link.agreeing("L1", "R1", AGREED, local_version=3, remote_version="ck1")


def local(content=AGREED, version=4, at=T0):
    return LocalChanges(items=(LocalItem("L1", version, content, at),))


def remote(content=AGREED, version="ck2", at=T0, tag=None, remote_id="R1"):
    return RemoteChanges(items=(RemoteItem(remote_id, version, content, at, tag),), observed_at=T0)


def only(plan):
    assert len(plan.actions) == 1, plan.actions
    return plan.actions[0]


def test_nothing_changed_plans_nothing():
    assert plan_sync([LINK], LocalChanges(), RemoteChanges()).quiet


def test_local_edit_updates_the_mailbox_with_the_expected_change_key():
    edited = AGREED.replace(company="Globex")
    action = only(plan_sync([LINK], local(edited), RemoteChanges()))
    assert action == UpdateRemote("L1", 4, "R1", "ck1", edited)


def test_remote_edit_updates_the_crm_if_the_row_is_still_at_its_version():
    edited = AGREED.replace(job_title="Partner")
    action = only(plan_sync([LINK], LocalChanges(), remote(edited)))
    assert action == UpdateLocal("L1", 3, "R1", "ck2", edited)


def test_change_key_only_change_is_not_an_edit_but_refreshes_the_linked_version():
    # given the server re-saved the item: new change key, same content (in its own spelling)
    same = Content.contact(given_name="Ann", surname="Lee", display_name="Ann Lee", emails=["ANN@example.com"],
                           company="ACME", job_title="Broker")
    action = only(plan_sync([LINK], LocalChanges(), remote(same, version="ck9")))
    # then no update either way, only the link's change key moves on (so the next push is not stale)
    assert isinstance(action, LinkPair)
    assert action.link() == Link.agreeing("L1", "R1", AGREED, local_version=3, remote_version="ck9")


def test_local_no_op_save_is_not_an_edit():
    action = only(plan_sync([LINK], local(AGREED, version=7), RemoteChanges()))
    assert action == LinkPair("L1", 7, "R1", "ck1", AGREED)


def test_identical_edits_on_both_sides_are_not_a_conflict():
    edited = AGREED.replace(company="Globex")
    plan = plan_sync([LINK], local(edited), remote(edited))
    assert only(plan) == LinkPair("L1", 4, "R1", "ck2", edited)
    assert plan.conflicts == ()


def test_edits_to_different_fields_merge_field_by_field():
    # given the CRM changed the company and Outlook the job title
    plan = plan_sync([LINK], local(AGREED.replace(company="Globex")), remote(AGREED.replace(job_title="Partner")))
    # then both edits survive, written to both sides, and the merge is recorded
    action = only(plan)
    assert isinstance(action, UpdateBoth)
    assert action.content == AGREED.replace(company="Globex", job_title="Partner")
    assert (action.expected_local_version, action.expected_remote_version) == (4, "ck2")
    assert [(c.decision, c.fields) for c in plan.conflicts] == [(Decision.MERGED, ())]


@pytest.mark.parametrize(("local_at", "remote_at", "winner"), [(T0, T0 + dt.timedelta(minutes=1), "Outlook"),
                                                               (T0 + dt.timedelta(minutes=1), T0, "CRM")])
def test_same_field_edited_on_both_sides_later_change_wins(local_at, remote_at, winner):
    # given both sides changed the company, and the CRM also changed the job title
    crm = AGREED.replace(company="CRM", job_title="Partner")
    outlook = AGREED.replace(company="Outlook")
    plan = plan_sync([LINK], local(crm, at=local_at), remote(outlook, at=remote_at))
    merged = next(iter(plan.actions)).content
    # then the later side's company wins, and the uncontested job title is kept
    assert merged.values["company"] == winner
    assert merged.values["job_title"] == "Partner"
    assert plan.conflicts[0].decision == (Decision.REMOTE_WON if winner == "Outlook" else Decision.LOCAL_WON)
    assert plan.conflicts[0].fields == ("company",)


@pytest.mark.parametrize(
    ("policy", "expected"),
    [(ConflictPolicy.REMOTE_WINS, "remote"), (ConflictPolicy.LOCAL_WINS, "local"), (ConflictPolicy.LATER_WINS, "local")],
)
def test_whole_item_policies_take_one_side_entirely(policy, expected):
    crm = AGREED.replace(company="CRM")
    outlook = AGREED.replace(job_title="Outlook")
    plan = plan_sync([LINK], local(crm, at=T0 + dt.timedelta(seconds=5)), remote(outlook, at=T0), SyncPolicy(conflicts=policy))
    action = only(plan)
    if expected == "remote":
        assert action == UpdateLocal("L1", 4, "R1", "ck2", outlook, plan.conflicts[0])
        assert plan.conflicts[0].fields == ("company",)  # the CRM's change that was overridden
    else:
        assert action == UpdateRemote("L1", 4, "R1", "ck2", crm, plan.conflicts[0])
        assert plan.conflicts[0].fields == ("job_title",)


def test_remote_deletion_of_an_unchanged_item_deletes_it_in_the_crm():
    plan = plan_sync([LINK], LocalChanges(), RemoteChanges(deleted_ids=("R1",)))
    assert only(plan) == DeleteLocal("L1", 3, "R1")


def test_local_deletion_of_an_unchanged_item_deletes_it_in_the_mailbox():
    plan = plan_sync([LINK], LocalChanges(tombstones=(LocalTombstone("L1", T0),)), RemoteChanges())
    assert only(plan) == DeleteRemote("L1", "R1", "ck1")


def test_crm_edit_beats_mailbox_deletion():
    edited = AGREED.replace(company="Globex")
    plan = plan_sync([LINK], local(edited), RemoteChanges(deleted_ids=("R1",), observed_at=T0))
    assert only(plan) == CreateRemote("L1", 4, edited, plan.conflicts[0])
    assert plan.conflicts[0].decision == Decision.EDIT_BEAT_DELETE


def test_mailbox_edit_beats_crm_deletion():
    edited = AGREED.replace(company="Globex")
    plan = plan_sync([LINK], LocalChanges(tombstones=(LocalTombstone("L1", T0),)), remote(edited))
    assert only(plan) == CreateLocal("R1", "ck2", edited, replaces_local_id="L1", conflict=plan.conflicts[0])


def test_deletion_wins_over_an_edit_when_the_brokerage_says_so():
    policy = SyncPolicy(edit_beats_delete=False)
    plan = plan_sync([LINK], local(AGREED.replace(company="Globex")), RemoteChanges(deleted_ids=("R1",)), policy)
    assert only(plan) == DeleteLocal("L1", 4, "R1", plan.conflicts[0])
    assert plan.conflicts[0].decision == Decision.DELETE_WON


def test_our_own_unlinked_push_is_not_an_edit_that_resurrects_a_crm_deletion():
    # given a push of the CRM's edit reached the mailbox but its link was never saved, then the row was deleted
    pushed = AGREED.replace(company="Globex")
    tombstone = LocalTombstone("L1", T0, pushed_hash=pushed.hash)
    plan = plan_sync([LINK], LocalChanges(tombstones=(tombstone,)), remote(pushed))
    # then the deletion is mirrored, not undone by our own write
    assert only(plan) == DeleteRemote("L1", "R1", "ck2")


def test_deleted_on_both_sides_is_forgotten():
    plan = plan_sync(
        [LINK], LocalChanges(tombstones=(LocalTombstone("L1", T0),)), RemoteChanges(deleted_ids=("R1",))
    )
    assert only(plan) == Forget("L1")


def test_new_items_are_created_on_the_other_side():
    new_local = LocalItem("L2", 1, Content.contact(given_name="Bo"), T0)
    new_remote = RemoteItem("R2", "ck5", Content.contact(given_name="Cy"), T0)
    plan = plan_sync([LINK], LocalChanges(items=(new_local,)), RemoteChanges(items=(new_remote,)))
    assert plan.actions == (CreateLocal("R2", "ck5", new_remote.content), CreateRemote("L2", 1, new_local.content))


def test_full_resync_after_a_lost_watermark_neither_duplicates_nor_loses():
    # given three linked items; the mailbox lists one unchanged (ck1), one edited, one new, and lacks the third
    other = Content.contact(given_name="Bo", emails=["bo@example.com"])
    gone = Content.contact(given_name="Di", emails=["di@example.com"])
    links = [LINK, Link.agreeing("L2", "R2", other, local_version=1, remote_version="ck7"),
             Link.agreeing("L3", "R3", gone, local_version=1, remote_version="ck8")]
    listing = RemoteChanges(
        items=(
            RemoteItem("R1", "ck1", AGREED, T0),
            RemoteItem("R2", "ck9", other.replace(company="Globex"), T0),
            RemoteItem("R4", "ck3", Content.contact(given_name="Eve"), T0),
        ),
        complete=True,
    )
    plan = plan_sync(links, LocalChanges(), listing)
    # then only the real differences are acted on
    assert plan.actions == (
        CreateLocal("R4", "ck3", Content.contact(given_name="Eve")),
        UpdateLocal("L2", 1, "R2", "ck9", other.replace(company="Globex")),
        DeleteLocal("L3", 1, "R3"),
    )


def test_mailbox_item_carrying_our_tag_is_linked_not_copied_back():
    # given a crash after the remote create and before the link was saved
    item = LocalItem("L7", 2, AGREED, T0)
    plan = plan_sync([], LocalChanges(items=(item,)), remote(AGREED, version="ck4", tag="L7", remote_id="R9"))
    # then the next plan pairs them: no second remote create, no CRM copy
    assert only(plan) == LinkPair("L7", 2, "R9", "ck4", AGREED)


def test_a_found_earlier_create_becomes_the_agreed_state():
    # given the executor's tag lookup found our earlier try, made from an older version of the row
    action = CreateRemote("L7", 5, AGREED.replace(company="Newer"))
    link = action.link_found("R9", "ck4", AGREED)
    # then the link records what the mailbox holds and leaves the row's version unknown, so it is pushed next
    assert link == Link.agreeing("L7", "R9", AGREED, local_version=None, remote_version="ck4")
    next_plan = plan_sync([link], LocalChanges(items=(LocalItem("L7", 5, action.content, T0),)), RemoteChanges())
    assert only(next_plan) == UpdateRemote("L7", 5, "R9", "ck4", action.content)


def test_actions_pull_before_they_push():
    links = [LINK, Link.agreeing("L2", "R2", AGREED, local_version=1, remote_version="ck7")]
    changes = LocalChanges(items=(LocalItem("L1", 4, AGREED.replace(company="X"), T0),))
    plan = plan_sync(links, changes, RemoteChanges(items=(RemoteItem("R2", "ck8", AGREED.replace(company="Y"), T0),)))
    assert [type(a) for a in plan.actions] == [UpdateLocal, UpdateRemote]


def test_our_re_create_whose_link_was_lost_is_followed_not_copied():
    # given an edit beat a mailbox deletion, and our re-create landed (marked) but its link was never saved
    edited = AGREED.replace(company="Globex")
    row = LocalItem("L1", 4, edited, T0, pushed_hash=edited.hash)
    remote_side = RemoteChanges(items=(RemoteItem("R9", "ck5", edited, T0, tag="L1"),), deleted_ids=("R1",))
    plan = plan_sync([LINK], LocalChanges(items=(row,), pushes_marked=True), remote_side)
    # then the link moves to the re-created item: no second create, no CRM copy
    assert only(plan) == LinkPair("L1", 4, "R9", "ck5", edited)


def test_an_outlook_copy_carrying_our_tag_is_a_new_item():
    copy = Content.contact(given_name="Ann (copy)", emails=["other@example.com"])
    remote_side = RemoteChanges(items=(RemoteItem("R9", "ck5", copy, T0, tag="L1"),))
    plan = plan_sync([LINK], LocalChanges(pushes_marked=True), remote_side)
    assert only(plan) == CreateLocal("R9", "ck5", copy)


def test_our_create_of_a_row_deleted_before_its_link_was_saved_is_finished_off():
    # given our create landed, its link was lost, and the CRM row was deleted since
    tombstone = LocalTombstone("L7", T0, pushed_hash=AGREED.hash)
    remote_side = RemoteChanges(items=(RemoteItem("R9", "ck4", AGREED, T0, tag="L7"),))
    plan = plan_sync([], LocalChanges(tombstones=(tombstone,), pushes_marked=True), remote_side)
    # then the mailbox copy is deleted rather than copied back into the CRM
    assert only(plan) == DeleteRemote("L7", "R9", "ck4")
    # and an executor without write-ahead marks gets the same for any item with the deleted row's tag
    unmarked = plan_sync([], LocalChanges(tombstones=(LocalTombstone("L7", T0),)), remote_side)
    assert only(unmarked) == DeleteRemote("L7", "R9", "ck4")


# -- meetings cancelled in the CRM (Exchange removes an organizer's cancelled meeting; sync/README.md) -------

MEETING = Content.event(subject="Viewing", start=T0, end=T0 + dt.timedelta(hours=1), location="Office")
MEETING_LINK = Link.agreeing("L1", "R1", MEETING, local_version=3, remote_version="ck1")
CANCELLED = MEETING.replace(cancelled=True)


def test_a_crm_cancellation_removes_the_mailbox_item_and_keeps_the_row():
    action = only(plan_sync([MEETING_LINK], local(CANCELLED), RemoteChanges()))
    assert action == CancelRemote("L1", 4, "R1", "ck1", CANCELLED)


def test_a_crm_cancellation_of_an_item_the_mailbox_lost_keeps_the_row_without_a_conflict():
    gone = RemoteChanges(deleted_ids=("R1",), observed_at=T0)
    plan = plan_sync([MEETING_LINK], local(CANCELLED), gone)
    assert plan.actions == (KeepCancelled("L1"),) and plan.conflicts == ()


def test_a_crm_edit_of_a_meeting_its_organizer_cancelled_is_written_as_usual():
    # given the attendee's copy was cancelled by its organizer and both sides agreed on that
    link = Link.agreeing("L1", "R1", CANCELLED, local_version=3, remote_version="ck1")
    moved = CANCELLED.replace(location="Room 4")
    assert only(plan_sync([link], local(moved), RemoteChanges())) == UpdateRemote("L1", 4, "R1", "ck1", moved)


def test_a_cancellation_merged_with_an_outlook_edit_writes_the_crm_then_removes_the_item():
    elsewhere = MEETING.replace(location="Room 9")
    action = only(plan_sync([MEETING_LINK], local(CANCELLED), remote(elsewhere)))
    merged = CANCELLED.replace(location="Room 9")
    assert isinstance(action, CancelRemote) and action.write_local and action.content == merged
    assert (action.local_version, action.expected_remote_version, action.conflict.decision) == (4, "ck2", Decision.MERGED)


def test_a_cancelled_meeting_never_created_in_the_mailbox_stays_out_of_it():
    fresh = LocalChanges(items=(LocalItem("L9", 1, CANCELLED, T0),), complete=True)
    assert plan_sync([], fresh, RemoteChanges()).quiet
    # a mark left by a create that never reached the mailbox is cleared, nothing is created
    marked = LocalChanges(items=(LocalItem("L9", 1, CANCELLED, T0, pushed_hash=MEETING.hash),))
    assert plan_sync([], marked, RemoteChanges()).actions == (KeepCancelled("L9"),)


def test_an_edit_beating_a_mailbox_deletion_never_recreates_a_cancelled_meeting():
    # given the organizer-cancelled copy both agreed on, deleted in Outlook while the CRM edited it
    link = Link.agreeing("L1", "R1", CANCELLED, local_version=3, remote_version="ck1")
    gone = RemoteChanges(deleted_ids=("R1",), observed_at=T0)
    plan = plan_sync([link], local(CANCELLED.replace(body="notes")), gone)
    assert [type(a) for a in plan.actions] == [KeepCancelled]
    assert plan.conflicts[0].decision is Decision.EDIT_BEAT_DELETE


def test_the_crm_cancelling_most_meetings_at_once_is_a_mass_loss_for_the_guard():
    links = [Link.agreeing(f"L{n}", f"R{n}", MEETING, local_version=1, remote_version="ck1") for n in range(8)]
    cancelled = LocalChanges(items=tuple(LocalItem(f"L{n}", 2, CANCELLED, T0) for n in range(6)))
    plan = plan_sync(links, cancelled, RemoteChanges(), SyncPolicy())
    assert plan.paused is not None and plan.actions == ()
    confirmed = plan_sync(links, cancelled, RemoteChanges(), SyncPolicy(), allow_mass_deletion=True)
    assert [type(a) for a in confirmed.actions] == [CancelRemote] * 6


# -- a series push cut off between the series and its exceptions (EWS writes them separately) -------------

SERIES = MEETING.replace(recurrence={"frequency": "weekly", "weekdays": [1], "count": 5})
SERIES_LINK = Link.agreeing("L1", "R1", SERIES, local_version=3, remote_version="ck1")
WITH_EXCEPTION = SERIES.replace(subject="Team sync", recurrence={**SERIES.values["recurrence"],
                                                                 "cancelled_occurrences": [dt.date(2026, 6, 8)]})


def test_a_series_left_without_our_exceptions_is_pushed_again_whatever_the_policy():
    # given the row marked with its push, and the mailbox holding it but for the exception, later
    marked = LocalChanges(items=(LocalItem("L1", 4, WITH_EXCEPTION, T0, pushed_hash=WITH_EXCEPTION.hash),))
    partial = remote(WITH_EXCEPTION.replace(recurrence=SERIES.values["recurrence"]), at=T0 + dt.timedelta(minutes=5))
    policy = SyncPolicy(conflicts=ConflictPolicy.LATER_WINS)
    action = only(plan_sync([SERIES_LINK], marked, partial, policy))
    assert action == UpdateRemote("L1", 4, "R1", "ck2", WITH_EXCEPTION) and action.conflict is None


def test_without_the_mark_a_mailbox_series_differing_in_exceptions_is_an_edit_as_usual():
    unmarked = local(WITH_EXCEPTION)
    theirs = WITH_EXCEPTION.replace(recurrence=SERIES.values["recurrence"])
    policy = SyncPolicy(conflicts=ConflictPolicy.LATER_WINS)
    action = only(plan_sync([SERIES_LINK], unmarked, remote(theirs, at=T0 + dt.timedelta(minutes=5)), policy))
    assert isinstance(action, UpdateLocal) and action.content == theirs


def test_a_removal_in_flight_does_not_follow_an_outlook_copy_carrying_the_tag():
    # given our removal of a cancelled meeting cut off before the unlink, and an Outlook copy of it (same tag)
    marked = LocalChanges(items=(LocalItem("L1", 4, CANCELLED, T0, cancel_pending=True),), pushes_marked=True)
    copy = MEETING.replace(subject="Viewing (copy)")
    feed = RemoteChanges(items=(RemoteItem("R2", "ck9", copy, T0, tag="L1"),), deleted_ids=("R1",), observed_at=T0)
    plan = plan_sync([MEETING_LINK], marked, feed)
    # then the row stays cancelled in the CRM, and the copy is a meeting of its own
    assert sorted(plan.actions, key=lambda a: type(a).__name__) == [CreateLocal("R2", "ck9", copy), KeepCancelled("L1")]


def test_at_onboarding_a_meeting_the_crm_had_cancelled_but_the_calendar_still_holds_stays_live():
    # given the first sync, a CRM meeting marked cancelled and the same meeting live in Outlook
    crm = LocalChanges(items=(LocalItem("L1", 2, CANCELLED, T0),))
    calendar = RemoteChanges(items=(RemoteItem("R1", "ck1", MEETING, T0),), complete=True, observed_at=T0)
    plan = plan_sync([], crm, calendar, first_sync=True)
    # then they are paired on the calendar's state: nothing removed, nobody mailed; the CRM row is re-opened,
    # and staff see the decision
    (action,) = plan.actions
    assert isinstance(action, UpdateLocal) and action.content == MEETING
    assert (action.conflict.decision, action.conflict.fields) == (Decision.PAIRED, ("cancelled",))


def test_at_onboarding_many_such_meetings_do_not_trip_the_guard_against_zero_links():
    crm = LocalChanges(items=tuple(LocalItem(f"L{n}", 2, CANCELLED.replace(subject=f"V{n}"), T0) for n in range(6)))
    calendar = RemoteChanges(items=tuple(RemoteItem(f"R{n}", "ck1", MEETING.replace(subject=f"V{n}"), T0)
                                         for n in range(6)), complete=True, observed_at=T0)  # fmt: skip
    plan = plan_sync([], crm, calendar, SyncPolicy(), first_sync=True)
    assert plan.paused is None and [type(a) for a in plan.actions] == [UpdateLocal] * 6


def test_a_mailbox_series_with_an_exception_the_crm_lacks_is_no_partial_write_of_ours():
    # given the row's push mark left behind (a refused write), and the agent cancelling another occurrence
    marked = LocalChanges(items=(LocalItem("L1", 4, WITH_EXCEPTION, T0, pushed_hash=WITH_EXCEPTION.hash),))
    agents = WITH_EXCEPTION.replace(recurrence={**SERIES.values["recurrence"],
                                                "cancelled_occurrences": [dt.date(2026, 6, 15)]})
    policy = SyncPolicy(conflicts=ConflictPolicy.LATER_WINS)
    action = only(plan_sync([SERIES_LINK], marked, remote(agents, at=T0 + dt.timedelta(minutes=5)), policy))
    # then it is the agent's edit, settled by the policy (the later side wins)
    assert isinstance(action, UpdateLocal) and action.content == agents


def test_a_crm_reopening_a_meeting_its_organizer_cancelled_writes_the_rest_and_keeps_it_cancelled():
    # given the attendee's copy its organizer cancelled, agreed on by both sides
    link = Link.agreeing("L1", "R1", CANCELLED, local_version=3, remote_version="ck1")
    reopened = MEETING.replace(location="Room 4")
    action = only(plan_sync([link], local(reopened), RemoteChanges()))
    # then the room is written to both sides, and both keep it cancelled (only the organizer can re-open it)
    assert action == UpdateBoth("L1", 4, "R1", "ck1", reopened.replace(cancelled=True), action.conflict)
    assert (action.conflict.decision, action.conflict.fields) == (Decision.ORGANIZER_CANCELLED, ("cancelled",))


def test_reopening_an_organizer_cancelled_copy_against_an_outlook_edit_keeps_the_policys_result_for_the_rest():
    # given the organizer-cancelled copy; the CRM re-opens it and sets Room 4 later than the agent set Room 9
    link = Link.agreeing("L1", "R1", CANCELLED, local_version=3, remote_version="ck1")
    crm = LocalChanges(items=(LocalItem("L1", 4, MEETING.replace(location="Room 4"), T0 + dt.timedelta(minutes=9)),))
    outlook = remote(CANCELLED.replace(location="Room 9"), at=T0)
    (action,) = plan_sync([link], crm, outlook).actions
    # then the later room is written to both, kept cancelled, and the record does not claim the mailbox won
    assert isinstance(action, UpdateBoth) and action.content == CANCELLED.replace(location="Room 4")
    assert (action.conflict.decision, action.conflict.fields) == (Decision.ORGANIZER_CANCELLED, ("cancelled", "location"))
    assert action.conflict.local_modified_at == T0 + dt.timedelta(minutes=9)
