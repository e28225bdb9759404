"""Dispatch of N due mailboxes: seconds from "due" to "every sync task on the broker", against kombu's floor.

    .venv/bin/python bench/dispatch_bench.py [--mailboxes 100000] [--batch 5000]

Uses its own PostgreSQL database (engage_bench_dispatch, created and dropped) and its own RabbitMQ vhost
(engage_bench), so nothing else sees its 100,000 messages. The floor is kombu publishing the same number of
messages of the same size to the same queue over one connection, measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "engage_bench_dispatch"
VHOST = "engage_bench"

os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DATABASE}"
os.environ["CELERY_BROKER_URL"] = f"amqp://guest:guest@127.0.0.1:5672/{VHOST}"
sys.path.insert(0, str(ROOT))


def prepare_services() -> None:
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", VHOST], capture_output=True)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*"], check=True)
    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", DATABASE], check=True)
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", DATABASE], check=True)


def seed(mailboxes: int) -> None:
    """Brokerages of 27 mailboxes each (EWS's cap, so every mailbox may be leased at once), all due."""
    import datetime as dt
    import uuid

    from django.db import connection
    from django.utils import timezone

    from brokerages.models import Brokerage

    per_brokerage = 27
    brokerages = Brokerage.objects.bulk_create(
        Brokerage(name=f"Bench {n}", tenant_id=uuid.uuid4(), client_id=uuid.uuid4(), test_mailbox=f"t@b{n}.example",
                  email_domains=[f"b{n}.example"], status=Brokerage.Status.ACTIVE, max_mailboxes_in_flight=per_brokerage,
                  client_secret_expires_on=dt.date.today() + dt.timedelta(days=300))
        for n in range(-(-mailboxes // per_brokerage))
    )  # fmt: skip
    due = timezone.now() - dt.timedelta(seconds=1)
    with connection.cursor() as cursor:
        # One INSERT ... SELECT: seeding is not what is measured, and 100,000 ORM objects would dominate the run.
        cursor.execute(
            """
            INSERT INTO brokerages_mailbox (brokerage_id, email, display_name, is_active, contacts_enabled,
                calendar_enabled, email_enabled, next_sync_at, sync_priority, lease_owner, consecutive_failures,
                sync_paused, sync_paused_reason, created_at, updated_at)
            SELECT (%s::bigint[])[1 + n / %s], 'agent' || n || '@bench.example', '', true, true, true, true,
                   %s, 0, '', 0, false, '', now(), now()
            FROM generate_series(0, %s - 1) AS n
            """,
            [[b.pk for b in brokerages], per_brokerage, due, mailboxes],
        )
        cursor.execute("ANALYZE brokerages_mailbox; ANALYZE brokerages_brokerage")


def queue_depth(app, name: str) -> int:
    with app.connection_for_write() as conn:
        return conn.default_channel.queue_declare(name, passive=True).message_count


def raw_kombu_floor(app, count: int) -> float:
    """Messages per second kombu alone publishes to the sync queue: one connection, same body size."""
    from kombu import Producer

    queue = next(q for q in app.conf.task_queues if q.name == "sync")
    body = [[123456, "3f2b9c1e-8d7a-4b6c-9e5f-0a1b2c3d4e5f"], {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}]
    with app.connection_for_write() as conn:
        producer = Producer(conn.default_channel, exchange=queue.exchange, routing_key="sync", serializer="json")
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(count):
            producer.publish(body, priority=0, headers={"task": "tasks.sync.sync_mailbox"})
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return count / elapsed, cpu / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mailboxes", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=None, help="default: settings.DISPATCH_BATCH_SIZE")
    args = parser.parse_args()

    prepare_services()
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from engage_sync.celery import app
    from scheduling import dispatch

    call_command("migrate", verbosity=0)
    try:
        started = time.perf_counter()
        seed(args.mailboxes)
        print(f"seeded {args.mailboxes:,} due mailboxes in {time.perf_counter() - started:.1f}s")

        app.control.purge()
        floor, floor_cpu = raw_kombu_floor(app, args.mailboxes)
        app.control.purge()

        started, cpu = time.perf_counter(), time.process_time()
        report = dispatch.dispatch(batch=args.batch, max_batches=10_000)
        on_broker = queue_depth(app, "sync")
        deadline = time.perf_counter() + 60
        while on_broker < report.published and time.perf_counter() < deadline:  # until RabbitMQ routed them all
            time.sleep(0.05)
            on_broker = queue_depth(app, "sync")
        dispatched_in, cpu = time.perf_counter() - started, time.process_time() - cpu
        rate = report.published / dispatched_in
        print(f"dispatch: {report.leased:,} leased, {report.published:,} published, {on_broker:,} on the sync queue "
              f"in {dispatched_in:.2f}s ({rate:,.0f} tasks/s)")
        print(f"floor:    kombu alone publishes {floor:,.0f} messages/s on the same broker")
        print(f"ratio:    dispatch rate / kombu floor = {rate / floor:.2f}  (aim: >= 0.5; {args.mailboxes:,} in < 15 s)")
        per_task = cpu / max(report.published, 1)
        print(f"cpu:      dispatcher {per_task * 1e6:.0f} us/task (leasing + publishing) vs kombu {floor_cpu * 1e6:.0f} us/message "
              f"= {floor_cpu / per_task:.2f} of the floor's efficiency; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        app.control.purge()
    finally:
        connection.close()
        subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", DATABASE], check=False)


if __name__ == "__main__":
    main()
