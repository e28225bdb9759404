"""The mailbox gateway on Microsoft Graph (app-only, ``/users/{address}``), beside the EWS one.

Every per-mailbox call checks the address against the brokerage's domains before anything leaves the process
(invariant 6); every failure arrives as one classified ``mailboxes.errors`` exception (``classify.py``).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import uuid
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote

from mailboxes.connection import GRAPH_SCOPE, ConnectionDetails
from mailboxes.errors import ConflictError, GatewayError, InvalidItem, ItemNotFound
from mailboxes.gateway import (
    AccessNeeds,
    Capabilities,
    Change,
    ChangeKind,
    ChangePage,
    ItemRef,
    SentMessage,
    StoredItem,
    TokenCheck,
)
from mailboxes.graph import series
from mailboxes.graph.classify import GRAPH_ROLES, GraphConsentMissing, classify_response
from mailboxes.graph.contacts import contact_from_graph, contact_to_graph
from mailboxes.graph.events import READ_PREFER, event_from_graph, event_to_graph
from mailboxes.graph.tags import EXPAND, tag_filter, tag_of, tag_property
from mailboxes.graph.transport import GraphRegistry, GraphTransport
from mailboxes.items import Collection, Contact, Event, MessageFolder, OutgoingMessage
from mailboxes.tokens import TokenProvider

REGISTRY = GraphRegistry()
CAPABILITIES = Capabilities(
    max_page_size=1000, feed_nets_out_own_writes=False, feed_tells_created_from_updated=False,
    send_returns_id=False, concurrency_cap=4,
    cancel_notifies_attendees=True, attendees_always_invited=True,
)  # fmt: skip
ACCESS = AccessNeeds(
    protocol="Microsoft Graph", required_roles=GRAPH_ROLES,
    mailbox_reach="within the app's mailbox scope (application access policy / RBAC for Applications)",
)
# The default contacts folder and calendar by their well-known names, so a deleted item (moved to Deleted Items,
# as Graph's DELETE does) is not found at these paths any more.
CONTACTS = "/contactFolders/contacts/contacts"
EVENTS = "/calendars/calendar/events"
CALENDAR_VIEW = "/calendars/calendar/calendarView/delta"
SKEW = dt.timedelta(minutes=5)
TRANSLATE_LIMIT = 1000  # translateExchangeIds' maximum per request
_SINCE = "#engage-since="
_MESSAGE_FOLDERS = {MessageFolder.DRAFTS: "drafts", MessageFolder.SENT: "sentitems"}
INLINE_LIMIT = 3 * 1024 * 1024 - 1  # Graph: one POST below 3 MB, an upload session from 3 MB
CHUNK = 3 * 1024 * 1024  # upload-session chunks stay below Graph's 4 MB
# Our events' transactionIds: a UUIDv5 of mailbox + tag, so a retried create names the same transaction.
_TRANSACTIONS = uuid.UUID("6f0f3c52-58f5-4d0e-9d43-1b2f0c8e7a11")


class GraphGateway:
    """MailboxGateway over Microsoft Graph for one brokerage; cheap to build (its HTTP client is shared per process).

    ``calendar_past_days``/``calendar_future_days`` set the calendarView window a calendar read starts with
    (Graph fixes it in the delta token until the next full read).
    """

    capabilities = CAPABILITIES
    access = ACCESS

    def __init__(
        self, details: ConnectionDetails, tokens: TokenProvider, *, calendar_past_days: int = 365,
        calendar_future_days: int = series.DEFAULT_HORIZON_DAYS,
    ) -> None:
        self.details = details
        self.tokens = tokens
        self.past_days, self.future_days = calendar_past_days, calendar_future_days
        self._http: GraphTransport = REGISTRY.get(details, tokens)

    # --- plumbing ---------------------------------------------------------------------------------

    def _user(self, mailbox: str) -> str:
        address = self.details.require_allowed(mailbox)  # invariant 6: refused before any request
        return f"/users/{quote(address, safe='@')}"

    def _pages(self, path: str, params: dict[str, str], prefer: Sequence[str] = ()) -> Iterator[dict[str, Any]]:
        """Every item of a list, following ``@odata.nextLink``."""
        url: str | None = path
        first = True
        while url:
            body = self._http.json("GET", url, params=params if first else None, prefer=prefer)
            yield from body.get("value") or ()
            url, first = body.get("@odata.nextLink"), False

    def _until(self) -> dt.date:
        return dt.date.today() + dt.timedelta(days=self.future_days)

    # --- reading ----------------------------------------------------------------------------------

    def read_changes(
        self, mailbox: str, collection: Collection, watermark: str | None, *, page_size: int = 100
    ) -> Iterator[ChangePage]:
        user = self._user(mailbox)  # checked now, not when the caller starts iterating
        return self._change_pages(user, collection, watermark, min(page_size, CAPABILITIES.max_page_size))

    def _change_pages(self, user: str, collection: Collection, watermark: str | None, page_size: int) -> Iterator[ChangePage]:
        url, params, since = _split_watermark(watermark)
        if url is None:
            if collection is Collection.CONTACTS:
                url, params = f"{user}{CONTACTS}/delta", {"$select": "id"}
            else:
                today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
                start, end = today - dt.timedelta(days=self.past_days), today + dt.timedelta(days=self.future_days)
                url = f"{user}{CALENDAR_VIEW}"
                params = {"startDateTime": _z(start), "endDateTime": _z(end)}
        # Graph's delta does not say created or updated (Capabilities.feed_tells_created_from_updated): everything
        # in a round read from the start is new to the reader; later rounds say UPDATED (both mean "upsert").
        upsert = ChangeKind.CREATED if watermark is None else ChangeKind.UPDATED
        prefer = [f"odata.maxpagesize={page_size}", *(READ_PREFER if collection is Collection.CALENDAR else ())]
        round_started = dt.datetime.now(dt.UTC)
        series_read: set[str] = set()  # a series' occurrences span pages: it is read and reported once per call
        for _page in range(1_000_000):  # bounded; a mailbox has far fewer pages
            body = self._http.json("GET", url, params=params, prefer=prefer)
            changes, wanted = [], []
            for entry in body.get("value") or ():
                if "@removed" in entry:
                    changes.append(Change(kind=ChangeKind.DELETED, item_id=entry["id"]))
                    continue
                # Calendar delta lists occurrences and exceptions, not masters: the series is the change.
                item_id = entry.get("seriesMasterId") or entry["id"]
                if item_id not in wanted and item_id not in series_read:
                    wanted.append(item_id)
                if entry.get("seriesMasterId"):
                    series_read.add(item_id)
            if collection is Collection.CALENDAR and since is not None and any(c.stored is None for c in changes):
                # A cancelled occurrence arrives only as the removal of the occurrence's own id, which names no
                # series: the series changed since the last round are read again, so the CRM sees the cancellation.
                wanted += [i for i in self._series_changed_since(user, since) if i not in wanted and i not in series_read]
            for item_id, raw in zip(wanted, self._fetch_raw(user, collection, wanted), strict=True):
                stored = self._stored(user, collection, raw) if raw is not None else None
                if stored is not None:  # deleted since the delta answered; its removal arrives in a later round
                    changes.append(Change(kind=upsert, item_id=item_id, stored=stored))
            next_link, delta_link = body.get("@odata.nextLink"), body.get("@odata.deltaLink")
            if not (next_link or delta_link):
                raise GatewayError("Graph answered a delta page with neither a nextLink nor a deltaLink")
            url, params = next_link or delta_link, None
            # The round's base time travels with the watermark (as a URL fragment, never sent): the same while the
            # round pages on, this round's start once it is complete.
            mark = since if next_link else round_started
            yield ChangePage(changes=tuple(changes), watermark=_join_watermark(url, collection, mark),
                             more=bool(next_link))
            if not next_link:
                return

    def _series_changed_since(self, user: str, since: dt.datetime) -> list[str]:
        """Series masters modified since ``since`` (less a margin for clock skew between us and Graph)."""
        after = _z(since - SKEW)
        rows = self._pages(f"{user}{EVENTS}", {"$select": "id,type,lastModifiedDateTime", "$top": "1000"})
        return [r["id"] for r in rows if r.get("type") == "seriesMaster" and (r.get("lastModifiedDateTime") or "") >= after]

    def fetch(self, mailbox: str, collection: Collection, item_ids: Sequence[str]) -> list[StoredItem | None]:
        return self._fetch(self._user(mailbox), collection, list(item_ids))

    def _fetch(self, user: str, collection: Collection, item_ids: list[str]) -> list[StoredItem | None]:
        raws = self._fetch_raw(user, collection, item_ids)
        return [self._stored(user, collection, raw) if raw is not None else None for raw in raws]

    def _fetch_raw(self, user: str, collection: Collection, item_ids: list[str]) -> list[dict[str, Any] | None]:
        """The items' Graph JSON with our tag, through $batch (20 a request); None where one is gone."""
        if not item_ids:
            return []
        base = CONTACTS if collection is Collection.CONTACTS else EVENTS
        prefer = READ_PREFER if collection is Collection.CALENDAR else ()
        answers = self._http.batch(
            [{"method": "GET", "url": f"{user}{base}/{_seg(i)}?$expand={EXPAND}"} for i in item_ids],
            prefer=prefer,
        )
        results: list[dict[str, Any] | None] = []
        for answer in answers:
            if answer.status == 404 or (answer.status == 400 and _code(answer.body) == "ErrorInvalidIdMalformed"):
                results.append(None)
                continue
            if answer.status >= 400:
                raise classify_response(answer.status, answer.headers, _text(answer.body),
                                        secrets=self.details.secret_values())
            results.append(answer.body)
        return results

    def _stored(self, user: str, collection: Collection, body: dict[str, Any]) -> StoredItem | None:
        if collection is Collection.CONTACTS:
            item: Contact | Event = contact_from_graph(body)
        else:
            if body.get("type") in ("occurrence", "exception"):
                return None  # an occurrence is part of its series, which is what we sync
            item = event_from_graph(body)
            if item.recurrence is not None:
                found, dates = series.instances(
                    lambda path, params: self._pages(path, params, READ_PREFER), f"{user}{EVENTS}/{body['id']}",
                    item, self._until())
                item = series.with_exceptions(item, found, dates)
        modified = body.get("lastModifiedDateTime")
        return StoredItem(
            ref=ItemRef(body["id"], body.get("changeKey") or ""), item=item, tag=tag_of(body),
            last_modified=dt.datetime.fromisoformat(modified.replace("Z", "+00:00")) if modified else None,
        )

    # --- writing ----------------------------------------------------------------------------------

    def create_contact(self, mailbox: str, contact: Contact, *, tag: str) -> ItemRef:
        user = self._user(mailbox)
        body = {**_without_nulls(contact_to_graph(contact)), "singleValueExtendedProperties": tag_property(tag)}
        return _ref(self._http.json("POST", f"{user}{CONTACTS}", json=body))

    def update_contact(self, mailbox: str, ref: ItemRef, contact: Contact) -> ItemRef:
        user = self._user(mailbox)
        path = f"{user}{CONTACTS}/{_seg(ref.item_id)}"
        self._require_version(path, ref)
        return _ref(self._http.json("PATCH", path, json=contact_to_graph(contact), **_if_match(ref)))

    def create_event(self, mailbox: str, event: Event, *, tag: str) -> ItemRef:
        user = self._user(mailbox)
        body = _mapped_event(event)
        body.update(singleValueExtendedProperties=tag_property(tag),
                    transactionId=str(uuid.uuid5(_TRANSACTIONS, f"{user}\0{tag}")))
        ref = _ref(self._http.json("POST", f"{user}{EVENTS}", json=_without_nulls(body)))
        return self._write_exceptions(user, ref, event)

    def update_event(self, mailbox: str, ref: ItemRef, event: Event) -> ItemRef:
        user = self._user(mailbox)
        path = f"{user}{EVENTS}/{_seg(ref.item_id)}"
        body = _mapped_event(event)
        self._require_version(path, ref)  # recurrence null: a series becomes a single event, as over EWS
        ref = _ref(self._http.json("PATCH", path, json=body, **_if_match(ref)))
        return self._write_exceptions(user, ref, event)

    def _write_exceptions(self, user: str, ref: ItemRef, event: Event) -> ItemRef:
        """Cancel and move the series' occurrences as ``event`` says (after its master was written), then the
        master's final version. Graph drops a series' exceptions when its pattern is written, so all are written."""
        rec = event.recurrence
        if rec is None or not (rec.cancelled_occurrences or rec.changed_occurrences):
            return ref
        master = f"{user}{EVENTS}/{_seg(ref.item_id)}"
        found, _dates = series.instances(lambda p, q: self._pages(p, q, READ_PREFER), master, event, self._until())
        deletes, moves = series.writes(event, found)
        for occurrence_id in deletes:
            with contextlib.suppress(ItemNotFound):  # already cancelled: the outcome we want
                self._http.request("DELETE", f"{user}{EVENTS}/{_seg(occurrence_id)}")
        for occurrence_id, body in moves:
            self._http.request("PATCH", f"{user}{EVENTS}/{_seg(occurrence_id)}", json=body)
        return _ref(self._http.json("GET", master, params={"$select": "id,changeKey"}))

    def _require_version(self, path: str, ref: ItemRef, select: str = "id,changeKey") -> dict[str, Any]:
        """The item's current state; ConflictError when ``ref.version`` is stale (checked here as well as by
        ``If-Match``, so a server that does not enforce If-Match still refuses a stale write)."""
        current = self._http.json("GET", path, params={"$select": select})
        if current.get("changeKey") != ref.version:
            raise ConflictError("the item changed since the version given")
        return current

    def delete_item(self, mailbox: str, ref: ItemRef) -> None:
        user = self._user(mailbox)
        path, _current = self._locate(user, ref, "id,changeKey")
        self._http.request("DELETE", path, **_if_match(ref))

    def cancel_event(self, mailbox: str, ref: ItemRef) -> bool:
        user = self._user(mailbox)
        path = f"{user}{EVENTS}/{_seg(ref.item_id)}"
        current = self._require_version(path, ref, "id,changeKey,isOrganizer,attendees")
        if current.get("isOrganizer") and current.get("attendees"):
            # Graph's cancel tells the attendees and removes the meeting (an organizer's meeting with attendees
            # always sent its invitations over Graph: see Capabilities.attendees_always_invited).
            self._http.request("POST", f"{path}/cancel", json={"comment": ""}, **_if_match(ref))
            return True
        self._http.request("DELETE", path, **_if_match(ref))
        return False

    def _locate(self, user: str, ref: ItemRef, select: str) -> tuple[str, dict[str, Any]]:
        """The path to delete an item that is a contact, an event or a draft (the protocol's delete does not say
        which; the outbox deletes a tagged draft that lacks its attachments). A draft is looked for in Drafts only,
        so a sent message is never deleted."""
        for base in (CONTACTS, EVENTS):
            path = f"{user}{base}/{_seg(ref.item_id)}"
            try:
                return path, self._require_version(path, ref, select)
            except ItemNotFound:
                continue
        try:
            current = self._require_version(f"{user}/mailFolders/drafts/messages/{_seg(ref.item_id)}", ref, select)
        except ItemNotFound:
            raise ItemNotFound("neither a contact, an event nor a draft has this id") from None
        return f"{user}/messages/{_seg(ref.item_id)}", current

    def find_by_tag(self, mailbox: str, collection: Collection, tag: str) -> list[StoredItem]:
        user = self._user(mailbox)
        base = CONTACTS if collection is Collection.CONTACTS else EVENTS
        ids = [item["id"] for item in self._pages(f"{user}{base}", {"$filter": tag_filter(tag), "$select": "id"})]
        return [s for s in self._fetch(user, collection, ids) if s is not None]

    # --- messages ---------------------------------------------------------------------------------

    def create_draft(self, mailbox: str, message: OutgoingMessage, *, tag: str) -> ItemRef:
        user = self._user(mailbox)
        inline, later, budget = [], [], INLINE_LIMIT
        for attachment in message.attachments:
            if len(attachment.content) <= budget:
                inline.append(attachment)
                budget -= len(attachment.content)
            else:
                later.append(attachment)
        body = {
            "subject": message.subject,
            "body": {"contentType": "html" if message.body_is_html else "text", "content": message.body},
            "toRecipients": _recipients(message.to), "ccRecipients": _recipients(message.cc),
            "bccRecipients": _recipients(message.bcc), "replyTo": _recipients(message.reply_to),
            "singleValueExtendedProperties": tag_property(tag),
            "attachments": [_file_attachment(a) for a in inline],
        }
        ref = _ref(self._http.json("POST", f"{user}/mailFolders/drafts/messages", json=body))
        if not later:
            return ref
        path = f"{user}/messages/{_seg(ref.item_id)}"
        for attachment in later:
            if len(attachment.content) <= INLINE_LIMIT:
                self._http.request("POST", f"{path}/attachments", json=_file_attachment(attachment))
            else:
                self._upload(path, attachment)
        return _ref(self._http.json("GET", path, params={"$select": "id,changeKey"}))

    def _upload(self, message_path: str, attachment: Any) -> None:
        """A large attachment through an upload session: chunks PUT to the session's URL without our token."""
        size = len(attachment.content)
        session = self._http.json("POST", f"{message_path}/attachments/createUploadSession", json={"attachmentItem": {
            "attachmentType": "file", "name": attachment.filename, "size": size,
            "contentType": attachment.content_type}})
        for start in range(0, size, CHUNK):
            chunk = attachment.content[start : start + CHUNK]
            self._http.upload(session["uploadUrl"], chunk, f"bytes {start}-{start + len(chunk) - 1}/{size}")

    def send_draft(self, mailbox: str, ref: ItemRef) -> None:
        user = self._user(mailbox)
        self._http.request("POST", f"{user}/messages/{_seg(ref.item_id)}/send")  # 202, no id, no body

    def find_messages_by_tag(self, mailbox: str, folder: MessageFolder, tag: str) -> list[SentMessage]:
        user = self._user(mailbox)
        rows = self._pages(f"{user}/mailFolders/{_MESSAGE_FOLDERS[folder]}/messages",
                           {"$filter": tag_filter(tag), "$select": "id,changeKey,subject,hasAttachments"})
        found = []
        for row in rows:
            names: tuple[str, ...] = ()
            if row.get("hasAttachments"):
                attachments = self._pages(f"{user}/messages/{_seg(row['id'])}/attachments", {})
                names = tuple(a.get("name") or "" for a in attachments)
            found.append(SentMessage(ItemRef(row["id"], row.get("changeKey") or ""), tag, row.get("subject") or "", names))
        return found

    # --- moving a mailbox from EWS (Graph only; not part of MailboxGateway) ----------------------

    def translate_ews_ids(self, mailbox: str, ews_ids: Sequence[str]) -> dict[str, str | None]:
        """Each EWS item id of the mailbox → its immutable Graph id (``translateExchangeIds``, 1,000 a request);
        None for an id that names no item any more."""
        return self.translate_ids(mailbox, ews_ids, source="ewsId", target="restImmutableEntryId")

    def translate_graph_ids(self, mailbox: str, graph_ids: Sequence[str]) -> dict[str, str | None]:
        """The reverse (a move back to EWS): each immutable Graph id → the EWS id of the same item, or None."""
        return self.translate_ids(mailbox, graph_ids, source="restImmutableEntryId", target="ewsId")

    def translate_ids(self, mailbox: str, ids_in: Sequence[str], *, source: str, target: str) -> dict[str, str | None]:
        user = self._user(mailbox)
        found: dict[str, str | None] = {}
        ids = list(dict.fromkeys(ids_in))
        for start in range(0, len(ids), TRANSLATE_LIMIT):
            body = self._http.json("POST", f"{user}/translateExchangeIds", json={
                "inputIds": ids[start : start + TRANSLATE_LIMIT], "sourceIdType": source, "targetIdType": target})
            for entry in body.get("value") or ():
                found[entry["sourceId"]] = entry.get("targetId") if not entry.get("errorDetails") else None
        return {i: found.get(i) for i in ids}

    # --- checks (verification is a sequence of these, timed by the caller) ------------------------

    def check_token(self, *, fresh: bool = False) -> TokenCheck:
        token = self.tokens.get_token(self.details, fresh=fresh, scope=GRAPH_SCOPE)
        roles = token.roles()
        missing = [role for role in GRAPH_ROLES if role not in roles]
        check = TokenCheck(roles=roles, expires_at=token.expires_at_datetime, has_mailbox_access=not missing)
        if missing:
            raise GraphConsentMissing(
                f"the token's roles are {sorted(roles) or 'empty'}; missing {', '.join(missing)}", missing=missing
            )
        return check

    def check_mailbox(self, mailbox: str) -> None:
        user = self._user(mailbox)
        self._http.request("GET", f"{user}/mailFolders/drafts/messages", params={"$top": "1", "$select": "id"})

    def check_collection(self, mailbox: str, collection: Collection) -> None:
        user = self._user(mailbox)
        base = CONTACTS if collection is Collection.CONTACTS else EVENTS
        self._http.request("GET", f"{user}{base}", params={"$top": "1", "$select": "id"})




def _z(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _split_watermark(watermark: str | None) -> tuple[str | None, None, dt.datetime | None]:
    """(delta or next link, no query, the calendar round's base time) of a watermark."""
    if watermark is None:
        return None, None, None
    link, _, since = watermark.partition(_SINCE)
    return link, None, dt.datetime.fromisoformat(since) if since else None


def _join_watermark(link: str, collection: Collection, since: dt.datetime | None) -> str:
    if collection is Collection.CONTACTS or since is None:
        return link
    return f"{link}{_SINCE}{since.isoformat()}"


def _ref(body: dict[str, Any]) -> ItemRef:
    return ItemRef(body["id"], body.get("changeKey") or "")


def _if_match(ref: ItemRef) -> dict[str, Any]:
    """Graph's optimistic concurrency: the write applies only to the version we hold (412 otherwise)."""
    return {"headers": {"If-Match": f'W/"{ref.version}"'}} if ref.version else {}


def _without_nulls(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None and v != {}}


def _mapped_event(event: Event) -> dict[str, Any]:
    """The event's JSON; an event Graph cannot represent (unknown time zone, say) is InvalidItem, before sending."""
    try:
        return event_to_graph(event)
    except (ValueError, KeyError) as exc:  # ZoneInfoNotFoundError is a KeyError
        raise InvalidItem(f"{type(exc).__name__}: {exc}") from None


def _recipients(addresses: Sequence[str]) -> list[dict[str, Any]]:
    return [{"emailAddress": {"address": a}} for a in addresses]


def _file_attachment(attachment: Any) -> dict[str, Any]:
    return {"@odata.type": "#microsoft.graph.fileAttachment", "name": attachment.filename,
            "contentType": attachment.content_type, "contentBytes": base64.b64encode(attachment.content).decode()}


def _code(body: Any) -> str:
    return str(((body or {}).get("error") or {}).get("code") or "") if isinstance(body, dict) else ""


def _text(body: Any) -> str:
    return json.dumps(body) if body is not None else ""


def _seg(item_id: str) -> str:
    """An id as a path segment. Graph ids are URL-safe base64, so only a stray character needs escaping; ``=`` is
    kept as is (a ``$batch`` item's URL is not percent-decoded by every server)."""
    return quote(item_id, safe="=")
