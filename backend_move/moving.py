"""Moving a brokerage to another mailbox backend (EWS → Microsoft Graph, or back), mailbox by mailbox, resumable.

1. **Verify the target** (the gateway's token and mailbox checks on the test mailbox; Graph too when moving back,
   since the ids are translated there). If it does not verify, the move is *refused* and nothing is touched.
2. **Per mailbox, under its sync lease**: the move takes the mailbox's lease as the dispatcher does (a conditional
   UPDATE that only succeeds when no sync holds it; it waits for a running sync to give it back) and *keeps* it,
   under the move's own token, until the backend is switched. So no sync runs on a mailbox whose stored ids are
   already the target's while the brokerage still syncs on the source, not even after a crash of the move's worker
   (the held leases outlive it; the redelivered task or a new request resumes with the same token).
   Then every stored id of the mailbox — links' remote ids, and the draft/message ids of emails not yet sent —
   is translated with ``translateExchangeIds`` (≤ 1,000 a request), and in ONE transaction the links and emails
   get their new ids, the folders' watermarks are dropped (the first sync on the target reads every folder in
   full and matches by link and tag instead of creating) and the mailbox's done marker is set. A crash before the
   commit redoes the mailbox; after it, the marker skips it: a stored id is never translated twice.
   An id that names no item any more is left as it is: the first full read on the target does not list it, so
   the engine's ordinary deletion handling (edit beats delete, the mass-deletion guard) deals with it.
   An email's id changed by a send attempt meanwhile is not overwritten: the outbox reconciles by our tag anyway.
3. **Switch**: when every mailbox is done, one transaction locks the brokerage row, sets its backend and gives
   every held lease back with the mailboxes due now. A mailbox added during the move is moved first.
   The backend is switched per brokerage, not per mailbox: it is one column the gateway reads, and a half-moved
   brokerage is never synced (its moved mailboxes are held), so per-mailbox backends would buy nothing.

Lock order: a mailbox's lease (never waited for under a transaction), then in the per-mailbox transaction the
marker row, the links, emails and folder states; the switch takes the brokerage row, then its mailbox rows — the
dispatcher's order. One runner per move at a time (a PostgreSQL advisory lock, released if its process dies).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import replace
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from backend_move.models import BackendMove, MailboxMove
from brokerages.gateways import connection_details, token_provider
from brokerages.models import Brokerage, Mailbox
from engage_sync.failpoints import failpoint
from mailboxes.errors import GatewayError
from mailboxes.gateway import open_gateway
from outbox.models import OutgoingEmail
from sync.models import FolderState, SyncLink

log = logging.getLogger(__name__)

BACKENDS = {Brokerage.Backend.EWS.value: "EWS", Brokerage.Backend.GRAPH.value: "Microsoft Graph"}
TRANSLATE_BATCH = 1000  # translateExchangeIds' maximum per request
_ADVISORY_CLASS = 0x4D4F5645  # "MOVE": the advisory-lock namespace of move runners
MOVE_OWNER = "backend-move:{}"


class MoveRefused(ValueError):
    """The move cannot be started (already on the target, unknown backend); the message says why."""


class MailboxBusy(RuntimeError):
    """A sync held the mailbox's lease for longer than the move waits; the move stops and is resumed later."""


# --- requesting ------------------------------------------------------------------------------------------------


def request_move(brokerage: Brokerage, target: str, *, requested_by=None) -> BackendMove:
    """Create (or resume) the brokerage's move to ``target`` and queue it; the caller's transaction publishes it."""
    if target not in BACKENDS:
        raise MoveRefused(f"Unknown backend {target!r}; choose one of {', '.join(BACKENDS)}.")
    with transaction.atomic():
        Brokerage.objects.select_for_update().filter(pk=brokerage.pk).first()  # one request at a time per brokerage
        move = BackendMove.objects.filter(brokerage=brokerage, state__in=BackendMove.UNFINISHED).first()
        if move is not None and move.target != target:
            raise MoveRefused(f"{brokerage.name}: a move to {BACKENDS[move.target]} is unfinished; resume it first.")
        if move is None:
            current = Brokerage.objects.values_list("mailbox_backend", flat=True).get(pk=brokerage.pk)
            if current == target:
                raise MoveRefused(f"{brokerage.name} is on {BACKENDS[target]} already.")
            move = BackendMove.objects.create(brokerage=brokerage, source=current, target=target, requested_by=requested_by)
        elif move.state == BackendMove.State.FAILED:
            BackendMove.objects.filter(pk=move.pk).update(state=BackendMove.State.QUEUED, error="")
        transaction.on_commit(lambda: _publish(move.pk))
    return move


def _publish(move_id: int) -> None:
    from tasks.maintenance import move_backend

    move_backend.delay(move_id)


# --- running ---------------------------------------------------------------------------------------------------


def run_move(move_id: int) -> str:
    """Run (or resume) the move to its end; returns its state. A second runner of the same move does nothing."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_ADVISORY_CLASS, move_id])
        if not cursor.fetchone()[0]:
            return "busy"
    try:
        return _run(BackendMove.objects.select_related("brokerage").get(pk=move_id))
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_ADVISORY_CLASS, move_id])


def _run(move: BackendMove) -> str:
    if move.state not in BackendMove.UNFINISHED:
        return move.state
    BackendMove.objects.filter(pk=move.pk).update(state=BackendMove.State.RUNNING, attempts=F("attempts") + 1,
                                                  started_at=move.started_at or timezone.now(), error="")
    brokerage = move.brokerage
    refusal = verify_target(brokerage, move.target)
    if refusal:
        started = MailboxMove.objects.filter(move=move, done_at__isnull=False).exists()
        # Nothing done yet: refused, the brokerage stays as it was. Some mailboxes moved (a resume): it must end.
        state = BackendMove.State.FAILED if started else BackendMove.State.REFUSED
        if not started:  # a lease taken before a crash, no id stored under it: the mailbox may sync on as before
            Mailbox.objects.filter(lease_token=move.lease_token).update(lease_token=None, lease_owner="", lease_expires_at=None)
        _finish(move, state, refusal)
        return state
    translator = _graph(brokerage)
    try:
        while True:
            _mark_mailboxes(move)
            for marker in MailboxMove.objects.filter(move=move, done_at__isnull=True).select_related("mailbox"):
                move_mailbox(move, marker, translator)
            if _switch(move):
                return BackendMove.State.DONE
    except (GatewayError, MailboxBusy) as error:
        _finish(move, BackendMove.State.FAILED, f"{error}. {getattr(error, 'remedy', '')}".strip())
        return BackendMove.State.FAILED


def verify_target(brokerage: Brokerage, target: str) -> str:
    """"" when the target verifies (token and test mailbox; Graph also when moving back: ids are translated
    there); otherwise what failed and its remedy, for staff."""
    for backend in dict.fromkeys([target, Brokerage.Backend.GRAPH.value]):
        gateway = _gateway_on(brokerage, backend)
        try:
            gateway.check_token(fresh=True)  # the permissions granted now, not those of a cached token
            gateway.check_mailbox(brokerage.test_mailbox)
        except GatewayError as error:
            remedy = getattr(error, "remedy", "")
            return f"{BACKENDS[backend]} does not verify: {error}" + (f" — {remedy}" if remedy else "")
    return ""


def _gateway_on(brokerage: Brokerage, backend: str):
    return open_gateway(replace(connection_details(brokerage), backend=backend), token_provider())


def _graph(brokerage: Brokerage):
    return _gateway_on(brokerage, Brokerage.Backend.GRAPH.value)


def _mark_mailboxes(move: BackendMove) -> None:
    ids = Mailbox.objects.filter(brokerage_id=move.brokerage_id).values_list("pk", flat=True)
    MailboxMove.objects.bulk_create([MailboxMove(move=move, mailbox_id=pk) for pk in ids], ignore_conflicts=True)
    BackendMove.objects.filter(pk=move.pk).update(mailboxes_total=MailboxMove.objects.filter(move=move).count())


def hold_lease(move: BackendMove, mailbox_id: int) -> None:
    """Take the mailbox's sync lease for the move (or find it already ours), waiting for a running sync to end."""
    hold = timedelta(seconds=settings.BACKEND_MOVE_HOLD_SECONDS)
    deadline = time.monotonic() + settings.BACKEND_MOVE_LEASE_WAIT_SECONDS
    while True:
        now = timezone.now()
        free = Q(lease_token=move.lease_token) | Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now)
        taken = Mailbox.objects.filter(free, pk=mailbox_id).update(
            lease_token=move.lease_token, lease_owner=MOVE_OWNER.format(move.pk), lease_expires_at=now + hold)
        if taken:
            return
        if time.monotonic() > deadline:
            raise MailboxBusy(f"Mailbox {mailbox_id} stayed leased by a sync for "
                              f"{settings.BACKEND_MOVE_LEASE_WAIT_SECONDS}s; resume the move")
        time.sleep(0.5)


def move_mailbox(move: BackendMove, marker: MailboxMove, gateway) -> None:
    """Translate the mailbox's stored ids and drop its watermarks, in one transaction with its done marker."""
    mailbox = marker.mailbox
    hold_lease(move, mailbox.pk)
    links = list(SyncLink.objects.filter(mailbox_id=mailbox.pk).values_list("pk", "remote_id"))
    emails = list(
        OutgoingEmail.objects.filter(mailbox_id=mailbox.pk).exclude(status=OutgoingEmail.Status.SENT)
        .exclude(draft_id="", remote_message_id="").values_list("pk", "draft_id", "remote_message_id")
    )  # fmt: skip
    wanted = list(dict.fromkeys([rid for _, rid in links] + [i for _, d, r in emails for i in (d, r) if i]))
    translate = gateway.translate_ews_ids if move.target == Brokerage.Backend.GRAPH else gateway.translate_graph_ids
    new_ids = _patiently(lambda: translate(mailbox.email, wanted)) if wanted else {}
    requests = -(-len(wanted) // TRANSLATE_BATCH)
    failpoint("backend_move.after_translate")
    with transaction.atomic():
        if MailboxMove.objects.select_for_update().get(pk=marker.pk).done_at is not None:
            return  # another runner finished it (cannot happen under the advisory lock; cheap to be sure)
        changed = [SyncLink(pk=pk, remote_id=new_ids[rid]) for pk, rid in links if new_ids.get(rid)]
        SyncLink.objects.bulk_update(changed, ["remote_id"], batch_size=500)
        emails_changed = sum(_translate_email(pk, draft, message, new_ids) for pk, draft, message in emails)
        FolderState.objects.filter(mailbox_id=mailbox.pk).update(watermark="")
        gone = len(links) - len(changed)
        MailboxMove.objects.filter(pk=marker.pk).update(done_at=timezone.now(), translated=len(changed), gone=gone,
                                                        requests=requests)
        BackendMove.objects.filter(pk=move.pk).update(
            mailboxes_done=F("mailboxes_done") + 1, ids_translated=F("ids_translated") + len(changed),
            ids_gone=F("ids_gone") + gone, emails_translated=F("emails_translated") + emails_changed)
    failpoint("backend_move.after_mailbox")


def _patiently(call):
    """The call, retried after Microsoft's back-off (throttling, a network failure) a few times before the move
    stops; a permanent failure (consent withdrawn, mailbox gone) stops it at once."""
    for attempt in range(settings.BACKEND_MOVE_RETRIES + 1):
        try:
            return call()
        except GatewayError as error:
            if error.permanent or attempt == settings.BACKEND_MOVE_RETRIES:
                raise
            time.sleep(min(getattr(error, "back_off_seconds", 5.0), 60.0))
    raise AssertionError("unreachable")


def _translate_email(pk: uuid.UUID, draft: str, message: str, new_ids: dict[str, str | None]) -> int:
    """Store the email's translated ids unless an attempt changed them meanwhile (it reconciles by tag then)."""
    fields = {name: new_ids[old] for name, old in (("draft_id", draft), ("remote_message_id", message))
              if old and new_ids.get(old)}
    if not fields:
        return 0
    return OutgoingEmail.objects.filter(pk=pk, draft_id=draft, remote_message_id=message).update(**fields)


def _switch(move: BackendMove) -> bool:
    """Set the brokerage's backend and give the held leases back, once every mailbox is done; False: some is not."""
    with transaction.atomic():
        # FOR UPDATE: a mailbox insert (its foreign key takes KEY SHARE on this row) waits until the switch commits.
        Brokerage.objects.select_for_update().get(pk=move.brokerage_id)
        pending = MailboxMove.objects.filter(move=move, done_at__isnull=True).exists()
        unmarked = Mailbox.objects.filter(brokerage_id=move.brokerage_id).exclude(
            pk__in=MailboxMove.objects.filter(move=move).values("mailbox_id")).exists()
        if pending or unmarked:
            return False
        now = timezone.now()
        Brokerage.objects.filter(pk=move.brokerage_id).update(mailbox_backend=move.target, updated_at=now)
        Mailbox.objects.filter(brokerage_id=move.brokerage_id, lease_token=move.lease_token).update(
            lease_token=None, lease_owner="", lease_expires_at=None, next_sync_at=now)
        BackendMove.objects.filter(pk=move.pk).update(state=BackendMove.State.DONE, finished_at=now, error="")
    log.info("backend move %s: brokerage %s is on %s", move.pk, move.brokerage_id, move.target)
    return True


def _finish(move: BackendMove, state: str, error: str) -> None:
    BackendMove.objects.filter(pk=move.pk).update(state=state, error=error[:4000], finished_at=timezone.now())
    log.warning("backend move %s of brokerage %s: %s: %s", move.pk, move.brokerage_id, state, error)
