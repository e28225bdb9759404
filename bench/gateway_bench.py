"""Mailbox gateway figures against the simulator: credential-verification wall time and worker memory.

Prints: the wall time of one verification-shaped sequence of gateway calls (fresh token, mailbox, contacts,
calendar, test contact and event created and removed; median and p90 of --runs), and the process RSS while
verifying --brokerages brokerages once and then all of them again: it must level off, not grow per repeat.
Run: .venv/bin/python bench/gateway_bench.py [--runs 15] [--brokerages 200]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mailboxes.connection import ConnectionDetails
from mailboxes.ews import EwsGateway
from mailboxes.ews_transport import protocol_cache_size
from mailboxes.items import Collection, Contact, Event
from mailboxes.secret import Secret
from mailboxes.tokens import TokenProvider
from tests.fixtures.simulator import start_simulator, stop_simulator

TEST_EVENT_START = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def verify(gateway: EwsGateway, mailbox: str) -> None:
    """The gateway calls a verification makes (the verification task itself lives in brokerages/)."""
    gateway.check_token(fresh=True)
    gateway.check_mailbox(mailbox)
    gateway.check_collection(mailbox, Collection.CONTACTS)
    gateway.check_collection(mailbox, Collection.CALENDAR)
    tag = f"engage:verify:{uuid.uuid4().hex}"
    contact = gateway.create_contact(mailbox, Contact(given_name="Engage", surname="Verification"), tag=tag)
    gateway.delete_item(mailbox, contact)
    event = gateway.create_event(
        mailbox, Event("Engage verification", TEST_EVENT_START, TEST_EVENT_START + dt.timedelta(minutes=15)), tag=tag
    )
    gateway.delete_item(mailbox, event)


def make_brokerage(sim, n: int) -> tuple[ConnectionDetails, str]:
    domain = f"bench{n}-{uuid.uuid4().hex[:6]}.example"
    tenant = sim.create_tenant(f"Bench {n}", [domain])
    app = sim.create_app(tenant["tenant_id"], "Engage Sync")
    [mailbox] = sim.create_mailboxes(tenant["tenant_id"], [f"agent@{domain}"])
    details = ConnectionDetails(
        key=f"bench-{n}", tenant_id=tenant["tenant_id"], client_id=app["client_id"],
        client_secret=Secret(app["secret"]["value"]), authority_host=sim.base_url, ews_url=sim.ews_url,
        ca_bundle_path=sim.ca_path, allowed_domains=frozenset({domain}),
    )  # fmt: skip
    return details, mailbox


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--brokerages", type=int, default=200)
    args = parser.parse_args()
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/5")
    tokens = TokenProvider.from_redis_url(redis_url, key_prefix=f"bench-token:{uuid.uuid4().hex[:8]}")
    with tempfile.TemporaryDirectory() as state_dir:
        running = start_simulator(Path(state_dir), "--lenient")  # the fast path: no schema checks
        try:
            sim = running.client
            details, mailbox = make_brokerage(sim, 0)
            verify(EwsGateway(details, tokens), mailbox)  # warm: imports, MSAL app, TLS session
            walls = []
            for _ in range(args.runs):
                started = time.perf_counter()
                verify(EwsGateway(details, tokens), mailbox)
                walls.append((time.perf_counter() - started) * 1000)
            walls.sort()
            print(f"verification wall time over {args.runs} runs: median {statistics.median(walls):.0f} ms, "
                  f"p90 {walls[int(len(walls) * 0.9) - 1]:.0f} ms, min {walls[0]:.0f} ms")

            brokerages = [make_brokerage(sim, n) for n in range(1, args.brokerages + 1)]
            start_rss = rss_mib()
            print(f"RSS before: {start_rss:.1f} MiB, exchangelib protocols cached: {protocol_cache_size()}")
            after_round = {}
            for round_number in (1, 2):
                for n, (details, mailbox) in enumerate(brokerages, 1):
                    verify(EwsGateway(details, tokens), mailbox)
                    if n % (args.brokerages // 4 or 1) == 0:
                        print(f"  round {round_number}: {n:4d} brokerages verified, RSS {rss_mib():7.1f} MiB, "
                              f"protocols cached {protocol_cache_size()}")
                after_round[round_number] = rss_mib()
            first = after_round[1] - start_rss
            second = after_round[2] - after_round[1]
            print(f"RSS growth: first round {first:+.1f} MiB ({first * 1024 / args.brokerages:+.1f} KiB/brokerage), "
                  f"second round (same brokerages again) {second:+.1f} MiB "
                  f"({second * 1024 / args.brokerages:+.1f} KiB/brokerage)")
        finally:
            stop_simulator(running.process)


if __name__ == "__main__":
    main()
