"""Graph contacts delta on the simulator: requests/s and CPU per request, simulator against client.

Prints, for the simulator's fast path and for strict mode (every Graph body validated against the OpenAPI
subset, as the test suite runs): no-change contacts delta requests/s (following the deltaLink of a mailbox with
100 contacts, as a sync poll does) and a 100-contact page (`GET /contacts?$top=100`), with the CPU seconds per
request of the client (this process: httpx + TLS + JSON) and of the simulator (its process, from /proc).
Run: .venv/bin/python bench/graph_delta_bench.py [--requests 300] [--modes fast,strict]
"""

from __future__ import annotations

import argparse
import ssl
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import measure_against_server as measure  # CPU of the client and of the simulator's process

from tests.fixtures.simulator import start_simulator, stop_simulator


def run(mode: str, requests: int) -> float:
    """The no-change delta's simulator/client CPU ratio in this mode (after printing every figure)."""
    with tempfile.TemporaryDirectory() as state_dir:
        running = start_simulator(Path(state_dir), "--strict" if mode == "strict" else "--lenient")
        try:
            sim = running.client
            tenant = sim.create_tenant("Bench Realty", ["bench.example"])
            app = sim.create_app(tenant["tenant_id"], "Engage Sync", graph_roles=["Contacts.ReadWrite"])
            [mailbox] = sim.create_mailboxes(tenant["tenant_id"], ["agent@bench.example"])
            sim.seed_contacts(mailbox, [{"given_name": f"Client{i}", "surname": "Bench", "email1": f"c{i}@mail.example",
                                         "phones": {"mobile": f"+1 555 {i:04d}"}} for i in range(100)])
            token = sim.mint_token(tenant["tenant_id"], app["client_id"], resource="https://graph.microsoft.com")
            client = httpx.Client(base_url=sim.graph_url, verify=ssl.create_default_context(cafile=str(sim.ca_path)),
                                  headers={"Authorization": f"Bearer {token}", "Prefer": 'IdType="ImmutableId"'})
            url = f"/users/{mailbox}/contacts/delta"
            while True:  # the initial round: 100 contacts in pages of 10
                page = client.get(url).json()
                url = page.get("@odata.nextLink") or page["@odata.deltaLink"]
                if "@odata.deltaLink" in page:
                    break
            delta_link = url

            def no_change_delta() -> None:
                page = client.get(delta_link).json()
                assert page["value"] == [] and "@odata.deltaLink" in page

            def page_of_100() -> None:
                assert len(client.get(f"/users/{mailbox}/contacts", params={"$top": 100}).json()["value"]) == 100

            print(f"simulator pid {running.process.pid} ({mode}); {requests} requests per figure, one connection")
            ratio = measure(f"{mode}: contacts delta, no changes", requests, running.process.pid, no_change_delta)
            measure(f"{mode}: GET /contacts?$top=100", max(requests // 5, 20), running.process.pid, page_of_100)
            client.close()
        finally:
            stop_simulator(running.process)
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--modes", default="fast,strict", help="fast, strict or both (comma-separated)")
    args = parser.parse_args()
    ratios = {mode.strip(): run(mode.strip(), args.requests) for mode in args.modes.split(",")}
    over = {mode: ratio for mode, ratio in ratios.items() if ratio >= 1.0}
    if over:
        sys.exit(f"FAIL: a no-change contacts delta costs the simulator more CPU than the client: {over}")
    print("OK: the simulator's CPU per no-change delta is below the client's in every mode")


if __name__ == "__main__":
    main()
