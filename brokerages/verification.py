"""Verification of credentials (the integration guide's onboarding step): can we really reach the brokerage's mailboxes,
and on which backend?

A run is a fixed sequence of steps, each recorded as it finishes (outcome, milliseconds, error class and
remedy): credentials entered → test mailbox inside the brokerage's domains (refused before any request,
invariant 6) → then, on the brokerage's own backend, in full: a fresh token carrying the application permissions
the backend declares (EWS: full_access_as_app; Microsoft Graph: Contacts.ReadWrite, Calendars.ReadWrite,
Mail.ReadWrite, Mail.Send) → the test mailbox reached as the backend reaches it (EWS: impersonation; Graph: within
the app's mailbox scope) → contacts and calendar readable → a test contact and a test event created and removed →
optionally a test message sent to the mailbox itself and found in Sent Items; each backend stops at its first
failure. Every other backend is then probed for its token and the test mailbox only (writing nothing), so the
run's verdict (``VerificationRun.backends``) says which backends the brokerage's tenant lets the app use, with the
remedy of each failure: an EWS brokerage whose tenant switched EWS off learns that Graph works. Step labels and
remedies come from what the gateway declares (``AccessNeeds``) and its error classes: no protocol here.

The run's outcome is its own backend's; the probes never change it. Status rules: a brokerage still onboarding
(new / verifying / verified / cannot be verified) shows *Verifying* while a run works and ends *Verified* or
*Cannot be verified*. An active, paused or disabled brokerage keeps its status: a success stamps ``verified_at``; a failure is recorded and mailed to staff but
does not pause syncs (they meet the same classified error per mailbox and resume by themselves once the
brokerage's administrator fixes it; a pause would need a person to undo it, even after a passing hiccup).
A run that fails **transiently** (throttled, the network, a Microsoft 5xx) is retried by a new run on its own
due time (the wait doubling from a minute, or Microsoft's back-off if longer, to an hour; VERIFY_TRANSIENT_RETRIES
times), staff being mailed only when the retries are used up; after that the daily re-verification keeps trying
it, a brokerage left *Cannot be verified* by a transient failure included — so its remedy's "resumes by itself"
holds.
A run of the *next* secret (zero-gap rotation) promotes it when it verifies; the current secret keeps
working until that moment, and a failing next secret changes nothing but the record.

No Celery here: runs are published by task name, after commit or by beat's sweep once due (publish_due_runs);
tasks/verify.py executes them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from brokerages import audit
from brokerages.gateways import gateway_for_brokerage
from brokerages.models import Brokerage, VerificationRun, VerificationStep
from mailboxes.errors import (
    ACCESS_ERROR_CLASSES,
    AccessError,
    GatewayError,
    MailboxNotAllowed,
    Throttled,
    UnknownFailure,
    classify_exception,
    scrub,
)
from mailboxes.gateway import AccessNeeds, MailboxGateway, gateway_class
from mailboxes.items import Collection, Contact, Event, MessageFolder, OutgoingMessage

log = logging.getLogger(__name__)

VERIFY_TASK = "tasks.verify.verify_brokerage"
# Statuses in which the verification outcome is the brokerage's status; past onboarding it is only recorded.
ONBOARDING_STATUSES = frozenset({
    Brokerage.Status.NEW, Brokerage.Status.VERIFYING, Brokerage.Status.VERIFIED, Brokerage.Status.CANNOT_BE_VERIFIED,
})  # fmt: skip
# A run still "running" after this long lost its worker (the task's hard time limit is far shorter).
STALE_RUN = dt.timedelta(minutes=10)
SENT_ITEMS_POLLS, SENT_ITEMS_POLL_SECONDS = 10, 0.5
TEST_ITEM_TITLE = "Engage Sync verification (safe to delete)"
DETAIL_LIMIT = 1000
# Error kinds a retry may get past, as the classes say (mailboxes/errors.py); the rest wait for a person.
TRANSIENT_KINDS = frozenset(cls.kind for cls in ACCESS_ERROR_CLASSES if not cls.permanent)
RETRY_FIRST_WAIT, RETRY_LONGEST_WAIT = dt.timedelta(minutes=1), dt.timedelta(hours=1)


class CredentialsMissing(AccessError):
    """Not a Microsoft answer: the brokerage row holds no usable credential for this run."""

    kind, permanent, title = "credentials_missing", True, "No credential is entered"
    remedy = (
        "No client secret (or certificate) is stored for this check. A credential manager must enter the client "
        "secret's Value and its expiry on the brokerage page (for the next-secret check: the next client secret)."
    )


# --- requesting runs ------------------------------------------------------------------------------

_automatic_off: ContextVar[bool] = ContextVar("automatic_verification_off", default=False)


@contextlib.contextmanager
def automatic_verification_off() -> Iterator[None]:
    """Credential saves inside this block publish no verification (the promotion of a just-verified secret)."""
    token = _automatic_off.set(True)
    try:
        yield
    finally:
        _automatic_off.reset(token)


def request_verification(
    brokerage: Brokerage,
    *,
    reason: str,
    requested_by: Any = None,
    pending_secret: bool = False,
    send_test_message: bool = False,
    due_at: dt.datetime | None = None,
    attempt: int = 1,
) -> VerificationRun:
    """Record a queued run and publish its task after commit, or, given ``due_at``, leave it to publish_due_runs().

    A queued run of the same kind is reused: it reads the credentials when it starts, so it checks the newest
    ones anyway, and the sweep republishes it if its message was lost. Reasons are not mixed: a staff click
    must not wait behind a daily run due later.
    """
    queued = VerificationRun.objects.filter(
        brokerage=brokerage, status=VerificationRun.Status.QUEUED, reason=reason, pending_secret=pending_secret,
        send_test_message=send_test_message,
    ).first()  # fmt: skip
    if queued is not None:
        return queued
    now = timezone.now()
    run = VerificationRun.objects.create(
        brokerage=brokerage, reason=reason, pending_secret=pending_secret, send_test_message=send_test_message,
        requested_by=requested_by if getattr(requested_by, "is_authenticated", False) else None,
        test_mailbox=brokerage.test_mailbox, due_at=due_at or now, published_at=None if due_at else now,
        attempt=attempt,
    )  # fmt: skip
    if due_at is None:
        args = [brokerage.pk, run.pk]  # ids only: the worker reloads the row and decrypts there
        transaction.on_commit(lambda: _publish([args]))
    return run


def publish_due_runs(batch: int = 500) -> int:
    """Publish the task of each due run, and again of each run whose message or worker was lost; returns how many.

    Beat's short sweep. Each run is claimed by one conditional UPDATE of ``published_at`` (its count checked)
    before it is published, so two sweeps racing (two beats, a re-run) never publish a run twice.
    """
    now = timezone.now()
    # Published longer than STALE_RUN ago and still not started (or started and never finished): the message
    # is gone (broker restart, worker killed); execute() takes a stale running run over.
    not_recently_published = Q(published_at__isnull=True) | Q(published_at__lt=now - STALE_RUN)
    due = Q(status=VerificationRun.Status.QUEUED, due_at__lte=now)
    abandoned = Q(status=VerificationRun.Status.RUNNING, started_at__lt=now - STALE_RUN)
    claimable = VerificationRun.objects.filter((due | abandoned) & not_recently_published)
    candidates = list(claimable.order_by("due_at").values_list("pk", "brokerage_id")[:batch])
    # One UPDATE per run, repeating the condition: a sweep that read the same candidates finds them claimed
    # (count 0) and skips them. The spread keeps it to a few runs a tick, so the round trips cost nothing.
    claimed = [[brokerage_id, run_id] for run_id, brokerage_id in candidates
               if claimable.filter(pk=run_id).update(published_at=now)]  # fmt: skip
    _publish(claimed)
    return len(claimed)


def _publish(tasks: list[list[int]]) -> None:
    if not tasks:
        return
    from engage_sync.celery import app  # by name: the domain does not import the tasks module

    with app.producer_or_acquire() as producer:  # one connection for the whole batch
        for args in tasks:
            # No countdown, ever: an ETA message sits unacknowledged in a worker's memory; due times live here.
            app.send_task(VERIFY_TASK, args=args, producer=producer, ignore_result=True)  # no result: none to await


def on_credentials_changed(brokerage: Brokerage, changes: dict[str, str]) -> None:
    """Called by Brokerage.save() for every audited credential change: verify what changed, after commit."""
    if _automatic_off.get() or not settings.VERIFY_ON_CREDENTIAL_CHANGE:
        return
    actor = audit.current_actor()
    pending = {"pending_client_secret", "pending_client_secret_expires_on"}
    if set(changes) - pending:
        request_verification(brokerage, reason=VerificationRun.Reason.CREDENTIALS_CHANGED, requested_by=actor)
    if changes.get("pending_client_secret") in ("set", "changed"):
        request_verification(
            brokerage, reason=VerificationRun.Reason.CREDENTIALS_CHANGED, requested_by=actor, pending_secret=True
        )


def request_daily_reverification(spread_seconds: float | None = None) -> int:
    """Queue one run per active or verified brokerage, and per brokerage left *Cannot be verified* by a transient
    failure, due at times spread over ``spread_seconds``; returns how many.

    Publishes nothing: publish_due_runs() publishes each run when it is due.
    """
    spread = settings.VERIFY_DAILY_SPREAD_SECONDS if spread_seconds is None else spread_seconds
    latest_error = VerificationRun.objects.filter(
        brokerage=OuterRef("pk"), pending_secret=False, status__in=[VerificationRun.Status.VERIFIED, VerificationRun.Status.FAILED]
    ).order_by("-created_at", "-id").values("error_kind")[:1]  # fmt: skip
    brokerages = Brokerage.objects.annotate(latest_error=Subquery(latest_error)).filter(
        Q(status__in=[Brokerage.Status.ACTIVE, Brokerage.Status.VERIFIED])
        | Q(status=Brokerage.Status.CANNOT_BE_VERIFIED, latest_error__in=TRANSIENT_KINDS)
    )
    total = brokerages.count()
    now = timezone.now()
    count = 0
    for slot, brokerage in enumerate(brokerages.order_by("pk").iterator()):
        # One random moment in each brokerage's own slice of the window: jitter, yet no clump, so a thousand
        # brokerages do not ask Entra ID for tokens in the same second.
        offset = min(spread * (slot + random.random()) / max(total, 1), spread)  # (a brokerage added meanwhile)
        request_verification(brokerage, reason=VerificationRun.Reason.DAILY, due_at=now + dt.timedelta(seconds=offset))
        count += 1
    return count


# --- the steps --------------------------------------------------------------------------------------


@dataclass
class _Context:
    run: VerificationRun
    brokerage: Brokerage
    mailbox: str
    tag: str
    gateways: dict[str, MailboxGateway] = field(default_factory=dict)
    secrets: tuple[str, ...] = field(default=())


def _credentials(ctx: _Context) -> str:
    try:
        ctx.gateways = {
            backend: gateway_for_brokerage(ctx.brokerage, pending_secret=ctx.run.pending_secret, backend=backend)
            for backend in _backends(ctx.run)
        }  # fmt: skip
    except ValueError as exc:  # ConnectionDetails: neither a secret nor a certificate
        raise CredentialsMissing(str(exc)) from None
    ctx.secrets = ctx.gateways[ctx.run.backend].details.secret_values()
    which = "next client secret" if ctx.run.pending_secret else ctx.brokerage.get_credential_kind_display().lower()
    return f"using the {which}"


def _domain(ctx: _Context) -> str:
    if not ctx.mailbox or not ctx.brokerage.owns_address(ctx.mailbox):
        raise MailboxNotAllowed(
            f"{ctx.mailbox or '(no test mailbox)'} is not in {', '.join(ctx.brokerage.email_domains or [])}; "
            "nothing was sent to Microsoft"
        )
    return ctx.mailbox


def _token(ctx: _Context, gateway: MailboxGateway) -> str:
    check = gateway.check_token(fresh=True)
    return f"roles: {', '.join(sorted(check.roles))}; valid until {check.expires_at:%H:%M} UTC"


def _mailbox(ctx: _Context, gateway: MailboxGateway) -> str:
    gateway.check_mailbox(ctx.mailbox)
    return ""


def _contacts(ctx: _Context, gateway: MailboxGateway) -> str:
    gateway.check_collection(ctx.mailbox, Collection.CONTACTS)
    return ""


def _calendar(ctx: _Context, gateway: MailboxGateway) -> str:
    gateway.check_collection(ctx.mailbox, Collection.CALENDAR)
    return ""


def _test_contact(ctx: _Context, gateway: MailboxGateway) -> str:
    contact = Contact(given_name="Engage Sync", surname="Verification", display_name=TEST_ITEM_TITLE)
    ref = gateway.create_contact(ctx.mailbox, contact, tag=ctx.tag)
    gateway.delete_item(ctx.mailbox, ref)
    return "created and deleted"


def _test_event(ctx: _Context, gateway: MailboxGateway) -> str:
    # A quarter-hour a year ahead: far from anything the agent looks at in the moment it exists.
    start = (timezone.now() + dt.timedelta(days=365)).replace(minute=0, second=0, microsecond=0)
    event = Event(TEST_ITEM_TITLE, start, start + dt.timedelta(minutes=15))
    ref = gateway.create_event(ctx.mailbox, event, tag=ctx.tag)
    gateway.delete_item(ctx.mailbox, ref)
    return "created and deleted"


def _test_message(ctx: _Context, gateway: MailboxGateway) -> str:
    message = OutgoingMessage(
        subject=f"Engage Sync verification {ctx.run.pk}",
        body="Engage Sync checked that it can send email through this mailbox. No action is needed.",
        to=(ctx.mailbox,),
    )
    draft = gateway.create_draft(ctx.mailbox, message, tag=ctx.tag)
    gateway.send_draft(ctx.mailbox, draft)
    for _ in range(SENT_ITEMS_POLLS):
        if gateway.find_messages_by_tag(ctx.mailbox, MessageFolder.SENT, ctx.tag):
            return "sent and found in Sent Items"
        time.sleep(SENT_ITEMS_POLL_SECONDS)
    raise UnknownFailure(f"sent, but no copy appeared in Sent Items within {SENT_ITEMS_POLLS * SENT_ITEMS_POLL_SECONDS:g} s")


@dataclass(frozen=True)
class Step:
    """A step before any backend is tried: its label is fixed."""

    name: str
    label: str
    check: Callable[[_Context], str]


@dataclass(frozen=True)
class BackendStep:
    """A step tried on one backend; its label is filled in from what the backend declares (AccessNeeds)."""

    name: str
    label: str  # str.format() with protocol, roles and mailbox_reach
    check: Callable[[_Context, MailboxGateway], str]

    def label_for(self, access: AccessNeeds) -> str:
        return self.label.format(
            protocol=access.protocol, roles=", ".join(access.required_roles), mailbox_reach=access.mailbox_reach
        )


STEPS: tuple[Step, ...] = (
    Step("credentials", "Credentials entered", _credentials),
    Step("domain", "Test mailbox is in the brokerage's domains", _domain),
)
BACKEND_STEPS: tuple[BackendStep, ...] = (
    BackendStep("token", "{protocol}: token acquired (fresh) with {roles}", _token),
    BackendStep("mailbox", "{protocol}: test mailbox reachable {mailbox_reach}", _mailbox),
    BackendStep("contacts", "{protocol}: contacts readable", _contacts),
    BackendStep("calendar", "{protocol}: calendar readable", _calendar),
    BackendStep("contact", "{protocol}: test contact created and removed", _test_contact),
    BackendStep("event", "{protocol}: test event created and removed", _test_event),
    BackendStep("message", "{protocol}: test message sent to the test mailbox and found in Sent Items", _test_message),
)
# What another backend than the brokerage's is tried for: enough to say whether the tenant lets the app in
# (permissions and consent, the mailbox scope, EWS switched off), writing nothing to the mailbox.
PROBE_STEPS: tuple[BackendStep, ...] = BACKEND_STEPS[:2]
# The rows every run records (skipped ones included): the steps before any backend, the brokerage's backend in
# full, every other backend probed.
STEPS_PER_RUN = len(STEPS) + len(BACKEND_STEPS) + len(PROBE_STEPS) * (len(Brokerage.Backend) - 1)


def _backends(run: VerificationRun) -> list[str]:
    """The run's backend first (verified in full), then every other one (probed)."""
    return [run.backend, *(backend for backend in Brokerage.Backend.values if backend != run.backend)]


# --- running ---------------------------------------------------------------------------------------


def execute(run_id: int) -> VerificationRun | None:
    """Run a queued verification; None when it is gone or another worker has it (a duplicate delivery)."""
    now = timezone.now()
    claimed = VerificationRun.objects.filter(pk=run_id, status=VerificationRun.Status.QUEUED).update(
        status=VerificationRun.Status.RUNNING, started_at=now
    )
    if not claimed:  # redelivered after its worker died mid-run: take it over, starting afresh
        claimed = VerificationRun.objects.filter(
            pk=run_id, status=VerificationRun.Status.RUNNING, started_at__lt=now - STALE_RUN
        ).update(started_at=now)
        if not claimed:
            return None
        VerificationStep.objects.filter(run_id=run_id).delete()
    run = VerificationRun.objects.select_related("brokerage", "requested_by").get(pk=run_id)
    brokerage = run.brokerage
    # The brokerage's backend as it is now (staff may have switched it since the run was queued).
    run.backend = brokerage.mailbox_backend
    run.save(update_fields=["backend"])
    if not run.pending_secret and brokerage.status in ONBOARDING_STATUSES:
        _set_status(brokerage, Brokerage.Status.VERIFYING)
    ctx = _Context(run=run, brokerage=brokerage, mailbox=(brokerage.test_mailbox or "").strip().lower(),
                   tag=f"engage:verify:{run.pk}:{uuid.uuid4().hex[:8]}")  # fmt: skip
    failure = _run_steps(ctx)
    _finish(run, failure)
    return run


def _run_steps(ctx: _Context) -> tuple[str, GatewayError] | None:
    """Run every step, recording each; the first failure that decides the run (of a step before any backend, or
    of the run's backend), as (step name, error). Sets ``run.backends``, the verdict per backend."""
    positions = itertools.count(1)
    before_backends = _run_sequence(ctx, STEPS, "", positions, skip=False)
    failure, verdicts = before_backends, []
    for backend in _backends(ctx.run):
        full = backend == ctx.run.backend
        steps = BACKEND_STEPS if full else PROBE_STEPS
        backend_failure = _run_sequence(ctx, steps, backend, positions, skip=before_backends is not None)
        verdicts.append({"backend": backend, **_verdict(full, checked=before_backends is None, failure=backend_failure)})
        if full and before_backends is None:
            failure = backend_failure
    ctx.run.backends = verdicts
    return failure


def _run_sequence(
    ctx: _Context, steps: Sequence[Step | BackendStep], backend: str, positions: Iterator[int], *, skip: bool
) -> tuple[str, GatewayError] | None:
    """Run ``steps`` (on ``backend``, or before any) until one fails; the failure as (step name, error)."""
    failure: tuple[str, GatewayError] | None = None
    for step in steps:
        label = step.label_for(gateway_class(backend).access) if isinstance(step, BackendStep) else step.label
        record = VerificationStep(run=ctx.run, position=next(positions), name=step.name, label=label, backend=backend)
        if skip or failure is not None or (step.name == "message" and not ctx.run.send_test_message):
            record.outcome = VerificationStep.Outcome.SKIPPED
            record.save()
            continue
        started = time.perf_counter()
        try:
            note = step.check(ctx, ctx.gateways[backend]) if isinstance(step, BackendStep) else step.check(ctx)
        except Exception as exc:  # every failure becomes a recorded, classified step
            error = classify_exception(exc, secrets=ctx.secrets)
            failure = (step.name, error)
            record.outcome = VerificationStep.Outcome.FAILED
            record.error_kind, record.error_title, record.error_remedy = error.kind, error.title, error.remedy
            note = getattr(error, "detail", "") or str(error)
            log.info("verification run %s of brokerage %s: step %s (%s) failed (%s)", ctx.run.pk, ctx.brokerage.pk,
                     step.name, backend or "-", error.kind)  # fmt: skip
        else:
            record.outcome = VerificationStep.Outcome.OK
        record.duration_ms = int((time.perf_counter() - started) * 1000)
        record.detail = scrub(note or "", ctx.secrets)[:DETAIL_LIMIT]
        record.save()  # one row per step as it ends: the brokerage page shows the progress
    return failure


def _verdict(full: bool, *, checked: bool, failure: tuple[str, GatewayError] | None) -> dict[str, Any]:
    """Whether a backend can be used, as far as its steps showed, with the failing step's class and remedy."""
    verdict: dict[str, Any] = {"usable": None if not checked else failure is None,
                               "checked": "in full" if full else "token and test mailbox only"}  # fmt: skip
    if failure is not None:
        step, error = failure
        verdict.update(failed_step=step, error_kind=error.kind, error_title=error.title, error_remedy=error.remedy)
    return verdict


def _finish(run: VerificationRun, failure: tuple[str, GatewayError] | None) -> None:
    brokerage = Brokerage.objects.filter(pk=run.brokerage_id).first()  # fresh: staff may have edited it meanwhile
    if brokerage is None:
        return  # deleted while it was being verified; its runs went with it
    run.finished_at = timezone.now()
    if failure is None:
        run.status = VerificationRun.Status.VERIFIED
        if run.pending_secret:
            with automatic_verification_off(), audit.credential_actor(run.requested_by):
                brokerage.promote_pending_secret()
            run.promoted = True
        if brokerage.status in ONBOARDING_STATUSES and brokerage.status != Brokerage.Status.VERIFIED:
            _set_status(brokerage, Brokerage.Status.VERIFIED)  # stamps verified_at
        else:
            Brokerage.objects.filter(pk=brokerage.pk).update(verified_at=run.finished_at)
    else:
        step, error = failure
        run.status = VerificationRun.Status.FAILED
        run.failed_step, run.error_kind, run.error_title, run.error_remedy = step, error.kind, error.title, error.remedy
        if brokerage.status in ONBOARDING_STATUSES and not run.pending_secret:
            _set_status(brokerage, Brokerage.Status.CANNOT_BE_VERIFIED)
    run.save(update_fields=[
        "status", "finished_at", "promoted", "failed_step", "error_kind", "error_title", "error_remedy", "backends",
    ])  # fmt: skip
    retrying = failure is not None and _retry_later(run, brokerage, failure[1])
    if failure is not None and not retrying and (brokerage.status not in ONBOARDING_STATUSES or run.pending_secret):
        from brokerages import staff_alerts

        staff_alerts.verification_failed(run, brokerage)
    log.info("verification run %s of brokerage %s: %s", run.pk, brokerage.pk, run.status)


def _retry_later(run: VerificationRun, brokerage: Brokerage, error: GatewayError) -> bool:
    """Queue the same check again, due after a back-off, if the failure was transient and retries are left."""
    if error.permanent or run.attempt > settings.VERIFY_TRANSIENT_RETRIES:
        return False
    wait = min(RETRY_FIRST_WAIT * 2 ** (run.attempt - 1), RETRY_LONGEST_WAIT) * random.uniform(1.0, 1.2)
    if isinstance(error, Throttled):
        wait = max(wait, dt.timedelta(seconds=error.back_off_seconds))
    retry = request_verification(
        brokerage, reason=run.reason, requested_by=run.requested_by, pending_secret=run.pending_secret,
        send_test_message=run.send_test_message, due_at=timezone.now() + wait, attempt=run.attempt + 1,
    )  # fmt: skip
    log.info("verification run %s of brokerage %s failed transiently (%s): retried by run %s at %s", run.pk,
             brokerage.pk, error.kind, retry.pk, retry.due_at)  # fmt: skip
    return True


def _set_status(brokerage: Brokerage, status: str) -> None:
    brokerage.status = status
    brokerage.save(update_fields=["status", "updated_at"])
