"""The mass-deletion guard and the first sync's matching, through the planner and the in-memory sides."""

import datetime as dt

import pytest

from sync.actions import DeleteLocal, DeleteRemote, LinkPair, UpdateBoth
from sync.content import Content
from sync.guard import Side
from sync.matching import match_existing
from sync.policy import SyncPolicy
from sync.reconcile import plan_sync
from sync.state import Link, LocalChanges, LocalItem, LocalTombstone, RemoteChanges, RemoteItem
from tests.sync.two_sides import EPOCH, Crash, Crm, Mailbox, run_sync

T0 = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)


def person(n: int, **extra) -> Content:
    return Content.contact(given_name=f"P{n}", surname="Lee", emails=[f"p{n}@example.com"], **extra)


def linked(count: int) -> list[Link]:
    return [Link.agreeing(f"L{n}", f"R{n}", person(n), local_version=1, remote_version=f"ck{n}") for n in range(count)]


def test_mailbox_losing_most_of_its_items_pauses_instead_of_deleting():
    # given 20 linked contacts and a feed reporting 11 of them deleted
    plan = plan_sync(linked(20), LocalChanges(), RemoteChanges(deleted_ids=tuple(f"R{n}" for n in range(11))))
    # then nothing is deleted: the plan is a pause naming the side and the count
    assert plan.actions == ()
    assert (plan.paused.side, plan.paused.lost, plan.paused.linked) == (Side.REMOTE, 11, 20)


def test_a_mailbox_that_lists_empty_pauses_even_below_the_fraction_minimum():
    # given three linked contacts and a full listing (lost watermark) that comes back empty
    plan = plan_sync(linked(3), LocalChanges(), RemoteChanges(complete=True))
    assert plan.paused is not None
    assert "all 3" in plan.paused.reason


def test_crm_side_mass_deletion_pauses_too():
    tombstones = tuple(LocalTombstone(f"L{n}", T0) for n in range(8))
    plan = plan_sync(linked(10), LocalChanges(tombstones=tombstones), RemoteChanges())
    assert plan.paused is not None and plan.paused.side == Side.LOCAL


def test_ordinary_deletions_below_the_threshold_are_mirrored():
    # given 20 linked contacts, 4 deleted in the mailbox (under the minimum of 5) and 6 in the CRM (under half)
    remote = RemoteChanges(deleted_ids=("R0", "R1", "R2", "R3"))
    local = LocalChanges(tombstones=tuple(LocalTombstone(f"L{n}", T0) for n in range(10, 16)))
    plan = plan_sync(linked(20), local, remote)
    assert plan.paused is None
    assert sum(isinstance(a, DeleteLocal) for a in plan.actions) == 4
    assert sum(isinstance(a, DeleteRemote) for a in plan.actions) == 6


def test_staff_confirmation_lets_the_deletions_through():
    remote = RemoteChanges(deleted_ids=tuple(f"R{n}" for n in range(11)))
    plan = plan_sync(linked(20), LocalChanges(), remote, allow_mass_deletion=True)
    assert plan.paused is None
    assert sum(isinstance(a, DeleteLocal) for a in plan.actions) == 11


def test_guard_threshold_is_configurable_per_brokerage():
    remote = RemoteChanges(deleted_ids=("R0", "R1", "R2"))
    strict = SyncPolicy(mass_delete_fraction=0.1, mass_delete_min_count=2)
    assert plan_sync(linked(20), LocalChanges(), remote, strict).paused is not None
    assert plan_sync(linked(20), LocalChanges(), remote).paused is None


def test_paused_sync_keeps_the_watermark_and_alerts_and_resumes_after_confirmation():
    # given a synced CRM and mailbox of five contacts, then the mailbox folder comes back empty
    crm, mailbox = Crm(), Mailbox()
    for n in range(5):
        crm.user_create(person(n), EPOCH)
    run_sync(crm, mailbox, EPOCH)
    watermark = crm.watermark
    for remote_id in list(mailbox.items):
        mailbox.user_delete(remote_id)
    # when the next sync runs
    plan = run_sync(crm, mailbox, EPOCH)
    # then the CRM keeps everything, staff are alerted, the watermark stays
    assert plan.paused is not None and len(crm.rows) == 5 and crm.alerts == [plan.paused]
    assert crm.watermark == watermark
    # and once staff confirm, the deletion is mirrored
    run_sync(crm, mailbox, EPOCH, confirm_mass_deletion=True)
    assert crm.rows == {} and crm.links == {}


def test_first_sync_pairs_thousands_of_existing_contacts_by_email_instead_of_duplicating():
    # given a mailbox with 3,000 contacts and a CRM with 300 of the same people (emails in other case/order)
    crm, mailbox = Crm(), Mailbox()
    for n in range(3000):
        mailbox.user_create(person(n, phones={"mobile": f"+1 555 {n:04d}"}), EPOCH)
    for n in range(0, 3000, 10):
        crm.user_create(Content.contact(given_name=f"P{n}", surname="Lee", emails=[f"P{n}@Example.com"]), EPOCH)
    # when the first sync runs
    plan = run_sync(crm, mailbox, EPOCH)
    # then the 300 are paired, the rest copied into the CRM, nothing is created twice
    assert len(plan.matches.matches) == 300
    assert {m.rule for m in plan.matches.matches} == {"email"}
    assert len(crm.rows) == 3000 and len(mailbox.items) == 3000
    assert all(crm.rows[lid].content == mailbox.items[link.remote_id].content for lid, link in crm.links.items())


def test_first_sync_matching_survives_a_crash_of_that_sync():
    crm, mailbox = Crm(), Mailbox()
    for n in range(6):
        mailbox.user_create(person(n), EPOCH)
        crm.user_create(person(n, company="ACME"), EPOCH)
    with pytest.raises(Crash):
        run_sync(crm, mailbox, EPOCH, crash_after=3)  # three pairs linked, three not yet
    assert 0 < len(crm.links) < 6
    run_sync(crm, mailbox, EPOCH)
    assert len(crm.rows) == len(mailbox.items) == len(crm.links) == 6


def test_name_and_phone_pair_when_no_email_matches():
    local = LocalItem("L1", 1, Content.contact(given_name="Ann", surname="Lee", phones={"mobile": "+1 555 0100"}), T0)
    remote = RemoteItem("R1", "ck1", Content.contact(given_name="ann", surname="LEE", emails=["ann@x.test"],
                                                     phones={"business": "+15550100"}), T0)
    report = match_existing([local], [remote])
    assert [(m.local_id, m.remote_id, m.rule) for m in report.matches] == [("L1", "R1", "name+phone")]


def test_an_email_shared_by_two_mailbox_contacts_is_reported_not_guessed():
    # given one CRM contact and two mailbox contacts with its address (a couple sharing one)
    local = LocalItem("L1", 1, Content.contact(given_name="Ann", emails=["home@x.test"]), T0)
    remotes = [RemoteItem("R1", "ck1", Content.contact(given_name="Ann", emails=["home@x.test"]), T0),
               RemoteItem("R2", "ck2", Content.contact(given_name="Bob", emails=["home@x.test"]), T0)]
    report = match_existing([local], remotes)
    assert report.matches == ()
    assert [(a.rule, a.local_ids, a.remote_ids) for a in report.ambiguous] == [("email", ("L1",), ("R1", "R2"))]


def test_an_ambiguity_a_later_rule_settles_is_not_reported():
    local = LocalItem("L1", 1, Content.contact(given_name="Ann", emails=["home@x.test"], phones={"mobile": "1"}), T0)
    remotes = [RemoteItem("R1", "ck1", Content.contact(given_name="Ann", emails=["home@x.test"], phones={"home": "1"}), T0),
               RemoteItem("R2", "ck2", Content.contact(given_name="Bob", emails=["home@x.test"]), T0)]
    report = match_existing([local], remotes)
    assert [(m.remote_id, m.rule) for m in report.matches] == [("R1", "name+phone")]
    assert report.ambiguous == ()


def test_events_pair_by_subject_and_time():
    start = dt.datetime(2026, 7, 1, 14, 0, tzinfo=dt.UTC)
    local = LocalItem("L1", 1, Content.event(subject="Viewing 12 Elm St", start=start, end=start + dt.timedelta(hours=1)), T0)
    remote = RemoteItem("R1", "ck1", Content.event(subject="viewing 12 elm st", start=start, end=start + dt.timedelta(hours=1),
                                                   location="12 Elm St"), T0)
    assert [m.rule for m in match_existing([local], [remote]).matches] == ["subject+time"]


def test_a_matched_pair_keeps_values_from_both_and_records_the_pairing():
    # given the same person in both, the CRM knowing the company and Outlook the job title
    local = LocalItem("L1", 1, Content.contact(given_name="Ann", emails=["ann@x.test"], company="ACME"), T0)
    remote = RemoteItem("R1", "ck1", Content.contact(given_name="Ann", emails=["ann@x.test"], job_title="Broker"), T0)
    plan = plan_sync([], LocalChanges(items=(local,)), RemoteChanges(items=(remote,), complete=True), first_sync=True)
    # then neither value is lost
    (action,) = plan.actions
    assert isinstance(action, UpdateBoth)
    assert (action.content.values["company"], action.content.values["job_title"]) == ("ACME", "Broker")
    assert plan.conflicts[0].decision == "paired"


def test_identical_pair_is_only_linked():
    content = Content.contact(given_name="Ann", emails=["ann@x.test"])
    plan = plan_sync(
        [], LocalChanges(items=(LocalItem("L1", 1, content, T0),)),
        RemoteChanges(items=(RemoteItem("R1", "ck1", content, T0),), complete=True), first_sync=True,
    )
    assert plan.actions == (LinkPair("L1", 1, "R1", "ck1", content),)
