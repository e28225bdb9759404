"""CRM to mailbox latency with an idle fleet: a contact POSTed to the API, until the simulator's mailbox holds it
(through request_sync, RabbitMQ and a real worker process running run_sync and the engine).

Prints median and p95 over --contacts creates, one at a time, each after the previous sync finished (an idle
fleet), and the same run's floor: the gateway's create_contact alone. A dispatcher tick runs every 2 s as beat
would. Aim: p95 < 3 s.
Run: DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/sync_latency_bench.py [--contacts 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

from harness import CeleryProcess, api_client, create_brokerage, migrated_database_with_simulator, percentile  # noqa: E402

WAIT_SECONDS = 30


def make_mailbox(sim):
    from brokerages.models import Mailbox

    brokerage, [address] = create_brokerage(sim, "Latency bench", f"latency-{uuid.uuid4().hex[:8]}.example", ["agent"])
    sim.seed_contacts(address, [{"given_name": f"Existing{n}", "surname": "Client"} for n in range(200)])
    return Mailbox.objects.create(brokerage=brokerage, email=address)


def wait_idle(mailbox_id: int, runs_before: int) -> None:
    from brokerages.models import Mailbox
    from scheduling.models import SyncRun

    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if SyncRun.objects.filter(mailbox_id=mailbox_id).count() > runs_before and not Mailbox.objects.filter(
            pk=mailbox_id, lease_token__isnull=False
        ).exists():
            return
        time.sleep(0.05)
    raise RuntimeError("the fleet did not go idle")


def create_and_wait(sim, client, mailbox, name: str) -> float:
    from scheduling.models import SyncRun

    runs_before = SyncRun.objects.filter(mailbox_id=mailbox.pk).count()
    started = time.perf_counter()
    response = client.post(f"/api/mailboxes/{mailbox.pk}/contacts/", {"given_name": name, "surname": "Latency"}, format="json")
    if response.status_code != 201:
        raise RuntimeError(f"POST refused: {response.status_code} {response.content[:300]!r}")
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if any(item["fields"].get("given_name") == name for item in sim.list_items(mailbox.email, "contacts")):
            seconds = time.perf_counter() - started
            wait_idle(mailbox.pk, runs_before)
            return seconds
        time.sleep(0.02)
    raise RuntimeError(f"{name} never reached the mailbox")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=30)
    args = parser.parse_args()
    worker = None
    stop = threading.Event()
    with migrated_database_with_simulator("sync-latency-bench-") as (running, state):
        try:
            from brokerages.gateways import gateway_for_mailbox
            from engage_sync.celery import app
            from mailboxes.items import Contact
            from scheduling import dispatch

            app.control.purge()
            sim = running.client
            mailbox = make_mailbox(sim)
            client = api_client()
            # One process on the sync queue with 2 threads: an idle fleet, so nothing queues behind the create.
            worker = CeleryProcess.worker(1, "sync", {**os.environ, "ENGAGE_FAILPOINTS": ""}, state, concurrency=2)
            worker.wait_ready()

            def tick() -> None:  # beat's dispatcher, every 2 s
                from django.db import connection

                while not stop.wait(2):
                    dispatch.dispatch()
                connection.close()

            threading.Thread(target=tick, daemon=True).start()
            gateway = gateway_for_mailbox(mailbox)
            floor = []
            for n in range(args.contacts):
                started = time.perf_counter()
                gateway.create_contact(mailbox.email, Contact(given_name=f"Floor{n}", surname="Latency"), tag=f"floor-{n}")
                floor.append(time.perf_counter() - started)
            create_and_wait(sim, client, mailbox, "Warmup")  # the first sync: the worker's TLS, token, folders
            seconds = [create_and_wait(sim, client, mailbox, f"Latency{n}") for n in range(args.contacts)]
        finally:
            stop.set()
            if worker is not None:
                worker.stop()
    print(f"CRM API -> contact in the mailbox, idle fleet (1 worker process on the sync queue), {len(seconds)} creates: "
          f"median {statistics.median(seconds) * 1000:.0f} ms, p95 {percentile(seconds, 0.95) * 1000:.0f} ms, "
          f"max {max(seconds) * 1000:.0f} ms (aim: p95 < 3000 ms)")
    print(f"floor (gateway create_contact alone): median {statistics.median(floor) * 1000:.0f} ms; "
          f"ratio median / floor = {statistics.median(seconds) / statistics.median(floor):.1f}x")


if __name__ == "__main__":
    main()
