"""Attachment upload sessions (createUploadSession, then chunked PUTs to a pre-authenticated URL).

The URL is served by the simulator under ``/api/v2.0/`` in the shape of Outlook's
(``.../Users('{user}')/Messages('{id}')/AttachmentSessions('{session}')?authtoken=...``); it is the credential,
so the PUTs carry no Authorization header (outlook-large-attachments.md). Bytes must arrive in order: a PUT that
starts anywhere but the next expected byte is 416 ``invalidRange`` (errors.md's example body), one above 4 MB is
413, and the PUT that completes the file attaches it to the message (201 with the attachment's ``Location``).
"""

from __future__ import annotations

import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote

from simulator.mailstore.attachments import file_attachment
from simulator.mailstore.records import now_utc

from . import ids
from .message_fields import INLINE_ATTACHMENT_LIMIT
from .message_lookup import find_message
from .wire import GraphError, GraphRequest, Response, empty_response, json_response
from .world_state import PerWorld

# outlook-large-attachments.md: upload sessions are for files from 3 MB to 150 MB, sent in chunks under 4 MB.
MAX_UPLOAD_BYTES = 150 * 1024 * 1024
MAX_CHUNK_BYTES = 4 * 1024 * 1024
SESSION_LIFETIME = timedelta(hours=2)
# The upload URL's path after /api/v2.0 (the endpoint routes /api/v2.0/... here without a bearer token); the
# quotes may arrive percent-encoded.
_QUOTE = "(?:'|%27)"
SESSION_PATH = (rf"/Users\({_QUOTE}(?P<user>[^/]+?){_QUOTE}\)/Messages\({_QUOTE}(?P<message>[^/]+?){_QUOTE}\)"
                rf"/AttachmentSessions\({_QUOTE}(?P<session>[^/]+?){_QUOTE}\)")
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(?P<start>\d+)-(?P<end>\d+)/(?P<total>\d+)\s*$", re.IGNORECASE)


@dataclass(slots=True)
class UploadSession:
    """One file on its way to a message: what was announced and the bytes received so far."""

    session_id: str
    token: str
    address: str
    message_id: str  # the Graph id the session was created with (immutable ids survive a move)
    name: str
    content_type: str
    size: int
    is_inline: bool
    content_id: str | None
    expires: datetime
    received: bytearray = field(default_factory=bytearray)


class UploadSessions:
    """The open upload sessions of one simulated world (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, UploadSession] = {}

    def open(self, address: str, message_id: str, name: str, content_type: str, size: int, is_inline: bool,
             content_id: str | None) -> UploadSession:
        session = UploadSession(secrets.token_urlsafe(24), secrets.token_urlsafe(32), address, message_id, name,
                                content_type, size, is_inline, content_id, now_utc() + SESSION_LIFETIME)
        with self._lock:
            now = now_utc()
            for stale in [key for key, s in self._sessions.items() if s.expires <= now]:
                del self._sessions[stale]
            self._sessions[session.session_id] = session
        return session

    def get(self, session_id: str) -> UploadSession | None:
        with self._lock:
            return self._sessions.get(session_id)

    def close(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)


# The upload sessions of a world: sessions_of(world).
sessions_of = PerWorld(UploadSessions)


def upload_url(base_url: str, session: UploadSession) -> str:
    return (f"{base_url}/api/v2.0/Users('{session.address}')/Messages('{session.message_id}')"
            f"/AttachmentSessions('{session.session_id}')?authtoken={session.token}")


def parse_attachment_item(body: Any) -> dict[str, Any]:
    """The AttachmentItem of a createUploadSession body (the parameter name matches case-insensitively)."""
    if not isinstance(body, dict):
        raise GraphError(400, "RequestBodyRead", "The request body must be {\"AttachmentItem\": {...}}.")
    item = next((value for key, value in body.items() if key.lower() == "attachmentitem"), None)
    if not isinstance(item, dict):
        raise GraphError(400, "RequestBodyRead", "The request body needs AttachmentItem.")
    if str(item.get("attachmentType") or "file").lower() != "file":
        raise GraphError(400, "ErrorInvalidRequest", "Only file attachments can be uploaded in a session.")
    name, size = item.get("name"), item.get("size")
    if not isinstance(name, str) or not name:
        raise GraphError(400, "ErrorInvalidAttachmentName", "The attachment name is invalid or missing.")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise GraphError(400, "RequestBodyRead", "AttachmentItem.size must be the file's size in bytes.")
    if size < INLINE_ATTACHMENT_LIMIT:
        raise GraphError(400, "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
                         "Attachment size must be greater than the minimum size.")
    if size > MAX_UPLOAD_BYTES:
        raise GraphError(413, "RequestEntityTooLarge", "The request size exceeds the maximum limit (150 MB).")
    content_type = item.get("contentType")
    content_id = item.get("contentId")
    return {"name": name, "size": size, "content_type": content_type if isinstance(content_type, str) else "",
            "is_inline": item.get("isInline") is True,
            "content_id": content_id if isinstance(content_id, str) else None}


def session_json(base_url: str, session: UploadSession) -> dict[str, Any]:
    """The uploadSession Graph answers createUploadSession with."""
    return {"@odata.context": f"{base_url}/v1.0/$metadata#microsoft.graph.uploadSession",
            "uploadUrl": upload_url(base_url, session), "expirationDateTime": _instant(session.expires),
            "nextExpectedRanges": [f"{len(session.received)}-"]}


def _instant(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _session_of(request: GraphRequest, match: re.Match[str]) -> UploadSession:
    """The session an upload URL names, if its authtoken is the session's; 404 otherwise (or once expired)."""
    sessions = sessions_of(request.world)
    session = sessions.get(unquote(match["session"]))
    token = request.query.get("authtoken") or ""
    if session is None or not secrets.compare_digest(token, session.token) or session.address != request.address \
            or session.message_id != unquote(match["message"]):
        raise GraphError(404, "ErrorItemNotFound", "The upload session was not found or has expired.")
    if session.expires <= now_utc():
        sessions.close(session.session_id)
        raise GraphError(404, "ErrorItemNotFound", "The upload session was not found or has expired.")
    return session


def cancel(request: GraphRequest, match: re.Match[str]) -> Response:
    """DELETE {uploadUrl}: the session ends, nothing is attached (204)."""
    sessions_of(request.world).close(_session_of(request, match).session_id)
    return empty_response(204)


def put_chunk(request: GraphRequest, match: re.Match[str]) -> Response:
    """PUT {uploadUrl} with Content-Range: 200 with the next expected range, 201 with Location on the last byte."""
    session = _session_of(request, match)
    body = request.raw_body
    content_range = _CONTENT_RANGE.match(request.headers.get("Content-Range") or "")
    if content_range is None:
        raise GraphError(400, "ErrorInvalidRequest", "Content-Range must be 'bytes {start}-{end}/{total}'.")
    start, end, total = (int(content_range[k]) for k in ("start", "end", "total"))
    if total != session.size or end < start or end >= total or end - start + 1 != len(body):
        raise GraphError(400, "ErrorInvalidRequest",
                         f"Content-Range {request.headers.get('Content-Range')} does not match the {len(body)} bytes "
                         f"sent or the announced size {session.size}.")
    if len(body) > MAX_CHUNK_BYTES:
        raise GraphError(413, "RequestEntityTooLarge", "The request size exceeds the maximum limit (4 MB a chunk).")
    expected = len(session.received)
    if start < expected:
        raise GraphError(416, "invalidRange", "Uploaded fragment overlaps with existing data.")
    if start > expected:
        raise GraphError(416, "invalidRange", "The specified byte range is invalid or unavailable: the next "
                                              f"expected byte is {expected}.")
    session.received.extend(body)
    if len(session.received) < session.size:
        # Outlook's own (v2.0) spelling, as the docs show these intermediate answers.
        return json_response(200, {
            "@odata.context": f"{request.base_url}/api/v2.0/$metadata#Users('{session.address}')/Messages("
                              f"'{session.message_id}')/AttachmentSessions/$entity",
            "ExpirationDateTime": _instant(session.expires), "NextExpectedRanges": [str(len(session.received))]})
    sessions_of(request.world).close(session.session_id)
    item = find_message(request.world, session.address, session.message_id)
    record = file_attachment(session.address, session.name, session.content_type, bytes(session.received),
                             is_inline=session.is_inline, content_id=session.content_id)
    request.world.mailstore.add_attachments(session.address, item.id, [record])
    location = (f"{request.base_url}/api/v2.0/Users('{session.address}')/Messages('{session.message_id}')"
                f"/Attachments('{ids.rest_id(record['id'])}')")
    return empty_response(201, {"Location": location})
