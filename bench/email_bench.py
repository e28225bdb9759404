"""Outbox figures: API accept -> message sent latency with an idle fleet, and throughput of 1,000 emails.

Everything real: the simulator as its own process, a PostgreSQL database created for the run (dropped after),
RabbitMQ (CELERY_BROKER_URL) and Redis (REDIS_URL) from the environment, and Celery worker processes on the
"mail" queue as the Procfile runs them. Emails are posted through the DRF API (Django's test client, in this
process); "sent" means the message is in the simulator's outbound log (it is in Sent Items at the same moment).
Prints: (a) latency median / p95 over --latency-emails posted one at a time; (b) emails/s for --emails across
--mailboxes with --workers processes, with the number sent twice and lost (both must be 0); and the same-run
baseline: the gateway's create_draft + send_draft called directly from one process (no API, queue or DB).
Run: .venv/bin/python bench/email_bench.py [--latency-emails 50] [--emails 1000] [--mailboxes 100] [--workers 2]
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

from harness import CeleryProcess, api_client, create_brokerage, migrated_database_with_simulator, percentile  # noqa: E402

TENANTS = 10  # brokerages; mailboxes are spread over them (each brokerage has its own token and connection pool)
WORKER_CONCURRENCY = 8  # as the Procfile's worker
DEADLINE_SECONDS = 240  # bounded: a lost email shows as lost, never as a hang
SEND_TASK = "tasks.mail.send_email"


def seed(sim, mailboxes: int) -> list:
    """Tenants in the simulator and the matching active brokerages and mailboxes in the database."""
    from brokerages.models import Mailbox

    rows = []
    per_tenant = -(-mailboxes // TENANTS)
    for n in range(TENANTS):
        count = min(per_tenant, mailboxes - len(rows))
        brokerage, addresses = create_brokerage(sim, f"Bench Realty {n}", f"bench{n}-{uuid.uuid4().hex[:6]}.example",
                                                [f"agent{i}" for i in range(count)])  # fmt: skip
        rows += [Mailbox.objects.create(brokerage=brokerage, email=a, display_name=a.split("@")[0]) for a in addresses]
    return rows


def post(client, mailbox, key: str) -> None:
    payload = {"idempotency_key": key, "to": ["buyer@client.example"], "subject": key, "text_body": "3 beds, 2 baths"}
    response = client.post(f"/api/mailboxes/{mailbox.pk}/emails/", payload, format="json")
    if response.status_code != 201:
        raise RuntimeError(f"POST refused: {response.status_code} {response.content[:300]!r}")


def baseline(mailboxes: list, count: int) -> tuple[float, list[float]]:
    """The floor: create_draft + send_draft straight on the gateway, one process, one after another."""
    from brokerages.gateways import gateway_for_mailbox
    from mailboxes.items import MessageFolder, OutgoingMessage

    gateways = {m.brokerage_id: gateway_for_mailbox(m) for m in mailboxes}
    for m in mailboxes[:TENANTS]:  # warm each brokerage's token and connection, as a running worker has them
        gateways[m.brokerage_id].find_messages_by_tag(m.email, MessageFolder.SENT, "warm-up")
    durations = []
    started = time.perf_counter()
    for n in range(count):
        mailbox = mailboxes[n % len(mailboxes)]
        gateway = gateways[mailbox.brokerage_id]
        t0 = time.perf_counter()
        message = OutgoingMessage(subject=f"baseline-{n}", body="3 beds, 2 baths", to=("buyer@client.example",))
        ref = gateway.create_draft(mailbox.email, message, tag=f"baseline-{n}")
        gateway.send_draft(mailbox.email, ref)
        durations.append(time.perf_counter() - t0)
    return count / (time.perf_counter() - started), durations


def latency(sim, client, mailboxes: list, count: int, prefix: str = "latency") -> list[float]:
    """Post one email at a time; the time from the POST's return until it is in the outbound log."""
    seconds = []
    for n in range(count):
        mailbox = mailboxes[n % len(mailboxes)]
        key = f"{prefix}-{n}"
        post(client, mailbox, key)
        accepted = time.perf_counter()
        deadline = accepted + 60
        while not any(m["subject"] == key for m in sim.outbound(mailbox.email)):
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{key} not sent within 60 s")
            time.sleep(0.005)
        seconds.append(time.perf_counter() - accepted)
    return seconds


def throughput(sim, client, mailboxes: list, count: int, workers: list[str]) -> dict:
    """Post ``count`` emails round-robin over the mailboxes while the workers hold off, then time the fleet.

    The workers stop consuming the mail queue while the API takes the emails (their tasks wait in RabbitMQ), so
    the figure is the fleet's sending rate, not the rate of this one posting client; then they resume at once.
    """
    from engage_sync.celery import app
    from outbox import publishing
    from outbox.models import OutgoingEmail

    keys = [f"burst-{n}" for n in range(count)]
    _answered(app.control.cancel_consumer("mail", destination=workers, reply=True, timeout=10), workers)
    post_started = time.perf_counter()
    for n, key in enumerate(keys):
        post(client, mailboxes[n % len(mailboxes)], key)
    post_seconds = time.perf_counter() - post_started
    started = time.perf_counter()
    _answered(app.control.add_consumer("mail", destination=workers, reply=True, timeout=10), workers)
    wanted = set(keys)
    deadline = started + DEADLINE_SECONDS
    last_sweep = 0.0
    # Done when every row says sent (a row is marked sent just after its message is in the outbound log, so
    # this end is conservative); polling the database is cheap, the whole outbound log is not.
    unsent = OutgoingEmail.objects.filter(subject__in=keys).exclude(status=OutgoingEmail.Status.SENT)
    while time.perf_counter() < deadline and unsent.exists():
        if time.perf_counter() - last_sweep > 2:  # beat's sweep: paced and backed-off rows come back due
            publishing.publish_due()
            last_sweep = time.perf_counter()
        time.sleep(0.1)
    finished = time.perf_counter()
    time.sleep(2)  # a second copy, were one on its way, would land by now
    subjects = collections.Counter(m["subject"] for m in sim.outbound() if m["subject"] in wanted)
    statuses = collections.Counter(OutgoingEmail.objects.filter(subject__in=keys).values_list("status", flat=True))
    return {
        "seconds": finished - started, "post_seconds": post_seconds,
        "sent_twice": sum(1 for c in subjects.values() if c > 1), "lost": len(wanted - set(subjects)),
        "statuses": dict(statuses),
    }  # fmt: skip


def _answered(replies: list, workers: list[str]) -> None:
    if len(replies) != len(workers):
        raise RuntimeError(f"only {len(replies)} of {len(workers)} workers answered the control command: {replies}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-emails", type=int, default=50)
    parser.add_argument("--emails", type=int, default=1000)
    parser.add_argument("--mailboxes", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline-emails", type=int, default=100)
    args = parser.parse_args()
    workers: list[CeleryProcess] = []
    with migrated_database_with_simulator("email-bench-") as (running, state):
        try:
            sim = running.client
            mailboxes = seed(sim, args.mailboxes)
            client = api_client()
            env = {**os.environ, "ENGAGE_FAILPOINTS": ""}
            workers = [CeleryProcess.worker(n, "mail", env, state, WORKER_CONCURRENCY) for n in range(1, args.workers + 1)]
            for worker in workers:
                worker.wait_ready()

            floor_rate, floor_each = baseline(mailboxes, args.baseline_emails)
            # Warm-up, not measured: each worker process's first use of a brokerage opens its TLS connection.
            latency(sim, client, mailboxes[:: max(1, len(mailboxes) // TENANTS)], 2 * TENANTS, prefix="warm-up")
            time.sleep(1)  # the last warm-up task logs its end after its message is out; keep it out of the count
            done_before = [len(w.task_run_seconds(SEND_TASK)) for w in workers]
            seconds = latency(sim, client, mailboxes, args.latency_emails)
            task_seconds = [t for w, n in zip(workers, done_before, strict=True) for t in w.task_run_seconds(SEND_TASK)[n:]]
            burst = throughput(sim, client, mailboxes, args.emails, [w.hostname for w in workers])
        finally:
            for worker in workers:
                worker.stop()

    rate = args.emails / burst["seconds"]
    floor_median = statistics.median(floor_each)
    print(f"machine: {os.cpu_count()} cores; simulator (not strict), {args.workers} worker processes x "
          f"{WORKER_CONCURRENCY} threads on the mail queue, {args.mailboxes} mailboxes in {TENANTS} brokerages")
    print(f"baseline (gateway create_draft + send_draft, one process, no API/queue/DB): "
          f"{floor_rate:.1f} emails/s, {floor_median * 1000:.0f} ms each (median of {len(floor_each)})")
    print(f"(a) API accept -> in the outbound log, idle fleet, {len(seconds)} emails one at a time: "
          f"median {statistics.median(seconds) * 1000:.0f} ms, p95 {percentile(seconds, 0.95) * 1000:.0f} ms "
          f"(median {statistics.median(seconds) / floor_median:.2f}x the baseline's per-email time); "
          f"the send task itself ran median {statistics.median(task_seconds) * 1000:.0f} ms "
          f"(worker log, {len(task_seconds)} tasks)")
    print(f"(b) {args.emails} emails over {args.mailboxes} mailboxes: {rate:.1f} emails/s "
          f"({burst['seconds']:.1f} s from the workers' resuming to the last row sent), "
          f"{rate / floor_rate:.2f}x the baseline rate; the API took them at "
          f"{args.emails / burst['post_seconds']:.0f}/s from one client thread")
    print(f"    sent twice: {burst['sent_twice']}, lost: {burst['lost']}, row statuses: {burst['statuses']}")
    if burst["sent_twice"] or burst["lost"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
