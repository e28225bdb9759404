"""The gateway on EWS and on Graph against the simulator: an initial read of a mailbox and a no-change read.

Prints, per backend, for a mailbox seeded with --contacts contacts and --events single events plus --series
weekly series: the wall time of reading both collections from the start (page size 100) and of reading them
again with nothing changed, with the mail-protocol requests and token requests each made (simulator counters;
Graph operations count each $batch item, as Graph's request quota does).
For Graph it also prints the floor: a bare httpx client paging the same contacts delta (page size 100, ids only).
Run: .venv/bin/python bench/graph_gateway_bench.py [--contacts 2000] [--events 300] [--series 20]
"""

from __future__ import annotations

import argparse
import functools
import os
import ssl
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mailboxes.connection import GRAPH_SCOPE, ConnectionDetails
from mailboxes.gateway import open_gateway
from mailboxes.items import Collection
from mailboxes.secret import Secret
from mailboxes.tokens import TokenProvider
from tests.fixtures.simulator import start_simulator, stop_simulator

GRAPH_ROLES = ["Contacts.ReadWrite", "Calendars.ReadWrite", "Mail.ReadWrite", "Mail.Send"]


def seed(sim, contacts: int, events: int, series: int) -> tuple[dict, str, str]:
    domain = f"bench-{uuid.uuid4().hex[:8]}.example"
    tenant = sim.create_tenant("Bench", [domain])
    app = sim.create_app(tenant["tenant_id"], "Engage Sync", graph_roles=GRAPH_ROLES)
    [mailbox] = sim.create_mailboxes(tenant["tenant_id"], [f"agent@{domain}"])
    for start in range(0, contacts, 500):
        sim.seed_contacts(mailbox, [{"given_name": f"C{n}", "surname": "Bench", "display_name": f"C{n} Bench",
                                     "email1": f"c{n}@client.example"} for n in range(start, min(start + 500, contacts))])
    day = 86400
    base = int(time.time()) // day * day + 7 * day
    singles = [{"subject": f"Showing {n}", "start": time.strftime("%Y-%m-%dT15:00:00Z", time.gmtime(base + n % 200 * day)),
                "end": time.strftime("%Y-%m-%dT16:00:00Z", time.gmtime(base + n % 200 * day)),
                "start_tz": "Eastern Standard Time", "end_tz": "Eastern Standard Time"} for n in range(events)]
    weekly = [{**singles[0], "subject": f"Team call {n}",
               "recurrence": {"pattern": {"type": "weekly", "interval": 1, "days_of_week": ["Monday"]},
                              "range": {"type": "numbered", "start_date": singles[0]["start"][:10], "count": 10}}}
              for n in range(series)]
    sim.seed_events(mailbox, singles + weekly)
    return {"tenant_id": tenant["tenant_id"], "client_id": app["client_id"], "secret": app["secret"]["value"],
            "domain": domain}, mailbox, domain


def counters(sim) -> dict[str, int]:
    stats = sim.stats()
    return {"ews": sum(stats.get("ews_operation", {}).values()), "graph": sum(stats.get("graph_operation", {}).values()),
            "tokens": sum(stats.get("token_app", {}).values())}


def read_all(gateway, mailbox: str, watermarks: dict) -> int:
    items = 0
    for collection in (Collection.CONTACTS, Collection.CALENDAR):
        for page in gateway.read_changes(mailbox, collection, watermarks.get(collection), page_size=100):
            items += len(page.changes)
            watermarks[collection] = page.watermark
    return items


def timed(sim, label: str, call) -> None:
    before, started = counters(sim), time.perf_counter()
    items = call()
    wall = time.perf_counter() - started
    after = counters(sim)
    print(f"  {label:<34} {wall * 1000:8.0f} ms  {items:6d} changes  EWS requests {after['ews'] - before['ews']:5d}  "
          f"Graph operations {after['graph'] - before['graph']:5d}  token requests {after['tokens'] - before['tokens']}")


def floor(sim, client: httpx.Client, mailbox: str) -> int:
    """Page the contacts delta with a bare client, ids only: the least a Graph read can cost."""
    url, count = f"{sim.graph_url}/users/{mailbox}/contacts/delta?$select=id", 0
    while url:
        body = client.get(url).json()
        count += len(body["value"])
        url = body.get("@odata.nextLink")
    return count


def run_backend(sim, backend: str, args: argparse.Namespace, redis_url: str) -> None:
    app, mailbox, domain = seed(sim, args.contacts, args.events, args.series)
    details = ConnectionDetails(
        key=f"bench-{backend}", tenant_id=app["tenant_id"], client_id=app["client_id"],
        client_secret=Secret(app["secret"]), authority_host=sim.base_url, ews_url=sim.ews_url,
        graph_url=sim.graph_url, ca_bundle_path=sim.ca_path, allowed_domains=frozenset({domain}), backend=backend,
    )  # fmt: skip
    tokens = TokenProvider.from_redis_url(redis_url, key_prefix=f"bench-token:{uuid.uuid4().hex[:8]}")
    gateway = open_gateway(details, tokens)
    print(f"{backend}: {args.contacts} contacts, {args.events} events, {args.series} weekly series")
    watermarks: dict = {}
    timed(sim, "initial read (both collections)", functools.partial(read_all, gateway, mailbox, watermarks))
    timed(sim, "no-change read (both collections)", functools.partial(read_all, gateway, mailbox, watermarks))
    if backend == "graph":
        token = tokens.get_token(details, scope=GRAPH_SCOPE).value.reveal()
        context = ssl.create_default_context(cafile=sim.ca_path)
        headers = {"Authorization": f"Bearer {token}", "Prefer": "odata.maxpagesize=100"}
        with httpx.Client(verify=context, headers=headers) as client:
            timed(sim, "floor: bare httpx contacts delta", functools.partial(floor, sim, client, mailbox))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--series", type=int, default=20)
    args = parser.parse_args()
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/5")
    with tempfile.TemporaryDirectory() as state_dir:
        running = start_simulator(Path(state_dir))
        try:
            for backend in ("ews", "graph"):
                run_backend(running.client, backend, args, redis_url)
        finally:
            stop_simulator(running.process)


if __name__ == "__main__":
    main()
