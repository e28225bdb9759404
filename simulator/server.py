"""The simulator's one HTTPS process: Entra ID endpoints, POST /EWS/Exchange.asmx, Microsoft Graph /v1.0/..., and
the /_control/ API."""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import signal
import socket
import ssl
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from simulator import control, entra, persistence, tls
from simulator.ews import endpoint as ews_endpoint
from simulator.ews import schema as ews_schema
from simulator.graph import endpoint as graph_endpoint
from simulator.graph import strict as graph_strict
from simulator.world import DEFAULT_TOKEN_LIFETIME, World

log = logging.getLogger(__name__)

# Exchange Online's answer to a missing, invalid or expired bearer token, or one without an Exchange role.
EXCHANGE_WWW_AUTHENTICATE = (
    'Bearer client_id="00000002-0000-0ff1-ce00-000000000000", '
    'trusted_issuers="00000001-0000-0000-c000-000000000000@*", '
    'token_types="app_asserted_user_v1 service_asserted_app_v1", '
    'authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="invalid_token"'
)
_OPERATION_RE = re.compile(rb"<(?:[\w-]+:)?Body\b[^>]*>\s*<(?:[\w-]+:)?([A-Za-z]+)")
_TOKEN_PATH = re.compile(r"^/([^/]+)/oauth2/v2\.0/token$")
_OPENID_PATH = re.compile(r"^/([^/]+)/v2\.0/\.well-known/openid-configuration$")
_JWKS_PATH = re.compile(r"^/([^/]+)/discovery(?:/v2\.0)?/keys$")
_INSTANCE_PATH = re.compile(r"^/([^/]+)/discovery/instance$")
_MAX_BODY = 64 * 1024 * 1024
READY_PREFIX = "SIMULATOR READY"
SERVER_INFO_FILE = "server.json"
CONTROL_TOKEN_FILE = "control-token"  # noqa: S105 - a file name, not a secret

Response = tuple[int, dict[str, str], bytes]


class _DropConnection(Exception):
    pass


class SimulatorServer(ThreadingHTTPServer):
    """A threading HTTPS server; TLS handshakes run in the request threads, not the accept loop."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], world: World, tls: ssl.SSLContext, control_token: str) -> None:
        self.world = world
        self.control_token = control_token
        self.tls = tls
        host = address[0]
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__(address, SimulatorRequestHandler)

    def get_request(self) -> tuple[Any, Any]:
        sock, addr = self.socket.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-handshake or mid-request is routine (timeouts, dropped-connection tests).
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


class SimulatorRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Idle keep-alive connections are closed after two minutes, as IIS does; clients reconnect transparently.
    timeout = 120
    server_version = "Microsoft-IIS/10.0"
    sys_version = ""
    server: SimulatorServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if length < 0 or length > _MAX_BODY:
                self._send(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {}, b"")
                return
            body = self.rfile.read(length) if length else b""
            path, _, query = self.path.partition("?")
            response = self._route(method, path, query, body)
        except (_DropConnection, graph_endpoint.DropConnection):
            self.close_connection = True
            return
        except (ConnectionError, ssl.SSLError, TimeoutError):
            self.close_connection = True
            return
        except Exception:
            # A simulator bug must be loud (in the log the test fixture prints) yet answer like a server would.
            log.exception("the simulator failed on %s %s", method, self.path)
            self.close_connection = True
            response = (500, {"Content-Type": "text/plain; charset=utf-8"}, b"Internal Server Error")
        self._send(*response)

    def _base_url(self) -> str:
        return f"https://{self.headers.get('Host') or '127.0.0.1'}"

    def _route(self, method: str, path: str, query: str, body: bytes) -> Response:
        world = self.server.world
        if path.startswith("/_control/"):
            return control.handle(world, self.server.control_token, method, path, query, self.headers, body)
        if method == "POST" and path.lower() == "/ews/exchange.asmx":
            return self._ews(world, body)
        if graph_endpoint.is_graph_path(path):
            return graph_endpoint.handle(world, method, path, query, self.headers, body, self._base_url())
        if method == "POST" and (match := _TOKEN_PATH.match(path)):
            headers = {"authorization": self.headers.get("Authorization", "")}
            return entra.token(world, match.group(1), headers, body)
        if method != "POST" and _TOKEN_PATH.match(path):
            return entra.token_wrong_method(method)
        if method == "GET":
            if match := _OPENID_PATH.match(path):
                return entra.openid_configuration(world, self._base_url(), match.group(1))
            if _INSTANCE_PATH.match(path):
                return entra.instance_discovery(self._base_url(), query)
            if _JWKS_PATH.match(path):
                return entra.jwks(world)
        return 404, {"Content-Type": "text/plain; charset=utf-8"}, b"Not Found"

    def _ews(self, world: World, body: bytes) -> Response:
        authorization = self.headers.get("Authorization", "")
        if not authorization.startswith("Bearer "):
            return self._unauthorized(world, "The Authorization header is missing or is not a Bearer token.")
        try:
            claims = entra.validate_access_token(world, authorization[7:].strip())
        except entra.InvalidToken as exc:
            return self._unauthorized(world, exc.reason)
        if entra.EXCHANGE_ROLE not in claims.roles:
            # Entra issues a token without roles when admin consent is missing; Exchange then refuses it.
            return self._unauthorized(world, "The token has no Exchange application role (full_access_as_app).")
        mailbox = (self.headers.get("X-AnchorMailbox") or "").lower() or None
        match = _OPERATION_RE.search(body, 0, 4096)
        operation = match.group(1).decode() if match else None
        fault = world.faults.pick_transport(claims.tenant_id, mailbox, operation)
        if fault is not None:
            if fault.kind == "latency":
                time.sleep(fault.seconds)
            elif fault.kind == "http_503":
                return 503, {"Content-Type": "text/html", "Retry-After": "10"}, b"<h1>Service Unavailable</h1>"
            elif fault.kind == "drop_connection":
                raise _DropConnection
        response = ews_endpoint.handle(world, claims, self.headers, body)  # type: ignore[arg-type]
        if fault is not None and fault.kind == "timeout_after_commit":
            # The operation is applied; the client never learns it (exactly-once tests need this).
            time.sleep(fault.seconds)
            raise _DropConnection
        return response

    def _unauthorized(self, world: World, reason: str) -> Response:
        world.stats.count("ews_unauthorized", reason)
        return 401, {"WWW-Authenticate": EXCHANGE_WWW_AUTHENTICATE,
                     "x-ms-diagnostics": f'2000001;reason="{reason}";error_category="invalid_token"',
                     "Content-Type": "text/html"}, b""

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        # One write for head and body: fewer TLS records and no Nagle/delayed-ACK stall on keep-alive.
        reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        head = [f"HTTP/1.1 {status} {reason}", f"Server: {self.server_version}",
                f"Date: {self.date_time_string()}", f"Content-Length: {len(body)}"]
        head.extend(f"{name}: {value}" for name, value in headers.items())
        if self.close_connection or (self.headers.get("Connection", "").lower() == "close"):
            self.close_connection = True
            head.append("Connection: close")
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)


def make_server(world: World, host: str, port: int, tls: ssl.SSLContext, control_token: str) -> SimulatorServer:
    """Bind (port 0 picks a free one) without serving yet."""
    return SimulatorServer((host, port), world, tls, control_token)


def serve(host: str, port: int, state_dir: Path, *, persist: bool = False, strict: bool = False,
          token_lifetime: int = DEFAULT_TOKEN_LIFETIME, announce: Callable[[str], None] = print,
          graph_schema: Path = graph_strict.SCHEMA_PATH) -> None:
    """Run the simulator until SIGTERM/SIGINT: certificates, signing key, control token, optional saved world.

    Strict mode loads the EWS schema and compiles the Graph OpenAPI subset before anything else, so a missing
    schema stops the start (with a message naming the file) instead of failing every request later."""
    if strict:
        ews_schema.schema()
        graph_strict.activate(graph_schema)
    state_dir.mkdir(parents=True, exist_ok=True)
    tls_files = tls.ensure_certificates(state_dir)
    signing_key, kid = entra.load_or_create_signing_key(state_dir)
    control_token = _load_or_create_control_token(state_dir)
    world = World(signing_key, kid, token_lifetime=token_lifetime, strict=strict)
    if persist and persistence.load(world, state_dir):
        announce(f"Loaded the saved world from {state_dir / persistence.STATE_FILE}")
    httpd = make_server(world, host, port, tls.server_context(tls_files), control_token)
    bound_port = httpd.server_address[1]
    url_host = f"[{host}]" if ":" in host else host
    world.base_url = f"https://{url_host}:{bound_port}"
    info = {"base_url": world.base_url, "ca_path": str(tls_files.ca_path.resolve()), "pid": os.getpid(),
            "ca_bundle_with_system": str(tls_files.combined_bundle_path.resolve()),
            "control_token_path": str((state_dir / CONTROL_TOKEN_FILE).resolve())}
    (state_dir / SERVER_INFO_FILE).write_text(json.dumps(info, indent=2), encoding="utf-8")

    def stop(signum: int, frame: Any) -> None:
        # shutdown() waits for serve_forever to return, so it must run outside the serving (main) thread.
        threading.Thread(target=httpd.shutdown, name="simulator-shutdown", daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    saver = persistence.AutoSaver(world, state_dir) if persist else None
    if saver:
        saver.start()
    announce(f"Microsoft 365 simulator (Entra ID + EWS) at {world.base_url}")
    announce(f"  authority:     {world.base_url}/<tenant-id>   (MSAL: instance_discovery=False)")
    announce(f"  EWS:           {world.base_url}/EWS/Exchange.asmx")
    announce(f"  Graph:         {world.base_url}/v1.0/users/<upn>/...")
    announce(f"  CA bundle:     {info['ca_path']}")
    announce(f"  CA + system:   {info['ca_bundle_with_system']}   (for REQUESTS_CA_BUNDLE)")
    announce(f"  control token: {control_token}   (also in {info['control_token_path']})")
    announce(f"{READY_PREFIX} {world.base_url}")
    try:
        httpd.serve_forever(poll_interval=0.5)
    finally:
        if saver:
            saver.stop()
        httpd.server_close()
        (state_dir / SERVER_INFO_FILE).unlink(missing_ok=True)
        announce("simulator stopped")


def _load_or_create_control_token(state_dir: Path) -> str:
    path = state_dir / CONTROL_TOKEN_FILE
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    token = secrets.token_urlsafe(24)
    path.write_text(token, encoding="utf-8")
    path.chmod(0o600)
    return token
