"""The fleet in steady state: N mailboxes in B brokerages on an interval, against the simulator, with beat and
two worker processes — are all mailboxes kept on schedule, what share of the CPU do workers take, and how
many tokens does each brokerage fetch?

    .venv/bin/python bench/fleet_steady_bench.py [--mailboxes 10000] [--brokerages 50] [--interval 300]
                                                 [--minutes 7] [--workers 2] [--token-lifetime 600]

Everything is real and its own: a throwaway database, the `engage_bench` RabbitMQ vhost, Redis db 11, the
simulator as a process, `celery beat` with the database scheduler (the dispatcher every 5 s) and worker
processes on the sync and dispatch queues. Mailboxes start due at times spread over one interval, as a fleet
in steady state is. The same run's floor is the load itself: the syncs per second the schedule requires
(mailboxes / interval) against the syncs per second the fleet performed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from harness import CeleryProcess, cpu_seconds, create_brokerage, create_database, drop_database  # noqa: E402

from tests.fixtures.simulator import start_simulator, stop_simulator  # noqa: E402

BROKER = "amqp://guest:guest@127.0.0.1:5672/engage_bench"
REDIS = "redis://127.0.0.1:6379/11"


def seed(sim, mailboxes: int, brokerages: int, interval: int) -> None:
    """Tenants with their app and mailboxes at the simulator, and the same brokerages and mailboxes here."""
    from django.utils import timezone

    from brokerages.models import Mailbox

    per = -(-mailboxes // brokerages)
    now = timezone.now()
    for b in range(brokerages):
        count = min(per, mailboxes - b * per)
        brokerage, addresses = create_brokerage(sim, f"Steady {b}", f"steady{b}.example", [f"agent{n}" for n in range(count)],
                                                sync_interval_seconds=interval, max_mailboxes_in_flight=27)  # fmt: skip
        Mailbox.objects.bulk_create(
            Mailbox(brokerage=brokerage, email=address,
                    next_sync_at=now + dt.timedelta(seconds=interval * (n + b / brokerages) / len(addresses)))
            for n, address in enumerate(addresses)
        )  # fmt: skip


def behind_now() -> int:
    from django.utils import timezone

    from brokerages.models import Mailbox
    from ops.health import behind_schedule

    return Mailbox.objects.filter(behind_schedule(timezone.now())).count()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mailboxes", type=int, default=10_000)
    parser.add_argument("--brokerages", type=int, default=50)
    parser.add_argument("--interval", type=int, default=300, help="each brokerage's sync interval, seconds")
    parser.add_argument("--minutes", type=float, default=7, help="how long to run (at least one interval)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--token-lifetime", type=int, default=600, help="the simulator's token lifetime, seconds")
    args = parser.parse_args()

    database = create_database("postgres://postgres@127.0.0.1:5432/postgres", prefix="engage_bench_fleet")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": database,
           "CELERY_BROKER_URL": BROKER, "REDIS_URL": REDIS, "LOG_LEVEL": "WARNING"}  # fmt: skip
    os.environ.update({k: env[k] for k in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL")})
    import redis

    redis.Redis.from_url(REDIS).flushdb()  # no token cached by an earlier run
    processes: list[CeleryProcess] = []
    with tempfile.TemporaryDirectory() as scratch:
        sim = start_simulator(Path(scratch) / "simulator", "--lenient", "--token-lifetime", str(args.token_lifetime))
        try:
            import django

            django.setup()
            from django.core.management import call_command
            from django.db.models import Count

            from engage_sync.celery import app
            from scheduling.models import SyncRun

            call_command("migrate", verbosity=0)
            app.control.purge()
            started = time.perf_counter()
            seed(sim.client, args.mailboxes, args.brokerages, args.interval)
            print(f"seeded {args.mailboxes:,} mailboxes in {args.brokerages} brokerages in {time.perf_counter() - started:.0f}s")

            log_dir = Path(scratch)
            workers = [CeleryProcess.worker(n, "sync,dispatch", env, log_dir) for n in range(args.workers)]
            processes += workers
            for worker in workers:
                worker.wait_ready()
            processes.append(CeleryProcess.beat(env, log_dir).wait_ready())
            cpu_start = {p.name: p.cpu_seconds() for p in processes}
            sim_cpu_start = cpu_seconds(sim.process.pid)
            tokens_start = sum(sim.client.stats().get("token_app", {}).values())
            t0, wall0 = dt.datetime.now(dt.UTC), time.perf_counter()
            worst_behind = 0
            while time.perf_counter() - wall0 < args.minutes * 60:
                time.sleep(10)
                worst_behind = max(worst_behind, behind_now())
                runs = SyncRun.objects.filter(started_at__gte=t0)
                print(f"  {time.perf_counter() - wall0:5.0f}s: {runs.count():,} syncs, {behind_now()} behind schedule", flush=True)
            wall = time.perf_counter() - wall0

            runs = SyncRun.objects.filter(started_at__gte=t0)
            outcomes = dict(runs.values_list("outcome").annotate(n=Count("id")))
            synced = runs.filter(outcome=SyncRun.Outcome.OK).values("mailbox").distinct().count()
            worker_cpu = sum(p.cpu_seconds() - cpu_start[p.name] for p in workers)
            beat_cpu = processes[-1].cpu_seconds() - cpu_start["beat"]
            sim_cpu = cpu_seconds(sim.process.pid) - sim_cpu_start
            tokens = sum(sim.client.stats().get("token_app", {}).values()) - tokens_start
            needed = args.mailboxes / args.interval
            done = outcomes.get("ok", 0) / wall
            print(f"schedule: {synced:,} of {args.mailboxes:,} mailboxes synced in {wall / 60:.1f} min; "
                  f"worst 'behind schedule' sample {worst_behind} (must be 0); outcomes {outcomes}")
            print(f"load:     the schedule needs {needed:.1f} syncs/s; the fleet did {done:.1f} syncs/s "
                  f"({done / needed:.2f} of the need)")
            print(f"cpu:      workers {worker_cpu / wall / os.cpu_count():.0%} of the machine "
                  f"({worker_cpu / max(outcomes.get('ok', 1), 1) * 1000:.1f} ms per sync), beat {beat_cpu / wall / os.cpu_count():.1%}, "
                  f"simulator {sim_cpu / wall / os.cpu_count():.0%}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
            refresh_every = args.token_lifetime - min(300, args.token_lifetime / 10)  # the provider's margin
            expected = args.brokerages * (1 + int(wall // refresh_every))
            print(f"tokens:   {tokens} token requests for {args.brokerages} brokerages in {wall / 60:.1f} min; one per "
                  f"brokerage per token lifetime ({args.token_lifetime}s, refreshed after {refresh_every:.0f}s) "
                  f"would be {expected}: {tokens / args.brokerages / (wall / 3600):.1f} per brokerage per hour")
        finally:
            for process in processes:
                process.stop()
            stop_simulator(sim.process)
            from django.db import connections

            connections.close_all()
            drop_database(database)


if __name__ == "__main__":
    main()
