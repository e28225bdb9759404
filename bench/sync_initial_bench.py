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
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

from harness import create_brokerage, migrated_database_with_simulator  # noqa: E402

PAGE_SIZE = 256  # settings.SYNC_PAGE_SIZE's default: both sides page alike


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def seed(sim, contacts: int, events: int, mailboxes: int) -> list[int]:
    """One brokerage with ``mailboxes`` mailboxes seeded alike, at the simulator and here; returns their ids."""
    from brokerages.models import Mailbox

    brokerage, addresses = create_brokerage(sim, "Initial sync bench", f"initial-{uuid.uuid4().hex[:8]}.example",
                                            [f"agent{n}" for n in range(mailboxes)])  # fmt: skip
    for address in addresses:
        seed_mailbox(sim, address, contacts, events)
    return [Mailbox.objects.create(brokerage=brokerage, email=address).pk for address in addresses]


def seed_mailbox(sim, address: str, contacts: int, events: int) -> None:
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


def child_floor(mailbox_id: int) -> dict:
    """exchangelib alone: every SyncFolderItems page and a GetItem per 50 ids, items parsed and dropped."""
    from exchangelib.items import ID_ONLY
    from exchangelib.services import SyncFolderItems

    from brokerages.gateways import gateway_for_mailbox
    from brokerages.models import Mailbox

    mailbox = Mailbox.objects.select_related("brokerage").get(pk=mailbox_id)
    gateway = gateway_for_mailbox(mailbox)
    started, cpu = time.perf_counter(), cpu_seconds()
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
    return {"seconds": time.perf_counter() - started, "cpu": cpu_seconds() - cpu, "items": fetched,
            "peak_rss_mib": peak_rss_mib()}


def child_engine(mailbox_id: int) -> dict:
    from brokerages.gateways import gateway_for_mailbox
    from brokerages.models import Mailbox
    from sync.engine import sync_mailbox
    from sync.models import Contact, Event, SyncLink

    mailbox = Mailbox.objects.select_related("brokerage").get(pk=mailbox_id)
    started, cpu = time.perf_counter(), cpu_seconds()
    result = sync_mailbox(mailbox, gateway_for_mailbox(mailbox), lambda: None)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    rows = Contact.objects.filter(mailbox_id=mailbox_id).count() + Event.objects.filter(mailbox_id=mailbox_id).count()
    return {"seconds": seconds, "cpu": cpu, "items": result.pulled, "rows": rows, "peak_rss_mib": peak_rss_mib(),
            "links": SyncLink.objects.filter(mailbox_id=mailbox_id).count()}  # fmt: skip


def run_child(kind: str, mailbox_id: int) -> dict:
    script = os.environ.get("BENCH_CHILD_SCRIPT") if kind == "engine" else None
    if script:  # an instrumented engine child (profiling); prints its own breakdown to stderr
        out = subprocess.run([sys.executable, script, str(mailbox_id)], cwd=ROOT, env=os.environ, capture_output=True,
                             text=True, timeout=1800)  # fmt: skip
        print(out.stdout[-3000:], out.stderr[-3000:])
        return json.loads(out.stdout.strip().splitlines()[-2].replace("'", '"'))
    out = subprocess.run([sys.executable, __file__, "--child", kind, "--mailbox-id", str(mailbox_id)],
                         cwd=ROOT, env=os.environ, capture_output=True, text=True, timeout=1800)  # fmt: skip
    if out.returncode:
        raise RuntimeError(f"{kind} child failed:\n{out.stderr[-4000:]}")
    if os.environ.get("BENCH_PROFILE") == kind:
        print(out.stderr[-12000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=5000)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3, help="mailboxes seeded alike; floor and engine alternate")
    parser.add_argument("--child", choices=["floor", "engine"])
    parser.add_argument("--mailbox-id", type=int)
    args = parser.parse_args()
    import django

    if args.child:
        django.setup()
        run = child_floor if args.child == "floor" else child_engine
        if os.environ.get("BENCH_PROFILE") == args.child:  # where the time goes: cProfile to stderr
            import cProfile
            import pstats

            profile = cProfile.Profile()
            result = profile.runcall(run, args.mailbox_id)
            pstats.Stats(profile, stream=sys.stderr).sort_stats("tottime").print_stats(40)
            print(json.dumps(result))
            return
        print(json.dumps(run(args.mailbox_id)))
        return

    with migrated_database_with_simulator("sync-initial-bench-") as (running, _state):
        sim = running.client
        started = time.perf_counter()
        mailbox_ids = seed(sim, args.contacts, args.events, args.rounds)
        print(f"seeded {args.rounds} mailboxes of {args.contacts} contacts and {args.events} events "
              f"in {time.perf_counter() - started:.1f}s")
        run_child("floor", mailbox_ids[0])  # warm: the token into the shared cache, the simulator's caches
        floors, engines = [], []
        for mailbox_id in mailbox_ids:  # alternate, so a burst of load elsewhere hits both alike
            floors.append(run_child("floor", mailbox_id))
            engines.append(run_child("engine", mailbox_id))
    floor_wall = statistics.median(f["seconds"] for f in floors)
    engine_wall = statistics.median(e["seconds"] for e in engines)
    floor_cpu = statistics.median(f["cpu"] for f in floors)
    engine_cpu = statistics.median(e["cpu"] for e in engines)
    last = engines[-1]
    floor_runs = ", ".join(f"{f['seconds']:.1f}" for f in floors)
    engine_runs = ", ".join(f"{e['seconds']:.1f}" for e in engines)
    print(f"floor (exchangelib alone, page {PAGE_SIZE}, GetItem x50), {floors[0]['items']} items: wall "
          f"{floor_runs} s (median {floor_wall:.1f}), CPU median "
          f"{floor_cpu:.1f} s; peak RSS {max(f['peak_rss_mib'] for f in floors):.0f} MiB")
    print(f"engine first sync, {last['items']} pulled -> {last['rows']} CRM rows, {last['links']} links: wall "
          f"{engine_runs} s (median {engine_wall:.1f}), CPU median "
          f"{engine_cpu:.1f} s; worker peak RSS {max(e['peak_rss_mib'] for e in engines):.0f} MiB (aim < 300 MB)")
    print(f"ratio engine / floor: wall {engine_wall / floor_wall:.2f}x (aim <= 1.3x), worker CPU {engine_cpu / floor_cpu:.2f}x "
          f"(medians of {len(engines)} alternating runs)")


if __name__ == "__main__":
    main()
