"""Initial sync of a big mailbox: the engine's wall time against exchangelib alone paging and fetching the same
items (the floor, same run), and the engine process's peak RSS.

Seeds one simulator mailbox with --contacts contacts and --events events, then runs, each in a fresh child
process (so RSS is that of a worker doing only this): the floor (SyncFolderItems pages + GetItem batches of 50,
exchangelib only, nothing kept) and the engine's first sync (sync.engine.sync_mailbox: pull, plan, write every
CRM row and link, store the watermark). Aim: engine <= 1.3x the floor, peak RSS < 300 MB.
Run: DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/sync_initial_bench.py [--contacts 5000 --events 2000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

PAGE_SIZE = 256  # settings.SYNC_PAGE_SIZE's default: both sides page alike


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def seed(sim, contacts: int, events: int) -> dict:
    domain = f"initial-{uuid.uuid4().hex[:8]}.example"
    tenant = sim.create_tenant("Initial sync bench", [domain])
    app = sim.create_app(tenant["tenant_id"], "Engage Sync")
    [address] = sim.create_mailboxes(tenant["tenant_id"], [f"agent@{domain}"])
    for start in range(0, contacts, 1000):
        sim.seed_contacts(address, [
            {"given_name": f"Client{n}", "surname": "Bench", "emails": [f"client{n}@buyers.example"],
             "phones": {"mobile": f"+1 206 555 {n:04d}"}, "company_name": "Buyers Inc", "job_title": "Buyer",
             "addresses": {"home": {"street": f"{n} Main St", "city": "Seattle", "postal_code": "98101"}},
             "notes": "Looking for 3 beds near a school."}
            for n in range(start, min(start + 1000, contacts))])  # fmt: skip
    first = dt.datetime.now(dt.UTC).replace(hour=9, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
    for start in range(0, events, 1000):
        sim.seed_events(address, [
            {"subject": f"Viewing {n}", "start": (first + dt.timedelta(hours=3 * n)).isoformat(),
             "end": (first + dt.timedelta(hours=3 * n, minutes=45)).isoformat(), "location": f"{n} Elm St",
             "start_tz": "Pacific Standard Time", "end_tz": "Pacific Standard Time", "body": "Bring the keys.",
             "attendees": [{"email": f"client{n}@buyers.example"}]}
            for n in range(start, min(start + 1000, events))])  # fmt: skip
    return {"tenant": tenant, "app": app, "address": address, "domain": domain}


def make_rows(sim, world: dict) -> int:
    from brokerages.models import Brokerage, Mailbox

    brokerage = Brokerage.objects.create(
        name="Initial bench", tenant_id=world["tenant"]["tenant_id"], client_id=world["app"]["client_id"],
        client_secret=world["app"]["secret"]["value"], client_secret_expires_on=dt.date.today() + dt.timedelta(days=90),
        test_mailbox=world["address"], email_domains=[world["domain"]], authority_host=sim.base_url,
        ews_url=sim.ews_url, ca_bundle_path=sim.ca_path, status=Brokerage.Status.ACTIVE,
    )  # fmt: skip
    return Mailbox.objects.create(brokerage=brokerage, email=world["address"]).pk


def child_floor(mailbox_id: int) -> dict:
    """exchangelib alone: every SyncFolderItems page and a GetItem per 50 ids, items parsed and dropped."""
    from exchangelib.items import ID_ONLY
    from exchangelib.services import SyncFolderItems

    from brokerages.gateways import gateway_for_mailbox
    from brokerages.models import Mailbox

    mailbox = Mailbox.objects.select_related("brokerage").get(pk=mailbox_id)
    gateway = gateway_for_mailbox(mailbox)
    started = time.perf_counter()
    account = gateway._account(mailbox.email)  # the same exchangelib Account set-up the gateway uses
    fetched = 0
    for folder in (account.contacts, account.calendar):
        state = None
        for _page in range(100_000):
            service = SyncFolderItems(account=account)
            raw = list(service.call(folder=folder, shape=ID_ONLY, additional_fields=None, sync_state=state,
                                    ignore=None, max_changes_returned=PAGE_SIZE, sync_scope=None))  # fmt: skip
            ids = [value.id for kind, value in raw if kind in ("create", "update")]
            for start in range(0, len(ids), 50):
                fetched += sum(1 for _ in account.fetch(ids=[(i, None) for i in ids[start : start + 50]], folder=folder))
            more = not service.includes_last_item_in_range and service.sync_state != state
            state = service.sync_state
            if not more:
                break
    return {"seconds": time.perf_counter() - started, "items": fetched, "peak_rss_mib": peak_rss_mib()}


def child_engine(mailbox_id: int) -> dict:
    from brokerages.gateways import gateway_for_mailbox
    from brokerages.models import Mailbox
    from sync.engine import sync_mailbox
    from sync.models import Contact, Event, SyncLink

    mailbox = Mailbox.objects.select_related("brokerage").get(pk=mailbox_id)
    started = time.perf_counter()
    result = sync_mailbox(mailbox, gateway_for_mailbox(mailbox), lambda: None)
    seconds = time.perf_counter() - started
    rows = Contact.objects.filter(mailbox_id=mailbox_id).count() + Event.objects.filter(mailbox_id=mailbox_id).count()
    return {"seconds": seconds, "items": result.pulled, "rows": rows, "peak_rss_mib": peak_rss_mib(),
            "links": SyncLink.objects.filter(mailbox_id=mailbox_id).count()}  # fmt: skip


def run_child(kind: str, mailbox_id: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, "--mailbox-id", str(mailbox_id)],
                         cwd=ROOT, env=os.environ, capture_output=True, text=True, timeout=1800)  # fmt: skip
    if out.returncode:
        raise RuntimeError(f"{kind} child failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=5000)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--child", choices=["floor", "engine"])
    parser.add_argument("--mailbox-id", type=int)
    args = parser.parse_args()
    import django

    if args.child:
        django.setup()
        print(json.dumps((child_floor if args.child == "floor" else child_engine)(args.mailbox_id)))
        return

    from email_bench import create_database, drop_database

    from tests.fixtures.simulator import start_simulator, stop_simulator

    database_url = create_database(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/engage_sync"))
    os.environ["DATABASE_URL"] = database_url
    with tempfile.TemporaryDirectory(prefix="sync-initial-bench-") as state:
        running = start_simulator(Path(state) / "simulator")
        os.environ["REQUESTS_CA_BUNDLE"] = os.environ["CURL_CA_BUNDLE"] = running.ca_bundle_with_system
        try:
            django.setup()
            from django.core.management import call_command

            call_command("migrate", verbosity=0)
            sim = running.client
            started = time.perf_counter()
            world = seed(sim, args.contacts, args.events)
            mailbox_id = make_rows(sim, world)
            print(f"seeded {args.contacts} contacts and {args.events} events in {time.perf_counter() - started:.1f}s")
            if os.environ.get("BENCH_HOLD"):  # profiling: leave the world up and say where it is
                print(json.dumps({"mailbox_id": mailbox_id, "db": database_url}), flush=True)
                time.sleep(float(os.environ["BENCH_HOLD"]))
            run_child("floor", mailbox_id)  # warm: the token into the shared cache, the simulator's caches
            floor = run_child("floor", mailbox_id)
            engine = run_child("engine", mailbox_id)
            floor_after = run_child("floor", mailbox_id)
        finally:
            stop_simulator(running.process)
            from django.db import connections

            connections.close_all()
            drop_database(database_url)
    best_floor = min(floor["seconds"], floor_after["seconds"])
    print(f"floor (exchangelib alone, page {PAGE_SIZE}, GetItem x50): {floor['seconds']:.1f}s / {floor_after['seconds']:.1f}s "
          f"(before / after the engine) for {floor['items']} items; peak RSS {floor['peak_rss_mib']:.0f} MiB")
    print(f"engine first sync: {engine['seconds']:.1f}s, {engine['items']} pulled, {engine['rows']} CRM rows, "
          f"{engine['links']} links; worker peak RSS {engine['peak_rss_mib']:.0f} MiB (aim < 300 MB)")
    print(f"ratio: engine / floor = {engine['seconds'] / best_floor:.2f}x (aim <= 1.3x; against the faster floor run)")


if __name__ == "__main__":
    main()
