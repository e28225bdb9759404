"""A CRM write's prompt sync: sent at once without waiting for a dispatch, never a 500 when the broker is down,
and never a second lease (nor a brokerage over its cap) when it races the dispatcher."""

from __future__ import annotations

import datetime as dt
import logging
import socket
import threading

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from brokerages.models import Mailbox
from engage_sync.celery import app
from scheduling import dispatch, prompt
from tests.fixtures.broker import queue_is_empty, take_from_queue

pytestmark = pytest.mark.django_db(transaction=True)

CONTACT = {"given_name": "Ada", "surname": "Lovelace", "emails": ["ada@client.example"]}
LIVENESS_SECONDS = 30  # generous: the write must finish at all while the lock is held, not in a given time


def _post_contact_in_a_thread(crm_client, mailbox) -> tuple[threading.Thread, dict]:
    """POST a contact from another thread (its own database connection), as a second web request would."""
    answer: dict = {}

    def post():
        try:
            answer["response"] = crm_client.post(f"/api/mailboxes/{mailbox.pk}/contacts/", CONTACT, format="json")
        finally:
            connection.close()

    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    return thread, answer


def _other_session():
    """A second PostgreSQL session of the test database, outside Django: the "other transaction" holding a lock."""
    return psycopg.connect(**connection.get_connection_params())


def _published_lease() -> tuple[int, str]:
    """The (mailbox id, lease token) of the one sync task on the broker's sync queue."""
    (message,) = take_from_queue("sync", expect=1)
    args = message.decode()[0]
    return args[0], args[1]


def test_a_crm_write_does_not_wait_for_a_running_dispatch_and_its_sync_is_published(crm_client, mailbox):
    app.control.purge()
    # Given a dispatcher at work: another transaction holds the dispatcher's advisory lock
    with _other_session() as dispatcher:
        dispatcher.execute("SELECT pg_advisory_xact_lock(%s)", [dispatch._DISPATCH_LOCK_ID])
        assert dispatch.lease_due(10) is None  # the lock is real: a second dispatcher would skip its tick
        # When the CRM creates a contact meanwhile
        thread, answer = _post_contact_in_a_thread(crm_client, mailbox)
        thread.join(LIVENESS_SECONDS)
        # Then the request has finished while the lock is still held, with its 201
        assert not thread.is_alive(), "the CRM write waited for the dispatcher's lock"
        assert answer["response"].status_code == 201, answer["response"].content
        dispatcher.rollback()
    # And the mailbox's sync is on the broker, under the lease the prompt wrote, at the CRM-change priority
    row = Mailbox.objects.get(pk=mailbox.pk)
    assert (row.lease_owner, row.sync_priority) == (prompt.PROMPT_OWNER, prompt.PRIORITY_CRM_CHANGE)
    assert _published_lease() == (mailbox.pk, str(row.lease_token))


def test_a_crm_write_gives_up_on_a_brokerage_a_dispatch_is_leasing_and_the_next_tick_sends_it(crm_client, mailbox):
    app.control.purge()
    # Given a dispatcher in the middle of its leasing statement: it holds the brokerage's row lock
    with _other_session() as dispatcher:
        dispatcher.execute("SELECT id FROM brokerages_brokerage WHERE id = %s FOR NO KEY UPDATE", [mailbox.brokerage_id])
        # When the CRM creates a contact meanwhile
        thread, answer = _post_contact_in_a_thread(crm_client, mailbox)
        thread.join(LIVENESS_SECONDS)
        # Then the request has finished while the row is still locked, with its 201, and the mailbox waits, due
        assert not thread.is_alive(), "the CRM write waited for the dispatcher's row lock"
        assert answer["response"].status_code == 201, answer["response"].content
        dispatcher.rollback()
    row = Mailbox.objects.get(pk=mailbox.pk)
    assert row.lease_token is None and row.next_sync_at <= timezone.now() and row.sync_priority == prompt.PRIORITY_CRM_CHANGE
    assert queue_is_empty()
    # And the dispatcher's next tick sends it
    assert dispatch.dispatch().published == 1
    assert _published_lease() == (mailbox.pk, str(Mailbox.objects.get(pk=mailbox.pk).lease_token))


def _closed_port() -> int:
    """A local port nothing listens on (bound once by us, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_with_the_broker_unreachable_a_crm_write_answers_201_and_the_next_tick_sends_it(crm_client, mailbox, settings, caplog):
    app.control.purge()
    # Given a prompt publisher whose broker cannot be reached (the shared RabbitMQ itself stays up)
    settings.SYNC_PROMPT_BROKER_URL = f"amqp://guest:guest@127.0.0.1:{_closed_port()}//"
    # When the CRM creates a contact
    with caplog.at_level(logging.WARNING, logger="scheduling.prompt"):
        response = crm_client.post(f"/api/mailboxes/{mailbox.pk}/contacts/", CONTACT, format="json")
    # Then its row is committed and the client told so: 201, never a 500
    assert response.status_code == 201, response.content
    assert "could not publish the sync of mailbox" in caplog.text
    # And the mailbox is left as the dispatcher wants it: due, at the CRM-change priority, not leased
    row = Mailbox.objects.get(pk=mailbox.pk)
    assert row.lease_token is None and row.lease_expires_at is None
    assert row.next_sync_at <= timezone.now() and row.sync_priority == prompt.PRIORITY_CRM_CHANGE
    assert queue_is_empty()
    # And the dispatcher's next tick (on Celery's broker, which is up) publishes it
    assert dispatch.dispatch().published == 1
    assert _published_lease() == (mailbox.pk, str(Mailbox.objects.get(pk=mailbox.pk).lease_token))


ROUNDS = 300


def test_a_prompt_racing_a_dispatcher_tick_never_leases_a_mailbox_twice_nor_passes_the_cap(make_brokerage):
    # Given a brokerage at cap 1 with two due mailboxes, and one at cap 10 with one due mailbox
    capped, roomy = make_brokerage("Capped", mailboxes=2, cap=1), make_brokerage("Roomy", mailboxes=1, cap=10)
    first_capped, contested = capped.mailboxes.order_by("email").first().pk, roomy.mailboxes.get().pk
    start, done = threading.Barrier(4), threading.Barrier(4)
    results: dict[str, list] = {"prompt_capped": [], "prompt_contested": [], "dispatcher": []}
    errors: list[BaseException] = []

    def racer(name, lease):
        try:
            for _ in range(ROUNDS):
                try:
                    start.wait()
                except threading.BrokenBarrierError:  # the main thread failed a round and stopped the race
                    return
                try:
                    results[name].append(lease())
                except BaseException as error:  # reported by the main thread
                    errors.append(error)
                    results[name].append(None)
                try:
                    done.wait()
                except threading.BrokenBarrierError:
                    return
        finally:
            connection.close()

    racers = [
        threading.Thread(daemon=True, target=racer, args=("prompt_capped", lambda: prompt.lease_one(first_capped))),
        threading.Thread(daemon=True, target=racer, args=("prompt_contested", lambda: prompt.lease_one(contested))),
        threading.Thread(daemon=True, target=racer, args=("dispatcher", lambda: dispatch.lease_due(10))),
    ]
    for thread in racers:
        thread.start()
    winners = {"prompt": 0, "dispatcher": 0}
    try:
        _check_rounds(capped, contested, start, done, results, errors, winners)
    finally:
        start.abort()  # a failed round must not leave the racers waiting forever
        done.abort()
        for thread in racers:
            thread.join(LIVENESS_SECONDS)
    # (Both sides won the contested mailbox in some rounds: the race was really run.)
    assert winners["prompt"] and winners["dispatcher"], winners


def _check_rounds(capped, contested, start, done, results, errors, winners) -> None:
    for round_ in range(ROUNDS):
        # When, each round, everything is due again and a prompt per brokerage races one dispatcher tick
        Mailbox.objects.update(lease_token=None, lease_owner="", lease_expires_at=None,
                               next_sync_at=timezone.now() - dt.timedelta(seconds=1))  # fmt: skip
        start.wait()
        done.wait()
        assert not errors, errors
        leases = [item for item in (results["prompt_capped"][round_], results["prompt_contested"][round_]) if item]
        leases += results["dispatcher"][round_] or []
        # Then no mailbox was leased by both, every lease handed out is the one the row holds,
        ids = [item.mailbox_id for item in leases]
        assert len(ids) == len(set(ids)), f"round {round_}: a mailbox leased twice: {leases}"
        held = dict(Mailbox.objects.filter(lease_token__isnull=False).values_list("pk", "lease_token"))
        assert {item.mailbox_id: item.lease_token for item in leases} == {pk: str(token) for pk, token in held.items()}
        # and the capped brokerage never had more than one mailbox leased
        assert Mailbox.objects.filter(brokerage=capped, lease_token__isnull=False).count() <= 1, f"round {round_}"
        owner = Mailbox.objects.get(pk=contested).lease_owner
        if owner:
            winners["prompt" if owner == prompt.PROMPT_OWNER else "dispatcher"] += 1
