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
import datetime as dt
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import psycopg  # noqa: E402

from tests.fixtures.simulator import start_simulator, stop_simulator  # noqa: E402

TENANTS = 10  # brokerages; mailboxes are spread over them (each brokerage has its own token and connection pool)
WORKER_CONCURRENCY = 8  # as the Procfile's worker
DEADLINE_SECONDS = 240  # bounded: a lost email shows as lost, never as a hang


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


# --- the database made for this run ------------------------------------------------------------------------


def create_database(server_url: str) -> str:
    """CREATE DATABASE engage_bench_<random> on the server of ``server_url``; returns its URL."""
    name = f"engage_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_with_db(server_url, "postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return _with_db(server_url, name)


def drop_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(_with_db(url, "postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


# --- worker processes ---------------------------------------------------------------------------------------


class Worker:
    """A Celery worker process on the mail queue (threads pool, as the Procfile runs it)."""

    def __init__(self, n: int, env: dict[str, str], log_dir: Path) -> None:
        self.name = f"bench{n}-{os.getpid()}@{socket.gethostname()}"
        self.log_path = log_dir / f"worker{n}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "engage_sync", "worker", "--hostname", self.name,
             "--queues", "mail", "--pool", "threads", "--concurrency", str(WORKER_CONCURRENCY), "--loglevel", "INFO",
             "--without-mingle", "--without-gossip"],
            env=env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited at start-up:\n{self.log_path.read_text()[-3000:]}")
            if b"ready." in self.log_path.read_bytes():
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready in {timeout}s:\n{self.log_path.read_text()[-3000:]}")

    def task_seconds(self) -> list[float]:
        """How long each send_email task ran, from the worker's own log lines."""
        found = re.findall(rb"tasks\.mail\.send_email\[[^\]]+\] succeeded in ([0-9.]+)s", self.log_path.read_bytes())
        return [float(value) for value in found]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self._log.close()


# --- the run ------------------------------------------------------------------------------------------------


def seed(sim, mailboxes: int) -> list:
    """Tenants in the simulator and the matching active brokerages and mailboxes in the database."""
    from brokerages.models import Brokerage, Mailbox

    rows = []
    per_tenant = -(-mailboxes // TENANTS)
    for n in range(TENANTS):
        domain = f"bench{n}-{uuid.uuid4().hex[:6]}.example"
        tenant = sim.create_tenant(f"Bench Realty {n}", [domain])
        app = sim.create_app(tenant["tenant_id"], "Engage Sync")
        count = min(per_tenant, mailboxes - len(rows))
        addresses = sim.create_mailboxes(tenant["tenant_id"], [f"agent{i}@{domain}" for i in range(count)])
        brokerage = Brokerage.objects.create(
            name=f"Bench Realty {n}", tenant_id=tenant["tenant_id"], client_id=app["client_id"],
            client_secret=app["secret"]["value"], client_secret_expires_on=dt.date.today() + dt.timedelta(days=180),
            test_mailbox=addresses[0], email_domains=[domain], authority_host=sim.base_url, ews_url=sim.ews_url,
            ca_bundle_path=sim.ca_path, status=Brokerage.Status.ACTIVE,
        )  # fmt: skip
        rows += [Mailbox.objects.create(brokerage=brokerage, email=a, display_name=a.split("@")[0]) for a in addresses]
    return rows


def api_client():
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    user = get_user_model().objects.create_user(f"crm-{uuid.uuid4().hex[:6]}")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


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
    server_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/engage_sync")
    database_url = create_database(server_url)
    os.environ["DATABASE_URL"] = database_url
    workers: list[Worker] = []
    with tempfile.TemporaryDirectory(prefix="email-bench-") as state:
        running = start_simulator(Path(state) / "simulator")
        # requests lets REQUESTS_CA_BUNDLE override the per-brokerage CA; trust the simulator's CA through it too.
        os.environ["REQUESTS_CA_BUNDLE"] = os.environ["CURL_CA_BUNDLE"] = running.ca_bundle_with_system
        try:
            import django
            from django.core.management import call_command

            django.setup()
            call_command("migrate", verbosity=0)
            sim = running.client
            mailboxes = seed(sim, args.mailboxes)
            client = api_client()
            env = {**os.environ, "ENGAGE_FAILPOINTS": ""}
            workers = [Worker(n, env, Path(state)) for n in range(1, args.workers + 1)]
            for worker in workers:
                worker.wait_ready()

            floor_rate, floor_each = baseline(mailboxes, args.baseline_emails)
            # Warm-up, not measured: each worker process's first use of a brokerage opens its TLS connection.
            latency(sim, client, mailboxes[:: max(1, len(mailboxes) // TENANTS)], 2 * TENANTS, prefix="warm-up")
            time.sleep(1)  # the last warm-up task logs its end after its message is out; keep it out of the count
            done_before = [len(w.task_seconds()) for w in workers]
            seconds = latency(sim, client, mailboxes, args.latency_emails)
            task_seconds = [t for w, n in zip(workers, done_before, strict=True) for t in w.task_seconds()[n:]]
            burst = throughput(sim, client, mailboxes, args.emails, [w.name for w in workers])
        finally:
            for worker in workers:
                worker.stop()
            stop_simulator(running.process)
            from django.db import connections

            connections.close_all()
            drop_database(database_url)

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
