"""Model test of the production sync: the real engine, executor and ledger on PostgreSQL, the real EWS gateway over
HTTPS to the simulator, driven through random histories.

Given a CRM mailbox and its simulated Exchange mailbox that start empty, when any interleaving of CRM and Outlook
creates, edits and deletes (also in the middle of a sync, between any two of its requests), faults on any request
(a dropped connection, a timeout after Exchange committed, throttling, a 503, an invalid sync state), and syncs cut
off after any request or at a failpoint has run, then once the faults stop, two clean syncs leave both sides
agreeing: every CRM contact linked to one mailbox contact with equal content, nothing twice, nothing lost, and every
deletion propagated — or undone by the documented policy (an edit on the other side beats it; a create whose answer
was lost and which the agent then deleted is created again, sync/README.md "Our writes are confirmed").

Contacts only (the calendar's own rules are the pure model's, tests/sync/test_model_sync.py). Bounded for the suite
(a few short histories, about a minute); the soak: `pytest tests/sync/test_model_engine.py
--hypothesis-profile=sync-engine-soak` (tests/sync/conftest.py).
"""

from __future__ import annotations

import itertools
import uuid

import pytest
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from brokerages.gateways import gateway_for_mailbox
from brokerages.models import Mailbox
from engage_sync import failpoints
from mailboxes.errors import GatewayError
from mailboxes.items import Collection
from sync import records
from sync.engine import sync_mailbox
from sync.models import BrokerageSyncSettings, Contact, FolderState, SyncLink
from tests.fixtures.crm import brokerage_for

LOCAL, REMOTE = "crm", "outlook"
FAULTS = ("drop_connection", "timeout_after_commit", "server_busy", "http_503", "invalid_sync_state")
OPERATIONS = (None, "SyncFolderItems", "GetItem", "CreateItem", "UpdateItem", "DeleteItem", "FindItem")
FAILPOINTS = ("sync.after_remote_create", "sync.before_confirming_read")
COMPANIES, TITLES = ("", "ACME", "Globex"), ("", "Broker", "Buyer")
PICK = st.integers(0, 63)  # which contact, modulo how many there are


class Crash(Exception):
    """The worker died here (after a request went out and its answer came back, before the engine used it)."""


class Interleaved:
    """The real gateway, with the model's hands on it: before a chosen request the user acts (in Outlook or the
    CRM); after a chosen request the worker dies. Change pages are read at once, so a read is one request."""

    def __init__(self, real, hook) -> None:
        self._real, self._hook, self.calls = real, hook, 0

    def __getattr__(self, name: str):
        attr = getattr(self._real, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            self.calls += 1
            number = self.calls
            self._hook(number, "before")
            result = attr(*args, **kwargs)
            if name == "read_changes":
                result = iter(list(result))
            self._hook(number, "after")
            return result

        return call


class ProductionSync(RuleBasedStateMachine):
    """One example: a fresh simulated mailbox and its CRM mailbox row; the class holds the session's tenant."""

    simulator = None
    tenant = None
    brokerage = None

    def __init__(self) -> None:
        super().__init__()
        address = f"model-{uuid.uuid4().hex[:10]}@{self.tenant.domain}"
        self.simulator.create_mailboxes(self.tenant.tenant_id, [{"address": address, "display_name": "Model"}])
        self.mailbox = Mailbox.objects.create(brokerage=self.brokerage, email=address, display_name="Model",
                                              calendar_enabled=False)  # fmt: skip
        self.address = address
        self.serials = itertools.count(1)
        self.created: set[str] = set()
        self.ever_deleted: set[str] = set()
        self.gone: set[str] = set()
        # since the last convergence: who edited / deleted each serial, and deletions in the lost-answer window
        self.edited: dict[str, set[str]] = {}
        self.deleted: dict[str, set[str]] = {}
        self.lost_answer: set[str] = set()

    # -- both users ----------------------------------------------------------------------------------------

    def new_serial(self) -> str:
        serial = f"s{next(self.serials)}-{self.address.split('@')[0]}@client.example"
        self.created.add(serial)
        self.edited.setdefault(serial, set())
        return serial

    # Both sides in the order of their serials, not of their ids (random UUIDs, server ids): hypothesis replays an
    # example by its choices, which must pick the same contact each time.
    def crm_rows(self) -> list[Contact]:
        rows = Contact.objects.filter(mailbox=self.mailbox, deleted_at__isnull=True)
        return sorted(rows, key=lambda row: (_number(row.emails[0]), str(row.pk)))

    def outlook_items(self) -> list[dict]:
        items = self.simulator.list_items(self.address, "contacts")
        return sorted(items, key=lambda item: (_number(_serial(item)), item["id"]))

    # Every choice is drawn by the rule, before anything runs: what is there to pick from depends on what the
    # mailbox and the CRM hold, so a contact is picked by a number modulo their count, never by a draw from them.
    def do_crm_create(self, pick: int, value: str) -> None:
        serial = self.new_serial()
        Contact(mailbox=self.mailbox, given_name="Crm", emails=[serial], company=value).save()
        self.edited[serial].add(LOCAL)

    def do_crm_edit(self, pick: int, value: str) -> None:
        rows = self.crm_rows()
        if not rows:
            return
        row = rows[pick % len(rows)]
        row.job_title = value
        row.save()
        self.edited.setdefault(row.emails[0], set()).add(LOCAL)

    def do_crm_delete(self, pick: int, value: str) -> None:
        rows = self.crm_rows()
        if not rows:
            return
        row = rows[pick % len(rows)]
        row.deleted_at = timezone.now()  # as the API's DELETE: a tombstone until the mailbox mirrors it
        row.save()
        self.note_delete(row.emails[0], LOCAL)

    def do_outlook_create(self, pick: int, value: str) -> None:
        serial = self.new_serial()
        self.simulator.user_create(self.address, "contacts", {"given_name": "Outlook", "emails": [serial],
                                                              "company_name": value})
        self.edited[serial].add(REMOTE)

    def do_outlook_edit(self, pick: int, value: str) -> None:
        items = self.outlook_items()
        if not items:
            return
        item = items[pick % len(items)]
        self.simulator.user_update(self.address, item["id"], {"job_title": value})
        self.edited.setdefault(_serial(item), set()).add(REMOTE)

    def do_outlook_delete(self, pick: int, value: str) -> None:
        items = self.outlook_items()
        if not items:
            return
        item = items[pick % len(items)]
        tag = next(iter(item.get("extended", {}).values()), None)
        if tag and not SyncLink.objects.filter(mailbox=self.mailbox, remote_id=item["id"]).exists() and \
                Contact.objects.filter(pk=tag).exclude(pushed_hash="").exists():  # fmt: skip
            # Our create whose answer never came back (no link, the row's mark): the documented window.
            self.lost_answer.add(_serial(item))
        self.simulator.user_delete(self.address, item["id"])
        self.note_delete(_serial(item), REMOTE)

    def note_delete(self, serial: str, side: str) -> None:
        self.deleted.setdefault(serial, set()).add(side)
        self.ever_deleted.add(serial)

    ACTIONS = ("crm_create", "crm_edit", "crm_delete", "outlook_create", "outlook_edit", "outlook_delete")

    # One rule each, so that users act more often than anything else happens.
    @rule(value=st.sampled_from(COMPANIES))
    def crm_create(self, value: str) -> None:
        self.do_crm_create(0, value)

    @rule(pick=PICK, value=st.sampled_from(TITLES))
    def crm_edit(self, pick: int, value: str) -> None:
        self.do_crm_edit(pick, value)

    @rule(pick=PICK)
    def crm_delete(self, pick: int) -> None:
        self.do_crm_delete(pick, "")

    @rule(value=st.sampled_from(COMPANIES))
    def outlook_create(self, value: str) -> None:
        self.do_outlook_create(0, value)

    @rule(pick=PICK, value=st.sampled_from(TITLES))
    def outlook_edit(self, pick: int, value: str) -> None:
        self.do_outlook_edit(pick, value)

    @rule(pick=PICK)
    def outlook_delete(self, pick: int) -> None:
        self.do_outlook_delete(pick, "")

    # -- Exchange and the worker ---------------------------------------------------------------------------

    @rule(kind=st.sampled_from(FAULTS), operation=st.sampled_from(OPERATIONS), count=st.integers(1, 2))
    def fault(self, kind: str, operation: str | None, count: int) -> None:
        """A fault on the next matching request(s) of this mailbox, kept until it fires or the faults stop."""
        if kind == "invalid_sync_state":
            operation = "SyncFolderItems"
        self.simulator.add_fault(kind, mailbox=self.address, operation=operation, count=count, back_off_ms=1000)

    @rule(
        user_before=st.none() | st.integers(1, 6),
        action=st.sampled_from(ACTIONS),
        pick=PICK,
        value=st.sampled_from(TITLES),
        crash_after=st.none() | st.integers(1, 6),
        point=st.none() | st.sampled_from(FAILPOINTS),
        rounds=st.integers(0, 2),
    )
    def sync(self, user_before, action, pick, value, crash_after, point, rounds) -> None:
        """One sync, maybe with the user acting before its n-th request and the worker dying after its m-th, with
        0 to 2 re-plan rounds (SYNC_REPLAN_ROUNDS: with 0, a round that writes is the sync's last)."""

        def hook(number: int, when: str) -> None:
            if when == "before" and number == user_before:
                getattr(self, f"do_{action}")(pick, value)
            if when == "after" and number == crash_after:
                raise Crash(number)

        if point:
            failpoints._ACTIVE[point] = "raise"
        try:
            row = Mailbox.objects.select_related("brokerage").get(pk=self.mailbox.pk)
            with override_settings(SYNC_REPLAN_ROUNDS=rounds):
                result = sync_mailbox(row, Interleaved(gateway_for_mailbox(row), hook), lambda: None)
            event("sync paused" if result.paused_reason else "sync completed")
        except (GatewayError, Crash, failpoints.FailpointTriggered) as error:
            event(f"sync cut off: {type(error).__name__}")
        finally:
            failpoints._ACTIVE.pop(point, None)

    # -- the end -------------------------------------------------------------------------------------------

    def clean_sync(self) -> None:
        row = Mailbox.objects.select_related("brokerage").get(pk=self.mailbox.pk)
        result = sync_mailbox(row, gateway_for_mailbox(row), lambda: None)
        if result.paused_reason:  # staff confirm a paused mass deletion after checking it, as they would
            event("paused by the mass-deletion guard")
            FolderState.objects.filter(mailbox=self.mailbox).update(confirm_mass_deletion=True)
            assert not sync_mailbox(row, gateway_for_mailbox(row), lambda: None).paused_reason

    @rule()
    def faults_stop_and_both_sides_agree(self) -> None:
        self.check_agreement()

    def teardown(self) -> None:
        self.check_agreement()

    def check_agreement(self) -> None:
        for rule_ in self.simulator.faults():
            if rule_["mailbox"] == self.address.lower():
                self.simulator.remove_fault(rule_["rule_id"])
        self.clean_sync()
        self.clean_sync()
        rows, items = self.crm_rows(), self.outlook_items()
        local, remote = [row.emails[0] for row in rows], [_serial(item) for item in items]
        # nothing twice
        assert len(local) == len(set(local)), f"a duplicate in the CRM: {sorted(local)}"
        assert len(remote) == len(set(remote)), f"a duplicate in the mailbox: {sorted(remote)}"
        # both sides agree: the same people, linked one to one, with equal content; no tombstone left
        assert set(local) == set(remote), f"CRM only: {set(local) - set(remote)}; Outlook only: {set(remote) - set(local)}"
        assert not Contact.objects.filter(mailbox=self.mailbox, deleted_at__isnull=False).exists()
        links = {str(link.local_id): link.remote_id for link in SyncLink.objects.filter(mailbox=self.mailbox)}
        assert set(links) == {str(row.pk) for row in rows} and set(links.values()) == {item["id"] for item in items}
        gateway = gateway_for_mailbox(Mailbox.objects.select_related("brokerage").get(pk=self.mailbox.pk))
        stored = dict(zip(links.values(), gateway.fetch(self.address, Collection.CONTACTS, list(links.values())),
                          strict=True))  # fmt: skip
        for row in rows:
            assert records.row_content(row) == records.item_content(stored[links[str(row.pk)]].item), row.emails[0]
        # nothing lost; every deletion propagated, or undone by an edit on the other side, or in the documented window
        present = set(local)
        assert self.created - self.ever_deleted <= present, f"lost: {sorted(self.created - self.ever_deleted - present)}"
        for serial, sides in self.deleted.items():
            if serial in present:
                edited_elsewhere = self.edited.get(serial, set()) - sides
                assert edited_elsewhere or serial in self.lost_answer, f"{serial} deleted in {sides} came back"
                event("a deletion undone by the policy")
        assert not (self.gone & present), f"deleted contacts came back: {sorted(self.gone & present)}"
        self.gone |= self.created - present
        self.edited, self.deleted, self.lost_answer = {}, {}, set()


def _serial(item: dict) -> str:
    return (item["fields"].get("email1") or "").lower()


def _number(serial: str) -> int:
    """The serial's number: s12-model-…@client.example → 12."""
    return int(serial.split("-", 1)[0].removeprefix("s") or 0)


BOUNDED = settings(max_examples=80, stateful_step_count=30, deadline=None, report_multiple_bugs=False,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])  # fmt: skip


def test_the_production_sync_converges_through_faults_crashes_and_edits_at_any_moment(simulator, sim_tenant, db):
    tenant = sim_tenant(mailboxes=1)
    brokerage = brokerage_for(tenant, name="Model Realty")
    BrokerageSyncSettings.objects.create(brokerage=brokerage)  # the documented defaults: merge, edit beats delete
    ProductionSync.simulator, ProductionSync.tenant, ProductionSync.brokerage = simulator, tenant, brokerage
    chosen = BOUNDED if settings.get_current_profile_name() == "default" else settings()
    run_state_machine_as_test(ProductionSync, settings=chosen)


@pytest.fixture(autouse=True)
def _no_failpoint_left():
    yield
    for point in FAILPOINTS:
        failpoints._ACTIVE.pop(point, None)
