"""What staff and ops pages cost on a big fleet: /metrics scrapes, the sync-run list, brokerage health, pruning.

Seeds a PostgreSQL database created for the run (dropped after): --brokerages brokerages, --mailboxes
mailboxes, --runs sync runs spread over 40 days with --recent of them in the last 5 minutes (a 10,000-mailbox
fleet on a 5-minute interval writes ~10,000 per 5 minutes). Then times each page through Django's test client
as a superuser (median of --repeat) and one retention pass. Same-run baseline: a plain `SELECT count(*)` of the
sync-run table, the cost the capped-count paginator avoids.
Run: .venv/bin/python bench/ops_bench.py [--brokerages 200] [--mailboxes 20000] [--runs 1000000] [--recent 10000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--brokerages", type=int, default=200)
    parser.add_argument("--mailboxes", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--recent", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the database (named in the output) for a look")
    args = parser.parse_args()

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/engage_sync")
    name = f"{base.rsplit('/', 1)[1]}_opsbench"
    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", name], check=True)
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True)
    os.environ["DATABASE_URL"] = f"{base.rsplit('/', 1)[0]}/{name}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    os.environ["METRICS_TOKEN"] = "bench-token"  # noqa: S105  (a throwaway token of this run)
    try:
        run(args)
    finally:
        from django.db import connections

        connections.close_all()
        if args.keep:
            print(f"kept database {name}")
        else:
            subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", name], check=True)


def run(args) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    setup_test_environment()
    call_command("migrate", verbosity=0)
    seed(args)

    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client

    from brokerages.models import Brokerage, Mailbox
    from ops.retention import prune_sync_runs

    client = Client()
    client.force_login(User.objects.create_superuser("bench", password="bench-password"))  # noqa: S106
    brokerage = Brokerage.objects.order_by("pk").first()
    email = Mailbox.objects.filter(brokerage=brokerage).values_list("email", flat=True).first()

    def timed(label: str, path: str, **headers) -> None:
        samples = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            response = client.get(path, **headers)
            samples.append(time.perf_counter() - started)
            assert response.status_code == 200, (path, response.status_code)
        print(f"{label:<52} median {statistics.median(samples) * 1000:8.1f} ms  max {max(samples) * 1000:8.1f} ms")

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM scheduling_syncrun")
    print(f"{'baseline: SELECT count(*) of sync runs':<52} {(time.perf_counter() - started) * 1000:8.1f} ms")
    timed("GET /metrics", "/metrics", HTTP_AUTHORIZATION="Bearer bench-token")
    timed("sync runs: list, unfiltered", "/admin/scheduling/syncrun/")
    timed("sync runs: failed, last 24 h", "/admin/scheduling/syncrun/?outcome__exact=failed&started=24h")
    timed("sync runs: one brokerage", f"/admin/scheduling/syncrun/?brokerage__id__exact={brokerage.pk}")
    timed("sync runs: search an exact address", f"/admin/scheduling/syncrun/?q={email}")
    timed("brokerages: list (health column)", "/admin/brokerages/brokerage/")
    timed("brokerage: change page (health + chart)", f"/admin/brokerages/brokerage/{brokerage.pk}/change/")
    timed("mailboxes: behind-schedule filter", "/admin/brokerages/mailbox/?sync_schedule=behind")

    from django.conf import settings

    settings.SYNC_RUN_RETENTION_DAYS = 30
    started = time.perf_counter()
    deleted = prune_sync_runs()
    seconds = time.perf_counter() - started
    print(f"{'retention: prune runs older than 30 days':<52} {deleted} rows in {seconds:.1f} s ({deleted / seconds:,.0f} rows/s)")


def seed(args) -> None:
    import datetime as dt
    import uuid

    from django.db import connection

    from brokerages.models import Brokerage, Mailbox

    started = time.perf_counter()
    brokerages = [
        Brokerage.objects.create(
            name=f"Bench Realty {n}", tenant_id=uuid.uuid4(), client_id=uuid.uuid4(), client_secret="Zx8Q~bench-secret",  # noqa: S106
            test_mailbox=f"test@bench{n}.example", email_domains=[f"bench{n}.example"], status=Brokerage.Status.ACTIVE,
        )
        for n in range(args.brokerages)
    ]
    per = args.mailboxes // args.brokerages
    Mailbox.objects.bulk_create(
        (Mailbox(brokerage=b, email=f"agent{i}@bench{n}.example") for n, b in enumerate(brokerages) for i in range(per)),
        batch_size=5000,
    )
    with connection.cursor() as cursor:
        # Due times spread over the last 10 minutes (some behind schedule), last syncs over the last hour.
        cursor.execute("UPDATE brokerages_mailbox SET next_sync_at = now() - random() * interval '10 minutes', "
                       "last_synced_at = now() - random() * interval '1 hour'")  # fmt: skip
        runs_sql = """
            INSERT INTO scheduling_syncrun (mailbox_id, brokerage_id, task_id, worker, started_at, duration_ms, outcome,
                                            pulled, pushed, conflicts, requests, error_class, error_message, remedy)
            SELECT m.id, m.brokerage_id, gen_random_uuid()::text, 'bench@host', now() - %s * random(),
                   (random() * 3000)::int,
                   CASE WHEN r < 0.90 THEN 'ok' WHEN r < 0.95 THEN 'failed' WHEN r < 0.99 THEN 'throttled' ELSE 'skipped' END,
                   (random() * 5)::int, (random() * 3)::int, 0, 3,
                   CASE WHEN r < 0.90 THEN '' WHEN r < 0.95 THEN 'server_error' WHEN r < 0.99 THEN 'throttled' ELSE '' END,
                   '', ''
            FROM (SELECT (SELECT min(id) FROM brokerages_mailbox) + (g %% %s) AS mid, random() AS r
                  FROM generate_series(1, %s) g) s
            JOIN brokerages_mailbox m ON m.id = s.mid
        """
        cursor.execute(runs_sql, [dt.timedelta(days=40), args.mailboxes, args.runs - args.recent])
        cursor.execute(runs_sql, [dt.timedelta(minutes=5), args.mailboxes, args.recent])
        cursor.execute("ANALYZE")
    print(f"seeded {args.brokerages} brokerages, {per * args.brokerages} mailboxes, {args.runs} sync runs "
          f"in {time.perf_counter() - started:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
