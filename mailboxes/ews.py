"""The mailbox gateway on Exchange Web Services (exchangelib), with app-only impersonation.

Every call checks the address against the brokerage's domains before anything leaves the process, and turns
whatever exchangelib, requests or ssl raise into one classified ``mailboxes.errors`` exception.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from exchangelib import IMPERSONATION, Account, CalendarItem
from exchangelib import Contact as EwsContact
from exchangelib.errors import ErrorCalendarOccurrenceIsDeletedFromRecurrence, EWSError
from exchangelib.items import (
    AUTO_RESOLVE,
    HARD_DELETE,
    ID_ONLY,
    NEVER_OVERWRITE,
    SAVE_ONLY,
    SEND_TO_ALL_AND_SAVE_COPY,
    SEND_TO_NONE,
)
from exchangelib.services import SyncFolderItems

from mailboxes import ews_mapping as mapping
from mailboxes.connection import ConnectionDetails
from mailboxes.errors import (
    ConflictError,
    ConsentMissing,
    GatewayError,
    InvalidItem,
    ItemNotFound,
    classify_exception,
)
from mailboxes.ews_occurrences import keeps_series, occurrence_writes
from mailboxes.ews_transport import BrokerageRegistry, install_log_redaction
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
from mailboxes.items import Collection, Contact, Event, MessageFolder, OutgoingMessage, Recurrence
from mailboxes.tokens import EXCHANGE_ROLE, TokenProvider

install_log_redaction()

log = logging.getLogger(__name__)

REGISTRY = BrokerageRegistry()
FETCH_BATCH = 50
_CHANGE_KINDS = {"create": ChangeKind.CREATED, "update": ChangeKind.UPDATED, "delete": ChangeKind.DELETED}
_FOLDERS = {Collection.CONTACTS: "contacts", Collection.CALENDAR: "calendar"}
_MESSAGE_FOLDERS = {MessageFolder.DRAFTS: "drafts", MessageFolder.SENT: "sent"}
# What EWS does differently (mailboxes.gateway.Capabilities): SyncFolderItems nets out create-then-delete,
# Exchange Online allows 27 concurrent connections per mailbox, writes notify attendees only when asked.
CAPABILITIES = Capabilities(
    max_page_size=512, feed_nets_out_own_writes=True, feed_tells_created_from_updated=True,
    send_returns_id=False, concurrency_cap=27,
    cancel_notifies_attendees=True, attendees_always_invited=False,
)  # fmt: skip


ACCESS = AccessNeeds(
    protocol="EWS", required_roles=(EXCHANGE_ROLE,), mailbox_reach="by impersonation (ExchangeImpersonation)"
)


class EwsGateway:
    """MailboxGateway over EWS for one brokerage; cheap to build (its exchangelib objects are shared per process)."""

    capabilities = CAPABILITIES
    access = ACCESS

    def __init__(self, details: ConnectionDetails, tokens: TokenProvider) -> None:
        self.details = details
        self.tokens = tokens
        self._ews = REGISTRY.get(details, tokens)

    # --- plumbing ---------------------------------------------------------------------------------

    @contextmanager
    def _classified(self) -> Iterator[None]:
        try:
            yield
        except GatewayError:
            raise
        except (EWSError, OSError, ValueError, TypeError, KeyError) as exc:
            raise classify_exception(exc, secrets=self.details.secret_values()) from None

    def _account(self, mailbox: str, *, fresh: bool = False) -> Account:
        address = self.details.require_allowed(mailbox)  # invariant 6: refused before any request
        if fresh:
            return self._new_account(address)
        return self._ews.account(address, lambda: self._new_account(address))

    def _new_account(self, address: str) -> Account:
        # IMPERSONATION makes exchangelib send the ExchangeImpersonation header and X-AnchorMailbox.
        return Account(
            primary_smtp_address=address, access_type=IMPERSONATION, config=self._ews.config, autodiscover=False,
            default_timezone=mapping.EWSTimeZone("UTC"), locale="en_US",
        )  # fmt: skip

    def _folder(self, account: Account, collection: Collection) -> Any:
        return getattr(account, _FOLDERS[collection])

    @staticmethod
    def _raise_item_result(result: Any) -> Any:
        if isinstance(result, Exception):
            raise result
        return result

    # --- reading ----------------------------------------------------------------------------------

    def read_changes(
        self, mailbox: str, collection: Collection, watermark: str | None, *, page_size: int = 100
    ) -> Iterator[ChangePage]:
        account = self._account(mailbox)  # checked now, not when the caller starts iterating
        return self._change_pages(account, collection, watermark, page_size)

    def _change_pages(
        self, account: Account, collection: Collection, watermark: str | None, page_size: int
    ) -> Iterator[ChangePage]:
        state = watermark
        for _page in range(1_000_000):  # bounded; a mailbox has far fewer pages
            with self._classified():
                folder = self._folder(account, collection)
                service = SyncFolderItems(account=account)
                raw = list(
                    service.call(
                        folder=folder, shape=ID_ONLY, additional_fields=None, sync_state=state, ignore=None,
                        max_changes_returned=page_size, sync_scope=None,
                    )
                )  # fmt: skip
                for entry in raw:
                    self._raise_item_result(entry)
                fetch_ids = [value.id for kind, value in raw if kind in ("create", "update")]
                fetched = dict(zip(fetch_ids, self._fetch(account, collection, fetch_ids), strict=True))
            changes = []
            for kind, value in raw:
                if kind not in _CHANGE_KINDS:
                    continue  # read-flag changes do not concern contacts or events
                stored = fetched.get(value.id) if kind != "delete" else None
                if kind != "delete" and stored is None:
                    continue  # deleted between the two calls; its deletion arrives in a later page
                changes.append(Change(kind=_CHANGE_KINDS[kind], item_id=value.id, stored=stored))
            more = not service.includes_last_item_in_range and service.sync_state != state
            state = service.sync_state
            yield ChangePage(changes=tuple(changes), watermark=state, more=more)
            if not more:
                return

    def fetch(self, mailbox: str, collection: Collection, item_ids: Sequence[str]) -> list[StoredItem | None]:
        account = self._account(mailbox)
        with self._classified():
            return self._fetch(account, collection, list(item_ids))

    def _fetch(self, account: Account, collection: Collection, item_ids: list[str]) -> list[StoredItem | None]:
        results: list[StoredItem | None] = []
        folder = self._folder(account, collection)
        for start in range(0, len(item_ids), FETCH_BATCH):
            batch = [(item_id, None) for item_id in item_ids[start : start + FETCH_BATCH]]
            for result in account.fetch(ids=batch, folder=folder):
                if isinstance(result, Exception):
                    error = classify_exception(result, secrets=self.details.secret_values())
                    if isinstance(error, ItemNotFound):
                        results.append(None)
                        continue
                    raise error
                results.append(_stored(result))
        return results

    # --- writing ----------------------------------------------------------------------------------

    def create_contact(self, mailbox: str, contact: Contact, *, tag: str) -> ItemRef:
        return self._create(mailbox, Collection.CONTACTS, _mapped(mapping.contact_to_ews, contact, **{mapping.TAG_FIELD: tag}))

    def create_event(self, mailbox: str, event: Event, *, tag: str) -> ItemRef:
        item = _mapped(mapping.event_to_ews, event, **{mapping.TAG_FIELD: tag})
        ref = self._create(mailbox, Collection.CALENDAR, item, notify=_notify(event))
        return self._write_occurrences(mailbox, ref, event, None)

    def _create(self, mailbox: str, collection: Collection, item: Any, *, notify: str = SEND_TO_NONE) -> ItemRef:
        account = self._account(mailbox)
        with self._classified():
            folder = self._folder(account, collection)
            item.account, item.folder = account, folder
            (result,) = account.bulk_create(folder=folder, items=[item], send_meeting_invitations=notify)
            self._raise_item_result(result)
            return ItemRef(result.id, result.changekey)

    def update_contact(self, mailbox: str, ref: ItemRef, contact: Contact) -> ItemRef:
        item = _mapped(mapping.contact_to_ews, contact, id=ref.item_id, changekey=ref.version)
        return self._update(mailbox, Collection.CONTACTS, item, mapping.CONTACT_FIELDS)

    def update_event(self, mailbox: str, ref: ItemRef, event: Event) -> ItemRef:
        fields, current = mapping.EVENT_FIELDS, None
        if _has_exceptions(event):
            # Read the series first: when its times and pattern stay, the pattern is not written again, so
            # Exchange keeps the exceptions it already carries and only the new ones are written.
            (stored,) = self.fetch(mailbox, Collection.CALENDAR, [ref.item_id])
            if stored is None:
                raise ItemNotFound("the series is gone")
            if isinstance(stored.item, Event) and keeps_series(event, stored.item):
                fields, current = [f for f in fields if f != "recurrence"], stored.item.recurrence
        item = _mapped(mapping.event_to_ews, event, id=ref.item_id, changekey=ref.version)
        ref = self._update(mailbox, Collection.CALENDAR, item, fields, notify=_notify(event))
        return self._write_occurrences(mailbox, ref, event, current)

    def _write_occurrences(self, mailbox: str, ref: ItemRef, event: Event, current: Recurrence | None) -> ItemRef:
        """Make the series just written carry ``event``'s exceptions (``current`` = those it kept): one DeleteItem
        for the cancelled occurrences, one UpdateItem for the moved ones (both by OccurrenceItemId), then the
        master's new change key.

        EWS has no way to send a series with its exceptions in one CreateItem/UpdateItem. A failure between the
        master write and these leaves the series without (some of) them; the sync planner recognises that as its
        own partial write and writes the event again (sync/reconcile.py ``_partly_written_by_us``).
        """
        if not _has_exceptions(event):
            return ref
        account = self._account(mailbox)
        with self._classified():
            writes = occurrence_writes(event, current)
            if writes.unplaced:  # kept in the CRM, absent in the mailbox: a CRM input the pattern never produces
                log.warning("series %s: exceptions on days it has no occurrence, not written: %s", ref.item_id,
                            ", ".join(day.isoformat() for day in writes.unplaced))
            if not writes:
                return ref
            folder, notify = self._folder(account, Collection.CALENDAR), _notify(event)
            if writes.deletes:
                ids = [mapping.occurrence_id(ref.item_id, index) for index in writes.deletes]
                for result in account.bulk_delete(ids=ids, delete_type=HARD_DELETE, send_meeting_cancellations=notify):
                    # Already deleted is the outcome we want (a server that kept it across the new pattern).
                    if result is not True and not isinstance(result, ErrorCalendarOccurrenceIsDeletedFromRecurrence):
                        self._raise_item_result(result)
            if writes.moves:
                changes = [
                    mapping.occurrence_move_to_ews(event, change, ref.item_id, index, account=account, folder=folder)
                    for index, change in writes.moves
                ]
                for result in account.bulk_update(
                    items=changes, conflict_resolution=AUTO_RESOLVE, send_meeting_invitations_or_cancellations=notify,
                ):  # fmt: skip
                    self._raise_item_result(result)
            (master,) = account.fetch(ids=[(ref.item_id, None)], only_fields=["changekey"])
            self._raise_item_result(master)
            return ItemRef(ref.item_id, master.changekey)

    def _update(
        self, mailbox: str, collection: Collection, item: Any, fields: list[str], *, notify: str = SEND_TO_NONE
    ) -> ItemRef:
        account = self._account(mailbox)
        with self._classified():
            item.account, item.folder = account, self._folder(account, collection)
            (result,) = account.bulk_update(
                items=[(item, fields)], conflict_resolution=NEVER_OVERWRITE,
                send_meeting_invitations_or_cancellations=notify,
            )  # fmt: skip
            self._raise_item_result(result)
            return ItemRef(result[0], result[1])

    def delete_item(self, mailbox: str, ref: ItemRef) -> None:
        self._delete(mailbox, ref, cancel=False)

    def cancel_event(self, mailbox: str, ref: ItemRef) -> bool:
        return self._delete(mailbox, ref, cancel=True)

    def _delete(self, mailbox: str, ref: ItemRef, *, cancel: bool) -> bool:
        """DeleteItem at ``ref.version``; with ``cancel``, the attendees of an organizer's meeting whose requests
        went out (MeetingRequestWasSent, set on the organizer's item only) get Exchange's cancellation."""
        account = self._account(mailbox)
        with self._classified():
            # EWS DeleteItem does not enforce the change key, so compare it first: a stale version must not delete.
            fields = ["changekey", "meeting_request_was_sent"] if cancel else ["changekey"]
            (current,) = account.fetch(ids=[(ref.item_id, None)], only_fields=fields)
            self._raise_item_result(current)
            if current.changekey != ref.version:
                raise ConflictError("the item changed since the version given")
            notify = cancel and bool(getattr(current, "meeting_request_was_sent", False))
            (result,) = account.bulk_delete(
                ids=[(ref.item_id, ref.version)], delete_type=HARD_DELETE,
                send_meeting_cancellations=SEND_TO_ALL_AND_SAVE_COPY if notify else SEND_TO_NONE,
            )  # fmt: skip
            if result is not True:
                self._raise_item_result(result)
            return notify

    def find_by_tag(self, mailbox: str, collection: Collection, tag: str) -> list[StoredItem]:
        account = self._account(mailbox)
        with self._classified():
            folder = self._folder(account, collection)
            ids = list(folder.filter(**{mapping.TAG_FIELD: tag}).values_list("id", flat=True))
            return [s for s in self._fetch(account, collection, ids) if s is not None]

    # --- messages ---------------------------------------------------------------------------------

    def create_draft(self, mailbox: str, message: OutgoingMessage, *, tag: str) -> ItemRef:
        account = self._account(mailbox)
        with self._classified():
            draft = mapping.message_to_ews(message, tag=tag, account=account, folder=account.drafts)
            (result,) = account.bulk_create(folder=account.drafts, items=[draft], message_disposition=SAVE_ONLY)
            self._raise_item_result(result)
            return ItemRef(result.id, result.changekey)

    def send_draft(self, mailbox: str, ref: ItemRef) -> None:
        account = self._account(mailbox)
        with self._classified():
            (result,) = account.bulk_send(ids=[(ref.item_id, ref.version)], save_copy=True, copy_to_folder=account.sent)
            if result is not True:
                self._raise_item_result(result)

    def find_messages_by_tag(self, mailbox: str, folder: MessageFolder, tag: str) -> list[SentMessage]:
        account = self._account(mailbox)
        with self._classified():
            source = getattr(account, _MESSAGE_FOLDERS[folder])
            # Attachments are not FindItem properties: exchangelib follows up with one GetItem for them.
            rows = source.filter(**{mapping.TAG_FIELD: tag}).values_list("id", "changekey", "subject", "attachments")
            return [
                SentMessage(ItemRef(i, ck), tag, subject or "", tuple(a.name for a in attachments or ()))
                for i, ck, subject, attachments in rows
            ]

    # --- checks (verification is a sequence of these, timed by the caller) ------------------------

    def check_token(self, *, fresh: bool = False) -> TokenCheck:
        token = self.tokens.get_token(self.details, fresh=fresh)
        roles = token.roles()
        check = TokenCheck(roles=roles, expires_at=token.expires_at_datetime, has_mailbox_access=EXCHANGE_ROLE in roles)
        if not check.has_mailbox_access:
            raise ConsentMissing(f"the token's roles are {sorted(roles) or 'empty'}; {EXCHANGE_ROLE} is missing")
        return check

    def check_mailbox(self, mailbox: str) -> None:
        account = self._account(mailbox, fresh=True)  # a fresh Account, so the folder lookup really goes out
        with self._classified():
            if account.root is None:  # the GetFolder behind .root is the check
                raise ItemNotFound("the mailbox has no folder root")

    def check_collection(self, mailbox: str, collection: Collection) -> None:
        account = self._account(mailbox, fresh=True)
        with self._classified():
            list(self._folder(account, collection).all().values_list("id", flat=True)[:1])


def _has_exceptions(event: Event) -> bool:
    rec = event.recurrence
    return rec is not None and bool(rec.cancelled_occurrences or rec.changed_occurrences)


def _notify(event: Event) -> str:
    """EWS's SendMeetingInvitations(OrCancellations) for a write of ``event``: nobody unless it asks."""
    return SEND_TO_ALL_AND_SAVE_COPY if event.send_invitations else SEND_TO_NONE


def _mapped(to_ews: Any, value: Contact | Event, **ids: Any) -> Any:
    """The exchangelib item for ours; an item EWS cannot represent (unknown time zone, say) is InvalidItem."""
    try:
        return to_ews(value, **ids)
    except (EWSError, ValueError, TypeError, KeyError) as exc:  # ZoneInfoNotFoundError is a KeyError
        raise InvalidItem(f"{type(exc).__name__}: {exc}") from None


def _stored(item: Any) -> StoredItem | None:
    if isinstance(item, EwsContact):
        value: Contact | Event = mapping.contact_from_ews(item)
    elif isinstance(item, CalendarItem):
        value = mapping.event_from_ews(item)
    else:
        return None  # distribution lists in Contacts, meeting messages in Calendar: not ours to sync
    modified = item.last_modified_time
    return StoredItem(
        ref=ItemRef(item.id, item.changekey),
        item=value,
        tag=getattr(item, mapping.TAG_FIELD, None),
        last_modified=dt.datetime.fromtimestamp(modified.timestamp(), tz=dt.UTC) if modified else None,
    )
