"""`python -m simulator ...`: run the simulator, or shape a running one through its control API."""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from simulator.client import DEFAULT_STATE_DIR, ControlAPIError, SimulatorClient
from simulator.demo import seed_demo
from simulator.directory import GRANTABLE_GRAPH_ROLES
from simulator.faults import ALL_KINDS


def _client(args: argparse.Namespace) -> SimulatorClient:
    """The running simulator's client; with --wait, waits for one to come up (e.g. right after `serve &`)."""
    deadline = time.monotonic() + args.wait
    while True:
        try:
            client = SimulatorClient.from_state_dir(args.state_dir)
            if client.health():
                return client
            client.close()
        except FileNotFoundError:
            if time.monotonic() >= deadline:
                raise
        if time.monotonic() >= deadline:
            raise FileNotFoundError(f"the simulator of {args.state_dir} does not answer")
        time.sleep(0.2)


def _show(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def _loopback(host: str) -> str:
    """Refuse anything but loopback: the control API rewrites tenants and the state holds client secrets."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        pass
    raise SystemExit(f"error: --host {host} is not a loopback address; the simulator listens on loopback only")


def cmd_serve(args: argparse.Namespace) -> None:
    from simulator.server import serve  # only the serving process needs the server and the EWS part

    args.host = _loopback(args.host)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    options = {"graph_schema": Path(args.graph_schema)} if args.graph_schema else {}
    serve(args.host, args.port, Path(args.state_dir), persist=args.persist, strict=args.strict,
          token_lifetime=args.token_lifetime, announce=lambda line: print(line, flush=True), **options)


def cmd_seed_demo(args: argparse.Namespace) -> None:
    demo = seed_demo(_client(args))
    if args.json:
        # For `make demo`, which enters these into the admin for the newcomer; the file holds a secret.
        path = Path(args.json)
        path.touch(mode=0o600)
        path.write_text(json.dumps(dataclasses.asdict(demo), indent=2))
    print("Demo brokerage ready. Enter these in the admin (Brokerages > Add):")
    print(f"  Tenant ID:             {demo.tenant_id}")
    print(f"  Client ID:             {demo.client_id}")
    print(f"  Client secret:         {f'(in {args.json})' if args.json else demo.client_secret}")
    print(f"  Client secret expires: {demo.secret_expires_at}")
    print(f"  Test mailbox:          {demo.test_mailbox}")
    print(f"  Mailboxes:             {', '.join(demo.mailboxes)}")
    print(f"  Authority / EWS:       {demo.authority}  /  {demo.ews_url}")
    print(f"  CA bundle:             {demo.ca_path}")


def cmd_tenant(args: argparse.Namespace) -> None:
    client = _client(args)
    if args.action == "create":
        _show(client.create_tenant(args.name, args.domain, args.tenant_id, ews_enabled=not args.ews_disabled))
    elif args.action == "list":
        for tenant in client.tenants():
            print(f"{tenant['tenant_id']}  {tenant['display_name']:<30} domains={','.join(tenant['domains'])} "
                  f"ews={'on' if tenant['ews_enabled'] else 'off'} apps={len(tenant['apps'])}")
    elif args.action == "show":
        _show(client.tenant(args.tenant_id))
    elif args.action == "ews":
        changes: dict[str, Any] = {}
        if args.enable or args.disable:
            changes["ews_enabled"] = bool(args.enable)
        if args.allow_all:
            changes["ews_allowed_app_ids"] = None
        elif args.allow:
            changes["ews_allowed_app_ids"] = args.allow
        _show(client.update_tenant(args.tenant_id, **changes))


def cmd_app(args: argparse.Namespace) -> None:
    client = _client(args)
    if args.action == "create":
        _show(client.create_app(args.tenant_id, args.name, args.client_id, consented=not args.no_consent,
                                service_principal=not args.no_service_principal,
                                secret={"lifetime_days": args.secret_days}, graph_roles=args.graph_role or []))
    elif args.action == "consent":
        _show(client.update_app(args.tenant_id, args.client_id, consented=not args.revoke))
    elif args.action == "graph-roles":
        if not args.graph_role:
            raise SystemExit("error: name at least one --graph-role")
        value = None if args.revoke else not args.no_consent
        _show(client.update_app(args.tenant_id, args.client_id, graph_roles={r: value for r in args.graph_role}))
    elif args.action == "secret-add":
        _show(client.add_secret(args.tenant_id, args.client_id, lifetime_days=args.secret_days))
    elif args.action == "secret-expire":
        _show(client.expire_secret(args.tenant_id, args.client_id, args.key_id))


def cmd_mailbox(args: argparse.Namespace) -> None:
    client = _client(args)
    if args.action == "create":
        _show(client.create_mailboxes(args.tenant_id, args.address))
    elif args.action == "items":
        for item in client.list_items(args.address[0], args.folder):
            fields = item.get("fields", item)
            print(f"{item.get('id', '?')}  {fields.get('display_name') or fields.get('subject') or ''}")
    elif args.action == "seed":
        contacts = [{"given_name": f"Contact{i}", "surname": "Seeded", "email1": f"contact{i}@seeded.example"}
                    for i in range(args.contacts)]
        created = client.seed_contacts(args.address[0], contacts) if contacts else []
        print(f"seeded {len(created)} contacts into {args.address[0]}")


def cmd_stats(args: argparse.Namespace) -> None:
    stats = _client(args).stats()
    if not stats:
        print("no requests counted yet")
    for kind, counters in sorted(stats.items()):
        print(kind)
        for key, count in sorted(counters.items(), key=lambda kv: -kv[1]):
            print(f"  {count:>8}  {key}")


def cmd_outbound(args: argparse.Namespace) -> None:
    _show(_client(args).outbound(args.mailbox))


def cmd_fault(args: argparse.Namespace) -> None:
    client = _client(args)
    if args.action == "set":
        where = {k: v for k, v in {"tenant_id": args.tenant, "mailbox": args.mailbox, "operation": args.operation,
                                   "probability": args.probability, "count": args.count,
                                   "back_off_ms": args.back_off_ms, "seconds": args.seconds,
                                   "status": args.status}.items() if v is not None}
        _show(client.add_fault(args.kind, **where))
    elif args.action == "list":
        for rule in client.faults():
            print(f"#{rule['rule_id']} {rule['kind']} tenant={rule['tenant_id'] or '*'} mailbox={rule['mailbox'] or '*'} "
                  f"op={rule['operation'] or '*'} p={rule['probability']} remaining={rule['remaining']} fired={rule['fired']}")
    elif args.action == "clear":
        if args.rule_id:
            client.remove_fault(args.rule_id)
        else:
            client.clear_faults()
        print("cleared")


def cmd_reset(args: argparse.Namespace) -> None:
    _client(args).reset()
    print("simulator reset: no tenants, mailboxes, faults or counters")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    parser.add_argument("--state-dir", default=str(DEFAULT_STATE_DIR), help="where the CA, keys and state live")
    parser.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                        help="wait up to this long for the simulator to answer (after starting it in the background)")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the simulator (HTTPS on loopback)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8443, help="0 picks a free port")
    serve.add_argument("--state-dir", default=argparse.SUPPRESS)
    serve.add_argument("--persist", action="store_true", help="save the world and load it at the next start")
    validation = serve.add_mutually_exclusive_group()
    validation.add_argument("--strict", dest="strict", action="store_true", default=True,
                            help="validate every EWS request and response against Microsoft's schema (the default)")
    validation.add_argument("--lenient", dest="strict", action="store_false",
                            help="skip schema validation (the benchmarks' fast path)")
    serve.add_argument("--graph-schema", default=None,
                       help="the Graph OpenAPI subset strict mode validates against (default: simulator/graph/openapi)")
    serve.add_argument("--token-lifetime", type=int, default=3599, help="access token lifetime in seconds")
    serve.add_argument("--log-level", default="warning")
    serve.set_defaults(func=cmd_serve)

    demo = commands.add_parser("seed-demo", help="create the demo brokerage and print what staff enter")
    demo.add_argument("--json", metavar="FILE", help="also write what staff enter to FILE (JSON, mode 600)")
    demo.set_defaults(func=cmd_seed_demo)

    tenant = commands.add_parser("tenant", help="tenants and Exchange Online's EWS switch")
    tenant.add_argument("action", choices=["create", "list", "show", "ews"])
    tenant.add_argument("tenant_id", nargs="?")
    tenant.add_argument("--name", default="Brokerage")
    tenant.add_argument("--domain", action="append", default=[])
    tenant.add_argument("--ews-disabled", action="store_true")
    tenant.add_argument("--enable", action="store_true")
    tenant.add_argument("--disable", action="store_true")
    tenant.add_argument("--allow", action="append", help="EwsAllowedAppIDs (repeatable)")
    tenant.add_argument("--allow-all", action="store_true")
    tenant.set_defaults(func=cmd_tenant)

    app = commands.add_parser("app", help="app registrations, consent, Graph permissions and secrets")
    app.add_argument("action", choices=["create", "consent", "graph-roles", "secret-add", "secret-expire"])
    app.add_argument("tenant_id")
    app.add_argument("client_id", nargs="?")
    app.add_argument("key_id", nargs="?")
    app.add_argument("--name", default="Engage Sync")
    app.add_argument("--no-consent", action="store_true")
    app.add_argument("--revoke", action="store_true")
    app.add_argument("--no-service-principal", action="store_true")
    app.add_argument("--secret-days", type=float, default=180)
    app.add_argument("--graph-role", action="append", choices=list(GRANTABLE_GRAPH_ROLES),
                     help="a Graph application permission (repeatable): granted and consented (create, graph-roles), "
                          "granted only with --no-consent, revoked with --revoke")
    app.set_defaults(func=cmd_app)

    mailbox = commands.add_parser("mailbox", help="mailboxes and their items")
    mailbox.add_argument("action", choices=["create", "items", "seed"])
    mailbox.add_argument("tenant_id", nargs="?", help="for create")
    mailbox.add_argument("address", nargs="*")
    mailbox.add_argument("--folder", default="contacts")
    mailbox.add_argument("--contacts", type=int, default=0)
    mailbox.set_defaults(func=cmd_mailbox)

    commands.add_parser("stats", help="request and token counters").set_defaults(func=cmd_stats)
    outbound = commands.add_parser("outbound", help="messages sent through the simulator")
    outbound.add_argument("--mailbox")
    outbound.set_defaults(func=cmd_outbound)

    fault = commands.add_parser("fault", help="inject faults")
    fault.add_argument("action", choices=["set", "list", "clear"])
    fault.add_argument("kind", nargs="?", choices=sorted(ALL_KINDS))
    fault.add_argument("--tenant")
    fault.add_argument("--mailbox")
    fault.add_argument("--operation")
    fault.add_argument("--probability", type=float)
    fault.add_argument("--count", type=int, help="only the next N matching requests")
    fault.add_argument("--back-off-ms", type=int)
    fault.add_argument("--seconds", type=float)
    fault.add_argument("--status", type=int)
    fault.add_argument("--rule-id", type=int)
    fault.set_defaults(func=cmd_fault)

    commands.add_parser("reset", help="forget everything").set_defaults(func=cmd_reset)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "mailbox" and args.action != "create" and args.tenant_id:
        args.address = [args.tenant_id, *args.address]  # items/seed take an address, not a tenant
    try:
        args.func(args)
    except ControlAPIError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
