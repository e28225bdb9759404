"""Graph calendarView delta against the simulator: requests/s and CPU per request, client (httpx) vs simulator.

One mailbox with a month of calendar (single events and daily series, about 400 instances in the window), read by
httpx over HTTPS with an MSAL Graph token, as the product's Graph backend will. Figures:
- *calendarView delta, no changes*: following the deltaLink when nothing changed (the poll every sync starts with);
- *calendarView delta, one change*: one event edited through Graph, then the delta round that reports it;
- *initial round*: the first round of the window, paged 100 at a time to its deltaLink (per page).
The simulator must stay cheaper per request than the client, so fleet benchmarks measure the fleet.
Run: .venv/bin/python bench/graph_calendar_bench.py [--requests 300] [--strict]
"""

from __future__ import annotations

import argparse
import os
import ssl
import sys
import tempfile
from pathlib import Path

import httpx
import msal

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import measure_against_server as measure  # CPU of the client and of the simulator's process

from tests.fixtures.simulator import start_simulator, stop_simulator

WINDOW = {"startDateTime": "2030-03-01T00:00:00Z", "endDateTime": "2030-04-01T00:00:00Z"}



def calendar(month_days: int = 31) -> list[dict]:
    """100 single events over the month and 10 daily series of 30 (one an hour apart), in three zones."""
    zones = ("W. Europe Standard Time", "Eastern Standard Time", "UTC")
    singles = [{"subject": f"Viewing {n}", "start": f"2030-03-{n % month_days + 1:02d}T{8 + n % 9:02d}:00:00Z",
                "end": f"2030-03-{n % month_days + 1:02d}T{9 + n % 9:02d}:00:00Z", "start_tz": zones[n % 3]}
               for n in range(100)]
    series = [{"subject": f"Daily {n}", "start": f"2030-03-01T{7 + n:02d}:00:00Z", "end": f"2030-03-01T{7 + n:02d}:30:00Z",
               "start_tz": "UTC", "recurrence": {"pattern": {"type": "daily", "interval": 1},
                                                 "range": {"type": "numbered", "start_date": "2030-03-01",
                                                           "count": 30}}}
              for n in range(10)]
    return singles + series


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--strict", action="store_true",
                        help="run the simulator as the test suite does: every request and response schema-validated")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state_dir:
        running = start_simulator(Path(state_dir), "--strict" if args.strict else "--lenient")
        try:
            os.environ["REQUESTS_CA_BUNDLE"] = running.ca_bundle_with_system  # MSAL's requests reads it over verify=
            sim = running.client
            tenant = sim.create_tenant("Bench Realty", ["bench.example"])
            app = sim.create_app(tenant["tenant_id"], "Engage Sync", graph_roles=["Calendars.ReadWrite"])
            [mailbox] = sim.create_mailboxes(tenant["tenant_id"], ["agent@bench.example"])
            sim.seed_events(mailbox, calendar())
            msal_app = msal.ConfidentialClientApplication(
                app["client_id"], client_credential=app["secret"]["value"], authority=sim.authority(tenant["tenant_id"]),
                instance_discovery=False, verify=sim.ca_path)
            token = msal_app.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])["access_token"]
            client = httpx.Client(base_url=sim.graph_url, verify=ssl.create_default_context(cafile=sim.ca_path),
                                  headers={"Authorization": f"Bearer {token}", "Prefer": "odata.maxpagesize=100"})
            user = f"/users/{mailbox}"
            state: dict[str, object] = {}

            def initial_round() -> None:
                url, params, instances, pages = f"{user}/calendarView/delta", WINDOW, 0, 0
                while True:
                    page = client.get(url, params=params).raise_for_status().json()
                    instances, pages = instances + len(page["value"]), pages + 1
                    if "@odata.deltaLink" in page:
                        state.update(link=page["@odata.deltaLink"], instances=instances, pages=pages)
                        return
                    url, params = page["@odata.nextLink"], None

            def no_change() -> None:
                page = client.get(str(state["link"])).raise_for_status().json()
                assert page["value"] == []

            subject = iter(range(10**9))
            first_event = client.get(f"{user}/events", params={"$top": "1"}).json()["value"][0]["id"]

            def one_change() -> None:
                client.patch(f"{user}/events/{first_event}", json={"subject": f"Viewing v{next(subject)}"})
                page = client.get(str(state["link"])).raise_for_status().json()
                assert len(page["value"]) == 1
                state["link"] = page["@odata.deltaLink"]

            mode = "strict (schema-validated)" if args.strict else "fast path"
            initial_round()
            print(f"simulator pid {running.process.pid} ({mode}); {state['instances']} instances in the window, "
                  f"{state['pages']} pages of 100 in the initial round; {args.requests} requests per figure")
            rounds = max(args.requests // 20, 5)
            measure(f"initial round ({state['pages']} pages), per round", rounds, running.process.pid, initial_round)
            ratio = measure("calendarView delta, no changes", args.requests, running.process.pid, no_change)
            measure("calendarView delta, one change (PATCH+GET)", max(args.requests // 5, 20), running.process.pid,
                    one_change)
            client.close()
        finally:
            stop_simulator(running.process)
    if ratio >= 1.0:
        sys.exit(f"FAIL: a no-change calendarView delta costs the simulator more CPU than the client ({ratio:.2f})")
    print("OK: the simulator's CPU per no-change calendarView delta is below the client's")


if __name__ == "__main__":
    main()
