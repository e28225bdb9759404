"""Model test of the reconciliation core: random edits on both sides, syncs cut off at random, retried, repeated.

Given a CRM and a mailbox that start empty, when any interleaving of creates, edits, deletes, server-side
change-key bumps, lost watermarks, crashed and repeated syncs and a wiped mailbox has run, then a clean
sync leaves both sides holding the same items, content-equal, none twice, none lost, deletions mirrored,
and no sync ever mirrored a mass loss without staff confirming it.

Bounded for the suite (~10 s); for a long soak: `pytest tests/sync --hypothesis-profile=sync-soak`.
"""

from __future__ import annotations

import datetime as dt
import itertools

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from sync.actions import CancelRemote, DeleteLocal, DeleteRemote
from sync.content import Content
from sync.policy import SyncPolicy
from sync.reconcile import Plan
from tests.sync.two_sides import EPOCH, Crash, Crm, Mailbox, run_sync

LOCAL, REMOTE = "local", "remote"


class Contacts:
    """Contacts in the model: each one's identity is an address no edit touches."""

    # Small pools, so both sides often make the same edit (which must not be a conflict) or clash on a field.
    editable: dict[str, list[object]] = {
        "given_name": ["Ann", "Bob", " Ann ", ""],
        "surname": ["Lee", "Diaz", ""],
        "company": ["", "ACME", "Globex"],
        "job_title": ["", "Broker"],
        "notes": ["", "call back", "VIP\r\nprefers email"],
        "phones": [{}, {"home": "020 7946 {n}"}, {"home": "020-7946-{n}", "business": "(555) {n}"}],
    }
    # Numbers are per item ({n} is its serial), so name + phone never pairs two different people on the first
    # sync: pairs happen only where the model means them (same_person_on_both_sides_before_first_sync).

    @staticmethod
    def serial_of(content: Content) -> str:
        return content.canonical["emails"][0]

    @staticmethod
    def with_identity(serial: str, values: dict) -> Content:
        number = serial.split("@")[0][1:].zfill(4)
        phones = {kind: str(pattern).replace("{n}", number) for kind, pattern in dict(values.get("phones") or {}).items()}
        return Content.build("contact", {**values, "emails": [serial], "phones": phones})


class Events:
    """Calendar events in the model: the subject is the identity, the time fixed per item (the first sync
    matches events by subject and time); either side may cancel and re-open them."""

    editable: dict[str, list[object]] = {
        "location": ["", "Office", " Office "],
        "body": ["", "bring the keys", "park\r\nbehind"],
        "cancelled": [False, True],
    }

    @staticmethod
    def serial_of(content: Content) -> str:
        return content.canonical["subject"]

    @staticmethod
    def with_identity(serial: str, values: dict) -> Content:
        start = EPOCH + dt.timedelta(hours=int(serial.split("@")[0][1:]))
        return Content.build("event", {**values, "subject": serial, "start": start, "end": start + dt.timedelta(hours=1)})


POLICY = SyncPolicy(mass_delete_fraction=0.5, mass_delete_min_count=4, empty_side_min_linked=3)


class TwoWaySync(RuleBasedStateMachine):
    items: type[Contacts] | type[Events] = Contacts

    def __init__(self) -> None:
        super().__init__()
        self.crm, self.mailbox = Crm(), Mailbox()
        self.clock = EPOCH
        self.serials = itertools.count(1)
        self.created: set[str] = set()
        self.ever_deleted: set[str] = set()
        self.gone: set[str] = set()  # serials absent after a converged sync: they must never come back
        # since the last sync that applied its whole plan, per serial: sides that edited (or created) it,
        # sides that deleted it, and each side's latest content
        self.edited: dict[str, set[str]] = {}
        self.deleted: dict[str, set[str]] = {}
        self.latest: dict[tuple[str, str], Content] = {}
        self.expect_pause = False
        self.pauses = 0

    def tick(self) -> dt.datetime:
        self.clock += dt.timedelta(seconds=1)
        return self.clock

    def new_serial(self) -> str:
        serial = f"s{next(self.serials)}@example.test"
        self.created.add(serial)
        return serial

    def serial_of(self, content: Content) -> str:
        return self.items.serial_of(content)

    def draw_content(self, data: st.DataObject, serial: str) -> Content:
        fields = {name: st.sampled_from(values) for name, values in self.items.editable.items()}
        return self.items.with_identity(serial, data.draw(st.fixed_dictionaries(fields)))

    def draw_edit(self, data: st.DataObject, content: Content) -> Content:
        """The content with one field set to a value from its pool (maybe the same one: a no-op save)."""
        field = data.draw(st.sampled_from(sorted(self.items.editable)))
        value = data.draw(st.sampled_from(self.items.editable[field]))
        return self.items.with_identity(self.serial_of(content), {**content.values, field: value})

    def note_edit(self, serial: str, side: str, content: Content) -> None:
        self.edited.setdefault(serial, set()).add(side)
        self.latest[(serial, side)] = content

    def note_delete(self, serial: str, side: str) -> None:
        self.deleted.setdefault(serial, set()).add(side)
        self.ever_deleted.add(serial)

    # -- the CRM user ----------------------------------------------------------------------------------

    @rule(data=st.data())
    def local_create(self, data: st.DataObject) -> None:
        serial = self.new_serial()
        content = self.draw_content(data, serial)
        self.crm.user_create(content, self.tick())
        self.note_edit(serial, LOCAL, content)

    @precondition(lambda self: self.crm.rows)
    @rule(data=st.data())
    def local_edit(self, data: st.DataObject) -> None:
        local_id = data.draw(st.sampled_from(sorted(self.crm.rows)))
        old = self.crm.rows[local_id].content
        new = self.draw_edit(data, old)
        self.crm.user_update(local_id, new, self.tick())  # an unchanged value is a no-op save: new version only
        if new != old:
            self.note_edit(self.serial_of(new), LOCAL, new)

    @precondition(lambda self: self.crm.rows)
    @rule(data=st.data())
    def local_delete(self, data: st.DataObject) -> None:
        local_id = data.draw(st.sampled_from(sorted(self.crm.rows)))
        self.note_delete(self.serial_of(self.crm.rows[local_id].content), LOCAL)
        self.crm.user_delete(local_id, self.tick())

    # -- the agent in Outlook, and the server ----------------------------------------------------------

    @rule(data=st.data())
    def remote_create(self, data: st.DataObject) -> None:
        serial = self.new_serial()
        content = self.draw_content(data, serial)
        self.mailbox.user_create(content, self.tick())
        self.note_edit(serial, REMOTE, content)

    @precondition(lambda self: self.mailbox.items)
    @rule(data=st.data())
    def remote_edit(self, data: st.DataObject) -> None:
        remote_id = data.draw(st.sampled_from(sorted(self.mailbox.items)))
        old = self.mailbox.items[remote_id].content
        new = self.draw_edit(data, old)
        self.mailbox.user_update(remote_id, new, self.tick())
        if new != old:
            self.note_edit(self.serial_of(new), REMOTE, new)

    @precondition(lambda self: any(link.remote_id in self.mailbox.items for link in self.crm.links.values()))
    @rule(data=st.data())
    def both_sides_edit_one_item(self, data: st.DataObject) -> None:
        """The agent edits a contact in Outlook while someone edits it in the CRM: the conflicts' home."""
        linked = sorted(lid for lid, link in self.crm.links.items() if link.remote_id in self.mailbox.items)
        local_id = data.draw(st.sampled_from(linked))
        remote_id = self.crm.links[local_id].remote_id
        if local_id in self.crm.rows:
            old = self.crm.rows[local_id].content
            new = self.draw_edit(data, old)
            self.crm.user_update(local_id, new, self.tick())
            if new != old:
                self.note_edit(self.serial_of(new), LOCAL, new)
        old = self.mailbox.items[remote_id].content
        new = self.draw_edit(data, old)
        self.mailbox.user_update(remote_id, new, self.tick())
        if new != old:
            self.note_edit(self.serial_of(new), REMOTE, new)

    def linked_tagged_items(self) -> list[str]:
        linked = {link.remote_id for link in self.crm.links.values()}
        return sorted(rid for rid, item in self.mailbox.items.items() if item.tag and rid in linked)

    @precondition(lambda self: self.linked_tagged_items())
    @rule(data=st.data())
    def remote_copy_keeps_our_tag(self, data: st.DataObject) -> None:
        """The agent copies one of our contacts in Outlook: the copy carries our tag, but is another person.

        Only of linked items: a copy of our create made inside its crash window, whose original is deleted
        next, is read as the original moved (the documented limit), which this model would call a loss.
        """
        source = data.draw(st.sampled_from(self.linked_tagged_items()))
        serial = self.new_serial()
        copy = self.items.with_identity(serial, dict(self.mailbox.items[source].content.values))
        self.mailbox.user_create(copy, self.tick(), tag=self.mailbox.items[source].tag)
        self.note_edit(serial, REMOTE, copy)

    @precondition(lambda self: self.mailbox.items)
    @rule(data=st.data())
    def server_bumps_change_key(self, data: st.DataObject) -> None:
        self.mailbox.server_touch(data.draw(st.sampled_from(sorted(self.mailbox.items))))

    @precondition(lambda self: self.mailbox.items)
    @rule(data=st.data())
    def remote_delete(self, data: st.DataObject) -> None:
        remote_id = data.draw(st.sampled_from(sorted(self.mailbox.items)))
        self.note_delete(self.serial_of(self.mailbox.items[remote_id].content), REMOTE)
        self.mailbox.user_delete(remote_id)

    @precondition(lambda self: len(self.crm.links) >= POLICY.empty_side_min_linked)
    @rule()
    def mailbox_wiped(self) -> None:
        """The folder comes back empty (a broken migration, the wrong folder): must pause, not mirror."""
        for remote_id in sorted(self.mailbox.items):
            self.note_delete(self.serial_of(self.mailbox.items[remote_id].content), REMOTE)
            self.mailbox.user_delete(remote_id)
        self.expect_pause = True

    @precondition(lambda self: not self.crm.first_sync_done)
    @rule(data=st.data(), differ=st.booleans())
    def same_person_on_both_sides_before_first_sync(self, data: st.DataObject, differ: bool) -> None:
        serial = self.new_serial()
        content = self.draw_content(data, serial)
        self.crm.user_create(content, self.tick())
        other = self.draw_edit(data, content) if differ else content
        self.mailbox.user_create(other, self.tick())
        self.note_edit(serial, LOCAL, content)
        self.note_edit(serial, REMOTE, other)

    # -- the worker ------------------------------------------------------------------------------------

    @rule(crash_after=st.none() | st.integers(min_value=1, max_value=10), full_local=st.booleans())
    def sync(self, crash_after: int | None, full_local: bool) -> None:
        linked, completed = len(self.crm.links), self.crm.completed_syncs
        try:
            plan = run_sync(
                self.crm, self.mailbox, self.tick(), POLICY, crash_after=crash_after, full_local_listing=full_local
            )
        except Crash:
            event("sync crashed")
            return
        for action in plan.actions:
            event(f"action {type(action).__name__}")
        for conflict in plan.conflicts:
            event(f"conflict {conflict.decision}")
        if plan.paused is not None:
            event("paused by the mass-deletion guard")
        if self.expect_pause:
            assert plan.paused is not None, "a wiped mailbox was mirrored instead of pausing the sync"
        self.assert_no_mass_loss_mirrored(plan, linked)
        if self.crm.completed_syncs > completed:
            # Every plan action applied: whatever was edited or deleted before now has been settled, so
            # the expectations below only concern what happens from here on.
            self.edited, self.deleted, self.latest = {}, {}, {}

    @rule()
    def watermark_lost(self) -> None:
        """The sync state expired or was rejected: the next sync is a full resync."""
        self.crm.watermark = None

    # -- the end -----------------------------------------------------------------------------------------

    def assert_no_mass_loss_mirrored(self, plan: Plan, linked: int) -> None:
        for kinds in (DeleteLocal, (DeleteRemote, CancelRemote)):
            mirrored = sum(1 for action in plan.actions if isinstance(action, kinds))
            assert not (mirrored >= POLICY.mass_delete_min_count and mirrored > POLICY.mass_delete_fraction * linked)
            assert not (mirrored == linked >= POLICY.empty_side_min_linked)

    def converge(self) -> None:
        """Clean syncs until quiet; staff confirm a paused mass deletion as they would after checking it."""
        for _round in range(4):
            plan = run_sync(self.crm, self.mailbox, self.tick(), POLICY)
            if plan.paused is not None:
                self.pauses += 1
                plan = run_sync(self.crm, self.mailbox, self.tick(), POLICY, confirm_mass_deletion=True)
                self.expect_pause = False
            if plan.quiet:
                return
        raise AssertionError(f"no quiet sync after 4 rounds; last plan: {plan.actions}")

    @rule()
    def clean_sync_agrees(self) -> None:
        """Mid-run agreement: the invariants hold at any quiet point, not only at the end."""
        self.check_agreement()

    def teardown(self) -> None:
        self.check_agreement()

    def check_agreement(self) -> None:
        self.converge()
        crm, mailbox = self.crm, self.mailbox
        local = [self.serial_of(row.content) for row in crm.rows.values()]
        remote = [self.serial_of(item.content) for item in mailbox.items.values()]
        # none twice
        assert len(local) == len(set(local)), f"duplicate in the CRM: {sorted(local)}"
        assert len(remote) == len(set(remote)), f"duplicate in the mailbox: {sorted(remote)}"
        # the same items, linked one to one, content-equal; only a meeting cancelled in the CRM is the CRM's
        # alone (the mailbox cannot hold an organizer's cancelled meeting), unlinked and unmarked
        assert set(crm.links) <= set(crm.rows)
        for local_id in set(crm.rows) - set(crm.links):
            row = crm.rows[local_id]
            assert row.content.canonical.get("cancelled") and row.pushed_hash is None, f"{local_id} is not synced"
        assert {self.serial_of(crm.rows[local_id].content) for local_id in crm.links} == set(remote)
        assert {link.remote_id for link in crm.links.values()} == set(mailbox.items)
        assert not crm.tombstones
        for local_id, link in crm.links.items():
            assert crm.rows[local_id].content == mailbox.items[link.remote_id].content
        present = set(local)
        # none lost: never deleted anywhere means present
        assert self.created - self.ever_deleted <= present
        # deletions mirrored: deleted on one side and not edited on the other since the last complete sync
        other = {LOCAL: REMOTE, REMOTE: LOCAL}
        for serial, sides in self.deleted.items():
            edited_on = self.edited.get(serial, set())
            if any(other[side] not in edited_on for side in sides):
                assert serial not in present, f"{serial} was deleted on {sides}, edited on {edited_on}, yet came back"
        assert not (self.gone & present), f"deleted items came back: {sorted(self.gone & present)}"
        # an item edited on one side only ends with that side's latest content (but a meeting its organizer
        # cancelled stays cancelled: only the organizer can re-open it)
        in_mailbox = {self.serial_of(item.content): item.content for item in mailbox.items.values()}
        for serial, sides in self.edited.items():
            if len(sides) == 1 and serial in present and serial not in self.deleted:
                (side,) = sides
                row = next(r for r in crm.rows.values() if self.serial_of(r.content) == serial)
                expected = self.latest[(serial, side)]
                if side == LOCAL and in_mailbox.get(serial) is not None and in_mailbox[serial].canonical.get("cancelled"):
                    expected = expected.replace(cancelled=True)
                assert row.content == expected, f"{serial}: the {side} edit was lost"
        self.gone |= self.created - present
        self.edited, self.deleted, self.latest = {}, {}, {}


class TwoWayCalendarSync(TwoWaySync):
    """The same, with events that either side may cancel and re-open: a meeting the CRM cancels leaves the
    mailbox and stays in the CRM alone; re-opened, it comes back."""

    items = Events


for machine in (TwoWaySync, TwoWayCalendarSync):
    machine.TestCase.settings = (
        settings(max_examples=500, stateful_step_count=40, deadline=None, report_multiple_bugs=False)
        if settings.get_current_profile_name() == "default"
        else settings()  # a profile given on the command line (sync-soak) decides
    )
test_two_way_sync_converges_without_duplicates_or_losses = TwoWaySync.TestCase
test_two_way_calendar_sync_with_cancellations_converges = TwoWayCalendarSync.TestCase
