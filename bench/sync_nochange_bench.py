"""No-change syncs of many mailboxes: requests per mailbox (must be one per folder, no token request) and the
worker's CPU milliseconds per mailbox sync, against the same run's floor (the gateway's two polls alone).

Seeds --mailboxes mailboxes over --brokerages brokerages (3 contacts and 1 event each), syncs each once (the
first sync), then syncs every mailbox again with nothing changed, counting requests at the simulator and CPU
time (time.process_time) in this process, which is what a worker thread spends.
Run: DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/sync_nochange_bench.py [--mailboxes 1000]
"""

from __future__ import annotations

import argparse
import datetime as dt
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

from harness import create_brokerage, migrated_database_with_simulator  # noqa: E402


def seed(sim, mailboxes: int, brokerages: int) -> list[int]:
    from brokerages.models import Mailbox

    ids: list[int] = []
    per = -(-mailboxes // brokerages)
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=3)
    for b in range(brokerages):
        count = min(per, mailboxes - len(ids))
        brokerage, addresses = create_brokerage(sim, f"No-change {b}", f"nochange{b}-{uuid.uuid4().hex[:6]}.example",
                                                [f"agent{n}" for n in range(count)])  # fmt: skip
        for address in addresses:
            sim.seed_contacts(address, [{"given_name": f"C{n}", "surname": "Quiet"} for n in range(3)])
            sim.seed_events(address, [{"subject": "Viewing", "start": start.isoformat(),
                                       "end": (start + dt.timedelta(hours=1)).isoformat()}])  # fmt: skip
            ids.append(Mailbox.objects.create(brokerage=brokerage, email=address).pk)
    return ids


def sync_all(ids: list[int]) -> tuple[list[float], list[float]]:
    """Sync each mailbox once; CPU and wall seconds per mailbox."""
    from brokerages.gateways import gateway_for_mailbox
    from brokerages.models import Mailbox
    from sync.engine import sync_mailbox

    cpu, wall = [], []
    for mailbox_id in ids:
        c, w = time.process_time(), time.perf_counter()
        mailbox = Mailbox.objects.select_related("brokerage").get(pk=mailbox_id)  # as run_sync loads it
        result = sync_mailbox(mailbox, gateway_for_mailbox(mailbox), lambda: None)
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
        if result.paused_reason:
            raise RuntimeError(result.paused_reason)
    return cpu, wall


def poll_floor(ids: list[int]) -> list[float]:
    """The floor: the gateway's two change polls per mailbox from the stored watermarks, nothing else."""
    from brokerages.gateways import gateway_for_mailbox
    from brokerages.models import Mailbox
    from mailboxes.items import Collection
    from sync.models import FolderState

    marks = {(s.mailbox_id, s.collection): s.watermark for s in FolderState.objects.filter(mailbox_id__in=ids)}
    cpu = []
    for mailbox_id in ids:
        c = time.process_time()
        mailbox = Mailbox.objects.select_related("brokerage").get(pk=mailbox_id)
        gateway = gateway_for_mailbox(mailbox)
        for collection in (Collection.CONTACTS, Collection.CALENDAR):
            for _page in gateway.read_changes(mailbox.email, collection, marks[(mailbox_id, collection.value)]):
                pass
        cpu.append(time.process_time() - c)
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mailboxes", type=int, default=1000)
    parser.add_argument("--brokerages", type=int, default=40)  # 25 mailboxes each: within a worker's Account cache
    args = parser.parse_args()
    with migrated_database_with_simulator("sync-nochange-bench-") as (running, _state):
        sim = running.client
        started = time.perf_counter()
        ids = seed(sim, args.mailboxes, args.brokerages)
        print(f"seeded {len(ids)} mailboxes in {args.brokerages} brokerages in {time.perf_counter() - started:.1f}s")
        started = time.perf_counter()
        sync_all(ids)
        print(f"first syncs: {time.perf_counter() - started:.1f}s")
        floor_cpu = poll_floor(ids)
        before = sim.stats()
        cpu, wall = sync_all(ids)
        after = sim.stats()

    def delta(kind: str, key: str | None = None) -> int:
        if key is not None:
            return after.get(kind, {}).get(key, 0) - before.get(kind, {}).get(key, 0)
        return sum(after.get(kind, {}).values()) - sum(before.get(kind, {}).values())

    n = len(ids)
    operations = {op: delta("ews_operation", op) for op in after.get("ews_operation", {}) if delta("ews_operation", op)}
    print(f"no-change sync of {n} mailboxes (2 folders each): {delta('ews_mailbox') / n:.2f} EWS requests per mailbox "
          f"({', '.join(f'{op} {count / n:.2f}' for op, count in sorted(operations.items()))}); "
          f"token requests: {delta('token_tenant')}")
    print(f"worker CPU per mailbox sync: median {statistics.median(cpu) * 1000:.1f} ms, mean {statistics.mean(cpu) * 1000:.1f} ms; "
          f"wall median {statistics.median(wall) * 1000:.1f} ms")
    print(f"floor (the two polls alone): CPU median {statistics.median(floor_cpu) * 1000:.1f} ms; "
          f"ratio engine / floor = {statistics.median(cpu) / statistics.median(floor_cpu):.2f}x")


if __name__ == "__main__":
    main()
