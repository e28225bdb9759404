"""Graph delta tokens: one opaque format for every delta (contacts, calendarView, messages).

A token records what a delta round has seen: the mailbox, what it was issued for (``kind``: "contacts",
"calendarView", ...), the store folder (or "" when not folder-scoped), the mailbox change sequence seen (``seq``,
``Mailbox.clock`` values, as ``Folder.last_seq`` and the items' ``*_seq`` are), the mailbox's delta generation
when it was issued, and any extra state the resource needs (a calendar window, ``$select``, a cursor).
The same token travels as ``$skiptoken`` in ``@odata.nextLink`` (more pages in this round) and as ``$deltatoken`` in
``@odata.deltaLink`` (the round is complete). A token that is garbled, from another mailbox, folder or resource,
from the future, or from before the mailbox's tokens were expired (``expire_mailbox_tokens``) answers 410 Gone
``SyncStateNotFound``, as Exchange Online does when its delta cache has dropped the state.

Usage by a handler (under ``world.lock``)::

    token = delta.from_query(request, "contacts", folder.id)     # None on the first call of a round
    seen = token.seq if token else 0
    ... compute the page ...
    body = {"value": page, **delta.links(request, DeltaToken("contacts", folder.id, resume_seq, extra), done)}
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from .wire import GraphError, GraphRequest

_MAGIC = b"GD1"


@dataclass(slots=True)
class DeltaToken:
    """What a delta round has seen; ``generation`` is filled in by ``encode`` from the mailbox."""

    kind: str
    folder_id: str
    seq: int
    extra: dict[str, Any] = field(default_factory=dict)
    generation: int = 0


def sync_state_not_found(generation: int, highest: int) -> GraphError:
    """Exchange Online's answer to a delta token it no longer (or never) knew (examples/curated §1)."""
    return GraphError(410, "SyncStateNotFound", f"The sync state generation is not found; generation={generation};"
                                                f"[highest={highest}][{highest}].")


def encode(world: Any, address: str, token: DeltaToken) -> str:
    """The opaque URL-safe text of a token for this mailbox (stamped with the mailbox's current generation)."""
    mailbox = world.mailstore.mailbox(address)
    payload = json.dumps({"a": address.lower(), "k": token.kind, "f": token.folder_id, "s": token.seq,
                          "g": mailbox.delta_generation, "x": token.extra}, separators=(",", ":")).encode()
    packed = _MAGIC + zlib.compress(payload, 6)
    return base64.urlsafe_b64encode(packed + zlib.crc32(packed).to_bytes(4, "big")).decode().rstrip("=")


def peek(text: str) -> tuple[str, DeltaToken] | None:
    """(owner address, token) of a token's text, unchecked; None when it is garbled."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        packed, checksum = raw[:-4], raw[-4:]
        if not packed.startswith(_MAGIC) or zlib.crc32(packed).to_bytes(4, "big") != checksum:
            return None
        data = json.loads(zlib.decompress(packed[len(_MAGIC):]))
        return str(data["a"]), DeltaToken(str(data["k"]), str(data["f"]), int(data["s"]), dict(data["x"]),
                                          int(data["g"]))
    except (binascii.Error, ValueError, KeyError, TypeError, zlib.error):
        return None


def decode(world: Any, address: str, text: str, kind: str, folder_id: str | None = None) -> DeltaToken:
    """The token behind ``text`` for this mailbox and resource; 410 ``SyncStateNotFound`` if it is not valid now."""
    mailbox = world.mailstore.mailbox(address)
    current = mailbox.delta_generation
    parsed = peek(text)
    if parsed is None:
        raise sync_state_not_found(0, current)
    owner, token = parsed
    if (owner != address.lower() or token.kind != kind or (folder_id is not None and token.folder_id != folder_id)
            or token.generation != current or token.seq > mailbox.clock
            or (token.folder_id and token.folder_id not in mailbox.folders)):
        raise sync_state_not_found(token.generation, current)
    return token


def from_query(request: GraphRequest, kind: str, folder_id: str | None = None) -> DeltaToken | None:
    """The token of a ``$skiptoken`` / ``$deltatoken`` query parameter, or None for the first call of a round (an
    empty ``$deltatoken=``, as a 410's Location has, starts a round too). A 410 carries ``Location``."""
    text = request.query.get("$skiptoken") or request.query.get("$deltatoken")
    if not text:
        return None
    try:
        return decode(request.world, request.address, text, kind, folder_id)
    except GraphError as gone:
        gone.headers.setdefault("Location", restart_link(request))
        raise


def restart_link(request: GraphRequest, initial: dict[str, str] | None = None) -> str:
    """Where a client whose token is gone starts again (delta-query-overview.md, "Synchronization reset": a 410's
    ``Location`` is "a request URL with an empty $deltaToken (same as the initial query)"): this request's path
    and its other query options, or ``initial`` when the resource knows the round's own, then ``$deltatoken=``."""
    query = initial if initial is not None else {
        key: value for key, value in request.query.items() if key.lower() not in ("$skiptoken", "$deltatoken")}
    return request.url(request.path, urlencode({**query, "$deltatoken": ""}, quote_via=quote, safe="'(),:=/"))


def links(request: GraphRequest, token: DeltaToken, done: bool, path: str | None = None) -> dict[str, str]:
    """``{"@odata.deltaLink": ...$deltatoken=}`` when the round is complete, else ``{"@odata.nextLink": ...
    $skiptoken=}`` (a page never has both), for ``path`` (default: this request's path)."""
    text = encode(request.world, request.address, token)
    target = path if path is not None else request.path
    if done:
        return {"@odata.deltaLink": request.url(target, f"$deltatoken={text}")}
    return {"@odata.nextLink": request.url(target, f"$skiptoken={text}")}


def expire_mailbox_tokens(world: Any, address: str) -> int:
    """Make every delta token issued so far for the mailbox answer 410 (Exchange dropped its sync states);
    returns the new generation. Call under ``world.lock``."""
    mailbox = world.mailstore.mailbox(address)
    mailbox.delta_generation += 1
    return mailbox.delta_generation
