"""Simulator throughput and CPU per request, driven by the real exchangelib from this (separate) process.

Prints: no-change SyncFolderItems requests/s, GetItem of 100 contacts requests/s, and the CPU seconds per
request spent by the client (this process: exchangelib + TLS) and by the simulator (its process, from /proc).
The simulator must stay cheaper per request than the client, so fleet benchmarks measure the fleet.
Run: .venv/bin/python bench/simulator_bench.py [--requests 300] [--strict]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from exchangelib import IMPERSONATION, Account, Configuration, Identity, OAuth2Credentials
from exchangelib.transport import OAUTH2
from exchangelib.version import EXCHANGE_2016, Version
from oauthlib.oauth2 import OAuth2Token

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import cpu_seconds  # of another process (the simulator), from /proc
from harness import measure_against_server as measure

from tests.fixtures.simulator import start_simulator, stop_simulator


def exchange_account(ews_url: str, tenant_id: str, client_id: str, mailbox: str, token: str) -> Account:
    credentials = OAuth2Credentials(
        client_id=client_id, client_secret=None, tenant_id=tenant_id, identity=Identity(primary_smtp_address=mailbox),
        access_token=OAuth2Token({"access_token": token, "token_type": "Bearer", "expires_at": time.time() + 3000}))
    config = Configuration(credentials=credentials, service_endpoint=ews_url, auth_type=OAUTH2,
                           version=Version(build=EXCHANGE_2016))
    return Account(mailbox, config=config, autodiscover=False, access_type=IMPERSONATION)


def sync_loop(ca_bundle: str, ews_url: str, tenant_id: str, client_id: str, mailbox: str, token: str,
              count: int, start_at: float) -> float:
    """One client process: initial sync, then `count` no-change syncs; returns its CPU seconds for the loop."""
    os.environ["REQUESTS_CA_BUNDLE"] = ca_bundle
    folder = exchange_account(ews_url, tenant_id, client_id, mailbox, token).contacts
    list(folder.sync_items())
    state = folder.item_sync_state
    time.sleep(max(0.0, start_at - time.time()))
    before = time.process_time()
    for _ in range(count):
        assert not list(folder.sync_items(sync_state=state))
    return time.process_time() - before


def measure_parallel(clients: int, count: int, server_pid: int, *connection: str) -> None:
    """`clients` processes (one connection each) syncing at once: total throughput and CPU per request."""
    start_at = time.time() + 5.0  # all clients set up before anyone starts
    with ProcessPoolExecutor(max_workers=clients, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(sync_loop, *connection, count, start_at) for _ in range(clients)]
        time.sleep(max(0.0, start_at - time.time()))
        server_before, started = cpu_seconds(server_pid), time.perf_counter()
        client_cpu = sum(f.result() for f in futures)
        elapsed = time.perf_counter() - started
    server_cpu = cpu_seconds(server_pid) - server_before
    total = clients * count
    print(f"{f'SyncFolderItems, no changes, {clients} clients':<38} {total / elapsed:8.1f} req/s   client CPU "
          f"{client_cpu / total * 1000:6.2f} ms/req   simulator CPU {server_cpu / total * 1000:6.2f} ms/req   "
          f"(ratio {server_cpu / max(client_cpu, 1e-9):.2f})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--clients", type=int, default=2, help="client processes for the parallel figure (0: skip)")
    parser.add_argument("--strict", action="store_true",
                        help="run the simulator as the test suite does: every request and response schema-validated")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state_dir:
        running = start_simulator(Path(state_dir), "--strict" if args.strict else "--lenient")
        try:
            os.environ["REQUESTS_CA_BUNDLE"] = running.ca_bundle_with_system  # exchangelib verifies with requests
            sim = running.client
            tenant = sim.create_tenant("Bench Realty", ["bench.example"])
            app = sim.create_app(tenant["tenant_id"], "Engage Sync")
            [mailbox] = sim.create_mailboxes(tenant["tenant_id"], ["agent@bench.example"])
            sim.seed_contacts(mailbox, [{"given_name": f"Client{i}", "surname": "Bench", "email1": f"c{i}@mail.example",
                                         "phones": {"mobile": f"+1 555 {i:04d}"}} for i in range(100)])
            token = sim.mint_token(tenant["tenant_id"], app["client_id"])
            account = exchange_account(sim.ews_url, tenant["tenant_id"], app["client_id"], mailbox, token)
            folder = account.contacts
            list(folder.sync_items())  # initial sync: the state now covers all 100 contacts
            state = folder.item_sync_state
            ids = [(item.id, item.changekey) for item in folder.all().only("id", "changekey")]
            assert len(ids) == 100

            def no_change_sync() -> None:
                assert not list(folder.sync_items(sync_state=state))

            def get_100() -> None:
                assert len(list(account.fetch(ids=ids))) == 100

            mode = "strict (schema-validated)" if args.strict else "fast path"
            print(f"simulator pid {running.process.pid} ({mode}); {args.requests} requests per figure, one connection")
            measure("SyncFolderItems, no changes", args.requests, running.process.pid, no_change_sync)
            measure("GetItem, 100 contacts", max(args.requests // 5, 20), running.process.pid, get_100)
            if args.clients:
                measure_parallel(args.clients, args.requests, running.process.pid, running.ca_bundle_with_system,
                                 sim.ews_url, tenant["tenant_id"], app["client_id"], mailbox, token)
        finally:
            stop_simulator(running.process)


if __name__ == "__main__":
    main()
