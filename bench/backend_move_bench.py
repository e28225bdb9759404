"""Moving brokerages from EWS to Graph: wall time per mailbox and requests per mailbox (translate + fresh state).

Seeds --mailboxes mailboxes over --brokerages brokerages at the simulator, each with --contacts contacts and
--events events, and links them as a sync on EWS would have (one SyncLink per item, the item's EWS id; two folder
states with a watermark), then moves every brokerage to Graph in this process (backend_move.moving.run_move, what
the maintenance worker runs) and prints the wall time, the time per mailbox, and the Graph requests per mailbox and
per brokerage (translateExchangeIds, the verification's token check and mailbox check) counted at the simulator.
The first Graph sync after the move is a full read of each folder: its cost is graph_gateway_bench.py's initial read.
Run: DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/backend_move_bench.py [--mailboxes 1000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

from harness import migrated_database_with_simulator  # noqa: E402

GRAPH_ROLES = ["Contacts.ReadWrite", "Calendars.ReadWrite", "Mail.ReadWrite", "Mail.Send"]


def seed(sim, mailboxes: int, brokerages: int, contacts: int, events: int) -> list[int]:
    """Brokerages on EWS whose mailboxes' items are linked by their EWS ids; returns the brokerage ids."""
    from brokerages.models import Brokerage, Mailbox
    from sync.models import FolderState, SyncLink

    ids, made = [], 0
    per = -(-mailboxes // brokerages)
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=3)
    for b in range(brokerages):
        domain = f"move{b}-{uuid.uuid4().hex[:6]}.example"
        tenant = sim.create_tenant(f"Move {b}", [domain])
        app = sim.create_app(tenant["tenant_id"], "Engage Sync", graph_roles=GRAPH_ROLES)
        count = min(per, mailboxes - made)
        addresses = sim.create_mailboxes(tenant["tenant_id"], [f"agent{n}@{domain}" for n in range(count)])
        brokerage = Brokerage.objects.create(
            name=f"Move {b}", tenant_id=tenant["tenant_id"], client_id=app["client_id"],
            client_secret=app["secret"]["value"], client_secret_expires_on=dt.date.today() + dt.timedelta(days=90),
            test_mailbox=addresses[0], email_domains=[domain], authority_host=sim.base_url, ews_url=sim.ews_url,
            graph_url=sim.graph_url, ca_bundle_path=sim.ca_path, status=Brokerage.Status.ACTIVE)
        links, states = [], []
        for address in addresses:
            mailbox = Mailbox.objects.create(brokerage=brokerage, email=address)
            contact_ids = sim.seed_contacts(address, [{"given_name": f"C{n}", "surname": "Moving"} for n in range(contacts)])
            event_ids = sim.seed_events(address, [{"subject": f"Viewing {n}", "start": start.isoformat(),
                                                   "end": (start + dt.timedelta(hours=1)).isoformat()}
                                                  for n in range(events)])  # fmt: skip
            for collection, remote_ids in (("contacts", contact_ids), ("calendar", event_ids)):
                links += [SyncLink(mailbox=mailbox, collection=collection, local_id=uuid.uuid4(), remote_id=rid,
                                   agreed_hash="0" * 64) for rid in remote_ids]
                states.append(FolderState(mailbox=mailbox, collection=collection, watermark="ews-sync-state",
                                          first_sync_done=True))
        SyncLink.objects.bulk_create(links, batch_size=2000)
        FolderState.objects.bulk_create(states, batch_size=2000)
        ids.append(brokerage.pk)
        made += count
    return ids


def graph_requests(sim) -> dict[str, int]:
    return dict(sim.stats().get("graph_operation", {}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mailboxes", type=int, default=200)
    parser.add_argument("--brokerages", type=int, default=4)
    parser.add_argument("--contacts", type=int, default=20)
    parser.add_argument("--events", type=int, default=5)
    args = parser.parse_args()
    with migrated_database_with_simulator("engage-move-bench-") as (running, _state):
        from backend_move.models import BackendMove
        from backend_move.moving import request_move, run_move
        from brokerages.models import Brokerage
        from sync.models import FolderState, SyncLink

        sim = running.client
        brokerage_ids = seed(sim, args.mailboxes, args.brokerages, args.contacts, args.events)
        before, started = graph_requests(sim), time.perf_counter()
        # In process, one brokerage after another: what one maintenance worker thread does.
        for brokerage in Brokerage.objects.filter(pk__in=brokerage_ids):
            move = request_move(brokerage, Brokerage.Backend.GRAPH)
            state = run_move(move.pk)
            if state != BackendMove.State.DONE:
                raise SystemExit(f"move {move.pk}: {state}: {BackendMove.objects.get(pk=move.pk).error}")
        wall = time.perf_counter() - started
        after = graph_requests(sim)
        spent = {name: after.get(name, 0) - before.get(name, 0) for name in after if after.get(name, 0) != before.get(name, 0)}
        moved = BackendMove.objects.filter(state=BackendMove.State.DONE)
        translated = sum(m.ids_translated for m in moved)
        assert translated == args.mailboxes * (args.contacts + args.events), translated
        assert not FolderState.objects.exclude(watermark="").exists() and SyncLink.objects.count() == translated
        print(f"moved {args.mailboxes} mailboxes ({args.brokerages} brokerages, {args.contacts} contacts + "
              f"{args.events} events each: {translated} ids) EWS → Graph in {wall:.1f} s: "
              f"{wall / args.mailboxes * 1000:.1f} ms a mailbox")
        print(f"Graph requests: {spent} → translateExchangeIds {spent.get('translate_exchange_ids', 0) / args.mailboxes:.2f} "
              f"a mailbox; mailbox checks {spent.get('list_folder_messages', 0) / args.brokerages:.2f} a brokerage")


if __name__ == "__main__":
    main()
