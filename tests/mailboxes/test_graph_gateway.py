"""What only the Graph backend does, against the simulator's Graph API over HTTPS: transactionId, delta windows and
410, upload sessions, a refused token refetched, the same tag across protocols, and Graph's access failures."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from zoneinfo import ZoneInfo

import pytest

from mailboxes import errors
from mailboxes.ews import EwsGateway
from mailboxes.ews_mapping import EngageTag
from mailboxes.gateway import Capabilities, ChangeKind, MailboxGateway, open_gateway
from mailboxes.graph import tags
from mailboxes.graph.classify import GraphConsentMissing
from mailboxes.graph.gateway import GraphGateway
from mailboxes.graph.transport import GraphRegistry
from mailboxes.items import Attendee, Collection, Contact, Event, OutgoingAttachment, OutgoingMessage, PhoneType
from tests.mailboxes.conftest import details_for

NEW_YORK = ZoneInfo("America/New_York")
START = dt.datetime(2027, 1, 12, 14, 0, tzinfo=NEW_YORK)
SHOWING = Event("Showing", START, START + dt.timedelta(hours=1), time_zone="America/New_York", location="5 Elm St")


@pytest.fixture
def graph_for(tokens):
    def make(tenant, **overrides) -> GraphGateway:
        return open_gateway(details_for(tenant, **{"backend": "graph", **overrides}), tokens)

    return make


def operations(simulator) -> dict[str, int]:
    """The simulator's Graph operation counters (shared by the whole session: compare before and after)."""
    return dict(simulator.stats().get("graph_operation", {}))


def test_the_brokerage_backend_picks_the_gateway_and_each_declares_its_capabilities(sim_tenant, tokens):
    tenant = sim_tenant()
    graph = open_gateway(details_for(tenant, backend="graph"), tokens)
    ews = open_gateway(details_for(tenant, backend="ews"), tokens)
    assert isinstance(graph, GraphGateway) and isinstance(ews, EwsGateway)
    assert isinstance(graph, MailboxGateway) and isinstance(graph.capabilities, Capabilities)
    assert (graph.capabilities.concurrency_cap, ews.capabilities.concurrency_cap) == (4, 27)
    assert not graph.capabilities.send_returns_id and not ews.capabilities.send_returns_id
    assert ews.capabilities.feed_nets_out_own_writes and not graph.capabilities.feed_nets_out_own_writes
    with pytest.raises(ValueError):
        open_gateway(details_for(tenant, backend="imap"), tokens)


def test_the_tag_is_the_same_mapi_property_the_ews_backend_writes():
    assert (EngageTag.property_set_id, EngageTag.property_name) == (tags.PROPERTY_SET, tags.PROPERTY_NAME)


def test_an_event_create_retried_after_a_lost_answer_makes_one_event_by_its_transaction_id(simulator, sim_tenant,
                                                                                          graph_for):
    # Given a create whose answer is lost after the mailbox stored the event
    tenant = sim_tenant()
    gateway, mailbox = graph_for(tenant), tenant.mailboxes[0]
    simulator.add_fault("timeout_after_commit", mailbox=mailbox, operation="create_event", seconds=0.2, count=1)
    with pytest.raises(errors.TransientNetwork):
        gateway.create_event(mailbox, SHOWING, tag="engage:event:5")
    # When the caller simply sends the same create again
    ref = gateway.create_event(mailbox, SHOWING, tag="engage:event:5")
    # Then the mailbox holds one event, the one the retry answered
    assert [s.ref.item_id for s in gateway.find_by_tag(mailbox, Collection.CALENDAR, "engage:event:5")] == [ref.item_id]


def test_calendar_changes_come_from_a_calendar_view_delta_with_deletions_and_a_410_means_read_afresh(
        simulator, sim_tenant, graph_for):
    tenant = sim_tenant()
    gateway, mailbox = graph_for(tenant), tenant.mailboxes[0]
    # Given an event in the window, read from the start
    ref = gateway.create_event(mailbox, SHOWING, tag="engage:event:6")
    pages = list(gateway.read_changes(mailbox, Collection.CALENDAR, None))
    assert [(c.kind, c.item_id, c.stored.item) for p in pages for c in p.changes] == [
        (ChangeKind.CREATED, ref.item_id, SHOWING)]
    # When it is moved and then read from the watermark, the move arrives; when deleted, the deletion does
    moved = gateway.update_event(mailbox, ref, Event(**{**SHOWING.__dict__, "start": START + dt.timedelta(hours=1),
                                                        "end": START + dt.timedelta(hours=2)}))
    (page,) = list(gateway.read_changes(mailbox, Collection.CALENDAR, pages[-1].watermark))
    assert [(c.kind, c.stored.item.start) for c in page.changes] == [(ChangeKind.UPDATED, START + dt.timedelta(hours=1))]
    gateway.delete_item(mailbox, moved)
    (after,) = list(gateway.read_changes(mailbox, Collection.CALENDAR, page.watermark))
    assert [(c.kind, c.item_id) for c in after.changes] == [(ChangeKind.DELETED, ref.item_id)]
    # And once the mailbox's delta tokens expire, the stored watermark says read afresh
    simulator.expire_delta_tokens(mailbox)
    gateway.create_event(mailbox, SHOWING, tag="engage:event:7")
    with pytest.raises(errors.WatermarkExpired):
        list(gateway.read_changes(mailbox, Collection.CALENDAR, after.watermark))


def test_a_meeting_cancelled_by_its_organizer_tells_the_attendees(simulator, sim_tenant, graph_for):
    tenant = sim_tenant()
    gateway, mailbox = graph_for(tenant), tenant.mailboxes[0]
    meeting = Event(**{**SHOWING.__dict__, "attendees": (Attendee("buyer@client.example", "Buyer"),)})
    ref = gateway.create_event(mailbox, meeting, tag="engage:event:8")
    before = operations(simulator).get("cancel_event", 0)
    assert gateway.cancel_event(mailbox, ref) is True
    assert operations(simulator).get("cancel_event", 0) == before + 1
    assert [m.get("meeting") for m in simulator.outbound(mailbox)] == ["request", "cancellation"]


def test_a_large_attachment_goes_through_an_upload_session(simulator, sim_tenant, graph_for):
    tenant = sim_tenant()
    gateway, mailbox = graph_for(tenant), tenant.mailboxes[0]
    big = OutgoingAttachment("scan.tiff", "image/tiff", b"\x00\xff" * (2 * 1024 * 1024))  # 4 MiB
    before = operations(simulator).get("create_upload_session", 0)
    gateway.create_draft(mailbox, OutgoingMessage("Scan", "", ("ada@client.example",), attachments=(big,)), tag="m:1")
    assert operations(simulator).get("create_upload_session", 0) == before + 1


def test_an_item_tagged_over_one_protocol_is_found_by_its_tag_over_the_other(sim_tenant, tokens, graph_for):
    # Given one brokerage reached through both backends
    tenant = sim_tenant()
    ews, graph, mailbox = EwsGateway(details_for(tenant), tokens), graph_for(tenant), tenant.mailboxes[0]
    contact = Contact(given_name="Grace", surname="Hopper", display_name="Grace Hopper", emails=("grace@client.example",))
    # When EWS creates a contact and an event, Then Graph finds each by its tag, the same item
    ews_contact = ews.create_contact(mailbox, contact, tag="engage:contact:ews")
    ews_event = ews.create_event(mailbox, SHOWING, tag="engage:event:ews")
    (by_graph,) = graph.find_by_tag(mailbox, Collection.CONTACTS, "engage:contact:ews")
    (event_by_graph,) = graph.find_by_tag(mailbox, Collection.CALENDAR, "engage:event:ews")
    assert by_graph.item == contact and event_by_graph.item == SHOWING and by_graph.tag == "engage:contact:ews"
    assert by_graph.ref.item_id != ews_contact.item_id and event_by_graph.ref.item_id != ews_event.item_id
    # And when Graph creates them, EWS finds each by its tag
    graph.create_contact(mailbox, contact, tag="engage:contact:graph")
    graph.create_event(mailbox, SHOWING, tag="engage:event:graph")
    (by_ews,) = ews.find_by_tag(mailbox, Collection.CONTACTS, "engage:contact:graph")
    (event_by_ews,) = ews.find_by_tag(mailbox, Collection.CALENDAR, "engage:event:graph")
    assert by_ews.item == contact and event_by_ews.item == SHOWING and event_by_ews.tag == "engage:event:graph"


def test_a_token_graph_refuses_is_discarded_and_the_request_sent_once_more(simulator, sim_tenant, graph_for):
    # Given a Graph token cached fleet-wide that Graph refuses once (expired early)
    tenant = sim_tenant()
    gateway, mailbox = graph_for(tenant), tenant.mailboxes[0]
    gateway.check_collection(mailbox, Collection.CONTACTS)
    simulator.add_fault("token_expired", mailbox=mailbox, count=1)
    # When the gateway is used, Then the call succeeds with a new token (one more token request at Entra ID)
    gateway.check_collection(mailbox, Collection.CONTACTS)
    assert simulator.stats()["token_app"][tenant.client_id] == 2


def test_throttling_is_the_same_throttled_class_with_graphs_retry_after(simulator, sim_tenant, graph_for):
    tenant = sim_tenant()
    gateway, mailbox = graph_for(tenant), tenant.mailboxes[0]
    simulator.add_fault("server_busy", mailbox=mailbox, operation="create_contact", back_off_ms=12000, count=1)
    with pytest.raises(errors.Throttled) as caught:
        gateway.create_contact(mailbox, Contact(given_name="T"), tag="t")
    assert caught.value.back_off_seconds == 12 and not caught.value.permanent
    simulator.add_fault("http_503", mailbox=mailbox, count=1)
    with pytest.raises(errors.Throttled) as caught:
        gateway.check_mailbox(mailbox)
    assert caught.value.back_off_seconds == 10  # the simulator's Retry-After


# --- access failures -------------------------------------------------------------------------------------------


def test_a_missing_graph_permission_is_consent_missing_with_the_graph_remedy(sim_tenant, graph_for):
    # Given an app consented for contacts only
    tenant = sim_tenant(graph_roles=["Contacts.ReadWrite"])
    gateway = graph_for(tenant)
    # Then the token check names what is missing, and Graph's refusal of a calendar read says the same
    with pytest.raises(errors.ConsentMissing) as at_token:
        gateway.check_token(fresh=True)
    assert isinstance(at_token.value, GraphConsentMissing) and "Calendars.ReadWrite" in str(at_token.value)
    assert "Mail.Send" in at_token.value.remedy and at_token.value.kind == "consent_missing"
    gateway.check_collection(tenant.mailboxes[0], Collection.CONTACTS)
    with pytest.raises(GraphConsentMissing):
        gateway.check_collection(tenant.mailboxes[0], Collection.CALENDAR)


def test_a_mailbox_outside_the_apps_access_policy_is_out_of_scope(simulator, sim_tenant, graph_for):
    tenant = sim_tenant(mailboxes=2)
    simulator.set_mailbox_scope(tenant.tenant_id, tenant.client_id, [tenant.mailboxes[0]])
    gateway = graph_for(tenant)
    gateway.check_mailbox(tenant.mailboxes[0])
    with pytest.raises(errors.MailboxOutOfScope) as caught:
        gateway.check_mailbox(tenant.mailboxes[1])
    assert caught.value.permanent and "Application Access Policy" in caught.value.remedy


def test_an_unknown_mailbox_is_mailbox_not_found(sim_tenant, graph_for):
    tenant = sim_tenant()
    with pytest.raises(errors.MailboxNotFound):
        graph_for(tenant).check_mailbox(f"nobody@{tenant.domain}")


def test_an_address_outside_the_domains_is_refused_before_any_request(simulator, sim_tenant, graph_for):
    tenant = sim_tenant()
    gateway = graph_for(tenant)
    before = simulator.stats()
    outsider = "agent@not-this-brokerage.example"
    for call in (
        lambda: gateway.check_mailbox(outsider),
        lambda: gateway.read_changes(outsider, Collection.CALENDAR, None),
        lambda: gateway.fetch(outsider, Collection.CONTACTS, ["x"]),
        lambda: gateway.create_draft(outsider, OutgoingMessage("s", "b", ("a@b.example",)), tag="t"),
        lambda: gateway.find_by_tag(outsider, Collection.CALENDAR, "t"),
    ):
        with pytest.raises(errors.MailboxNotAllowed):
            call()
    assert simulator.stats() == before


def test_a_tenant_with_ews_switched_off_still_works_on_graph(sim_tenant, graph_for):
    tenant = sim_tenant(ews_enabled=False)
    gateway = graph_for(tenant)
    assert gateway.check_token(fresh=True).has_mailbox_access
    gateway.check_mailbox(tenant.mailboxes[0])
    gateway.check_collection(tenant.mailboxes[0], Collection.CALENDAR)


def test_an_untrusted_certificate_is_a_tls_failure(sim_tenant, tokens, graph_for):
    # Given a token already cached, and a Graph client told to trust only the system's authorities
    tenant = sim_tenant()
    tokens.get_token(details_for(tenant), scope="https://graph.microsoft.com/.default")
    gateway = graph_for(tenant, ca_bundle_path="/etc/ssl/certs/ca-certificates.crt")
    with pytest.raises(errors.TlsFailure):
        gateway.check_mailbox(tenant.mailboxes[0])


def test_phones_graph_has_no_property_for_survive_a_graph_update(sim_tenant, tokens, graph_for):
    # Given a contact written over EWS with a business fax, a phone kind Graph's contact does not have
    tenant = sim_tenant()
    ews, graph, mailbox = EwsGateway(details_for(tenant), tokens), graph_for(tenant), tenant.mailboxes[0]
    faxed = Contact(given_name="Ada", surname="Fax", display_name="Ada Fax",
                    phones={PhoneType.MOBILE: "+1 206 555 0100", PhoneType.BUSINESS_FAX: "+1 206 555 0111"})
    ews.create_contact(mailbox, faxed, tag="engage:contact:fax")
    (seen,) = graph.find_by_tag(mailbox, Collection.CONTACTS, "engage:contact:fax")
    assert seen.item.phones == {PhoneType.MOBILE: "+1 206 555 0100"}
    # When Graph updates its job title
    graph.update_contact(mailbox, seen.ref, Contact(**{**seen.item.__dict__, "job_title": "Owner"}))
    # Then EWS still reads the fax beside the change
    (after,) = ews.find_by_tag(mailbox, Collection.CONTACTS, "engage:contact:fax")
    assert after.item.job_title == "Owner" and after.item.phones == faxed.phones


def test_graphs_concurrency_refusal_is_throttled(simulator, sim_tenant, graph_for):
    tenant = sim_tenant()
    simulator.add_fault("connection_limit", mailbox=tenant.mailboxes[0], count=1)  # 429 ApplicationThrottled
    with pytest.raises(errors.Throttled):
        graph_for(tenant).check_mailbox(tenant.mailboxes[0])


def test_no_token_secret_or_upload_authorization_in_the_logs(sim_tenant, tokens, graph_for, caplog):
    # Given every log record at DEBUG while a draft with a large attachment is written and sent
    tenant = sim_tenant()
    gateway, mailbox = graph_for(tenant), tenant.mailboxes[0]
    big = OutgoingAttachment("plan.pdf", "application/pdf", b"%PDF" * (1024 * 1024))  # 4 MiB: an upload session
    with caplog.at_level(logging.DEBUG):
        draft = gateway.create_draft(mailbox, OutgoingMessage("Plan", "", ("ada@client.example",), attachments=(big,)),
                                     tag="engage:mail:logs")
        gateway.send_draft(mailbox, draft)
    token = tokens.get_token(gateway.details, scope="https://graph.microsoft.com/.default").value.reveal()
    captured = caplog.text + "".join(repr(r.args) for r in caplog.records)
    # Then the upload URL was logged without its authorization, and no token or secret shows anywhere
    assert "AttachmentSessions" in captured and "authtoken=[redacted]" in captured
    assert "authtoken=" not in captured.replace("authtoken=[redacted]", "")
    assert token[:30] not in captured and tenant.client_secret not in captured


def test_http_clients_are_one_per_brokerage_and_bounded_per_process(sim_tenant, tokens):
    registry = GraphRegistry(max_brokerages=2)
    first, second, third = (details_for(sim_tenant(), backend="graph") for _ in range(3))
    oldest = registry.get(first, tokens)
    assert registry.get(first, tokens) is oldest  # a brokerage's gateways share one client
    registry.get(second, tokens)
    registry.get(third, tokens)
    assert len(registry) == 2 and oldest.client.is_closed


def test_ews_ids_translate_to_the_graph_ids_of_the_same_items(sim_tenant, tokens, graph_for):
    # Given a contact and an event created over EWS, and one id that names nothing any more
    tenant = sim_tenant()
    ews, graph, mailbox = EwsGateway(details_for(tenant), tokens), graph_for(tenant), tenant.mailboxes[0]
    contact = ews.create_contact(mailbox, Contact(given_name="Moved"), tag="engage:contact:move")
    event = ews.create_event(mailbox, SHOWING, tag="engage:event:move")
    gone = ews.create_contact(mailbox, Contact(given_name="Gone"), tag="engage:contact:gone")
    ews.delete_item(mailbox, gone)
    # When their EWS ids are translated
    translated = graph.translate_ews_ids(mailbox, [contact.item_id, event.item_id, gone.item_id])
    # Then each names the item Graph finds by its tag, and the gone one names nothing
    (by_tag,) = graph.find_by_tag(mailbox, Collection.CONTACTS, "engage:contact:move")
    (event_by_tag,) = graph.find_by_tag(mailbox, Collection.CALENDAR, "engage:event:move")
    assert translated == {contact.item_id: by_tag.ref.item_id, event.item_id: event_by_tag.ref.item_id,
                          gone.item_id: None}


def test_attachments_over_3_mb_together_go_one_request_each_beyond_the_first(simulator, sim_tenant, graph_for):
    # Given two 2 MiB files: together over the 3 MB a single request may carry, each under it
    tenant = sim_tenant()
    gateway, mailbox = graph_for(tenant), tenant.mailboxes[0]
    files = tuple(OutgoingAttachment(f"part{n}.bin", "application/octet-stream", bytes([n]) * (2 * 1024 * 1024))
                  for n in (1, 2))
    before = operations(simulator)
    draft = gateway.create_draft(mailbox, OutgoingMessage("Parts", "", ("ada@client.example",), attachments=files),
                                 tag="engage:mail:parts")
    after = operations(simulator)
    gateway.send_draft(mailbox, draft)
    # Then the second was added by its own request (no upload session), and both went out byte-exact
    assert after.get("add_attachment", 0) - before.get("add_attachment", 0) == 1
    assert after.get("create_upload_session", 0) == before.get("create_upload_session", 0)
    (out,) = simulator.outbound(mailbox)
    assert sorted((a["name"], a["sha256"]) for a in out["attachments"]) == sorted(
        (f.filename, hashlib.sha256(f.content).hexdigest()) for f in files)
