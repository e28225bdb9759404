"""The EWS endpoint through handle() with hand-made claims: Exchange Online's checks, faults, schema fidelity."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from lxml import etree

from simulator.ews import endpoint

from .ews_harness import MAILBOX, NS, assert_schema_valid, make_world, response_body

E = "http://schemas.microsoft.com/exchange/services/2006/errors"
GET_CONTACTS_FOLDER = ('<m:GetFolder><m:FolderShape><t:BaseShape>AllProperties</t:BaseShape></m:FolderShape>'
                       '<m:FolderIds><t:DistinguishedFolderId Id="contacts"/></m:FolderIds></m:GetFolder>')
TAG = 'PropertySetId="c11ff724-aa03-4555-9952-8fa248a11c3e" PropertyName="EngageId" PropertyType="String"'


def fault_code(payload: bytes) -> str:
    fault = response_body(payload)
    assert etree.QName(fault).localname == "Fault"
    return fault.find(f"detail/{{{E}}}ResponseCode").text


def response_codes(payload: bytes) -> list[str]:
    body = assert_schema_valid(payload)
    return [m.findtext("m:ResponseCode", namespaces=NS) for m in body.find("m:ResponseMessages", NS)]


def test_app_token_without_impersonation_header_is_refused():
    sim = make_world()
    status, payload = sim.call(GET_CONTACTS_FOLDER, impersonate=False)
    assert status == 500
    assert fault_code(payload) == "ErrorInvalidExchangeImpersonationHeaderData"


def test_unknown_mailbox_and_another_tenants_mailbox_are_refused():
    # given our tenant and a second one with its own mailbox
    sim = make_world()
    other = sim.world.directory.create_tenant("Other", ["other.example"])
    sim.world.directory.add_mailbox(other.tenant_id, "agent@other.example")

    # then impersonating an unknown address or the other tenant's mailbox fails as Exchange Online fails
    assert fault_code(sim.call(GET_CONTACTS_FOLDER, mailbox="ghost@brokerage.example")[1]) == "ErrorNonExistentMailbox"
    assert fault_code(sim.call(GET_CONTACTS_FOLDER, mailbox="agent@other.example")[1]) == "ErrorImpersonateUserDenied"


def test_ews_switch_and_allow_list_answer_403():
    # given a tenant that allows EWS only for another app
    sim = make_world()
    tenant = sim.world.directory.tenant_of_mailbox(MAILBOX)
    tenant.ews_allowed_app_ids = {"00000000-0000-0000-0000-000000000001"}
    assert sim.call(GET_CONTACTS_FOLDER)[0] == 403

    # when our app is listed it passes, and when EWS is off for the organization nobody does
    tenant.ews_allowed_app_ids.add(sim.claims.app_id.upper())  # admins paste GUIDs in either case
    assert sim.call(GET_CONTACTS_FOLDER)[0] == 200
    tenant.ews_enabled = False
    assert sim.call(GET_CONTACTS_FOLDER)[0] == 403


def test_server_busy_is_a_500_fault_with_back_off_milliseconds_as_exchange_online_writes_it():
    # given a server-busy fault for the next GetFolder
    sim = make_world()
    sim.world.faults.add("server_busy", mailbox=MAILBOX, operation="GetFolder", count=1, back_off_ms=4321)

    # when GetFolder is called
    status, payload = sim.call(GET_CONTACTS_FOLDER)

    # then the answer is the SOAP fault exchangelib reads the back-off from
    fault = response_body(payload)
    assert status == 500
    assert fault.findtext("faultcode") == "a:ErrorServerBusy"
    value = fault.find("detail/t:MessageXml/t:Value", NS)
    assert (value.get("Name"), value.text) == ("BackOffMilliseconds", "4321")
    assert sim.call(GET_CONTACTS_FOLDER)[0] == 200


def test_strict_mode_refuses_a_schema_invalid_request_and_lax_mode_lets_it_through():
    invalid = GET_CONTACTS_FOLDER.replace("AllProperties", "Everything")
    status, payload = make_world(strict=True).call(invalid)
    assert status == 500 and fault_code(payload) == "ErrorSchemaValidation"
    assert response_body(payload).find("detail/t:MessageXml/t:LineNumber", NS) is not None
    assert make_world(strict=False).call(invalid)[0] == 200


def test_a_body_that_is_not_xml_fails_schema_validation():
    sim = make_world()
    status, _, payload = endpoint.handle(sim.world, sim.claims, {}, b"<s:Envelope")
    assert status == 500 and fault_code(payload) == "ErrorSchemaValidation"


def test_requests_are_counted_per_operation_and_mailbox():
    sim = make_world()
    for _ in range(3):
        sim.call(GET_CONTACTS_FOLDER)
    assert sim.world.stats.get("ews_operation", "GetFolder") == 3
    assert sim.world.stats.get("ews_mailbox", MAILBOX) == 3


def _create_contact(sim, name: str, tag: str | None = None) -> tuple[str, str]:
    extended = (f'<t:ExtendedProperty><t:ExtendedFieldURI {TAG}/><t:Value>{tag}</t:Value></t:ExtendedProperty>'
                if tag else "")
    _, payload = sim.call(f'<m:CreateItem><m:SavedItemFolderId><t:DistinguishedFolderId Id="contacts"/>'
                          f'</m:SavedItemFolderId><m:Items><t:Contact>{extended}<t:DisplayName>{name}</t:DisplayName>'
                          f'<t:GivenName>{name}</t:GivenName></t:Contact></m:Items></m:CreateItem>')
    item_id = assert_schema_valid(payload).find(".//t:ItemId", NS)
    return item_id.get("Id"), item_id.get("ChangeKey")


def test_get_item_batch_answers_each_id_and_reports_missing_ones_in_place():
    # given two contacts, one tagged
    sim = make_world()
    first, _ = _create_contact(sim, "Ann", tag="crm-1")
    second, _ = _create_contact(sim, "Bob")

    # when both and a deleted id are fetched with all properties plus the tag
    _, payload = sim.call(
        f'<m:GetItem><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape><t:AdditionalProperties>'
        f'<t:ExtendedFieldURI {TAG}/></t:AdditionalProperties></m:ItemShape><m:ItemIds><t:ItemId Id="{first}"/>'
        f'<t:ItemId Id="AAMkAGhvc3Q="/><t:ItemId Id="{second}"/></m:ItemIds></m:GetItem>')

    # then the answer is schema-valid, per id, in order, with the tag on the tagged one
    assert response_codes(payload) == ["NoError", "ErrorItemNotFound", "NoError"]
    body = response_body(payload)
    assert [v.text for v in body.iterfind(".//t:ExtendedProperty/t:Value", NS)] == ["crm-1"]


def test_find_item_restrictions_and_paging():
    # given five contacts, two tagged
    sim = make_world()
    for n, tag in enumerate(["crm-1", None, "crm-2", None, None]):
        _create_contact(sim, f"C{n}", tag=tag)
    find = ('<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>'
            '<t:FieldURI FieldURI="contacts:DisplayName"/></t:AdditionalProperties></m:ItemShape>{view}{restriction}'
            '<m:ParentFolderIds><t:DistinguishedFolderId Id="contacts"/></m:ParentFolderIds></m:FindItem>')
    tagged = (f'<m:Restriction><t:Or><t:IsEqualTo><t:ExtendedFieldURI {TAG}/><t:FieldURIOrConstant>'
              f'<t:Constant Value="crm-1"/></t:FieldURIOrConstant></t:IsEqualTo><t:Contains ContainmentMode="Prefixed"'
              f' ContainmentComparison="IgnoreCase"><t:ExtendedFieldURI {TAG}/><t:Constant Value="CRM-2"/></t:Contains>'
              f'</t:Or></m:Restriction>')
    untagged = f'<m:Restriction><t:Not><t:Exists><t:ExtendedFieldURI {TAG}/></t:Exists></t:Not></m:Restriction>'

    def names(payload: bytes) -> list[str]:
        return [n.text for n in assert_schema_valid(payload).iterfind(".//t:DisplayName", NS)]

    # then restrictions on the product's tag select, and indexed paging pages
    assert sorted(names(sim.call(find.format(view="", restriction=tagged))[1])) == ["C0", "C2"]
    assert sorted(names(sim.call(find.format(view="", restriction=untagged))[1])) == ["C1", "C3", "C4"]
    page = sim.call(find.format(view='<m:IndexedPageItemView MaxEntriesReturned="2" Offset="2" BasePoint="Beginning"/>',
                                restriction=""))[1]
    root = response_body(page).find(".//m:RootFolder", NS)
    assert (root.get("IndexedPagingOffset"), root.get("TotalItemsInView"), root.get("IncludesLastItemInRange")) == (
        "4", "5", "false")


def test_update_item_set_append_and_delete_fields_and_stale_change_key():
    # given a contact
    sim = make_world()
    item_id, key = _create_contact(sim, "Ann")
    update = ('<m:UpdateItem ConflictResolution="{mode}"><m:ItemChanges><t:ItemChange><t:ItemId Id="{id}" '
              'ChangeKey="{key}"/><t:Updates>{updates}</t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>')
    updates = ('<t:SetItemField><t:IndexedFieldURI FieldURI="contacts:PhoneNumber" FieldIndex="MobilePhone"/>'
               '<t:Contact><t:PhoneNumbers><t:Entry Key="MobilePhone">555</t:Entry></t:PhoneNumbers></t:Contact>'
               '</t:SetItemField><t:AppendToItemField><t:FieldURI FieldURI="item:Body"/><t:Contact>'
               '<t:Body BodyType="Text">more</t:Body></t:Contact></t:AppendToItemField>'
               '<t:DeleteItemField><t:FieldURI FieldURI="contacts:GivenName"/></t:DeleteItemField>')

    # when it is updated with its current key, then again with the old key
    first = sim.call(update.format(mode="AutoResolve", id=item_id, key=key, updates=updates))[1]
    stale = sim.call(update.format(mode="NeverOverwrite", id=item_id, key=key, updates=updates))[1]

    # then the first applies every kind of change and the second conflicts
    assert response_codes(first) == ["NoError"]
    assert response_codes(stale) == ["ErrorIrresolvableConflict"]
    fields = sim.world.mailstore.item(MAILBOX, item_id).fields
    assert fields["phones"] == {"mobile": "555"} and fields["notes"] == "more" and "given_name" not in fields


def test_deleting_a_calendar_item_requires_send_meeting_cancellations():
    sim = make_world()
    _, payload = sim.call('<m:CreateItem SendMeetingInvitations="SendToNone"><m:Items><t:CalendarItem>'
                          '<t:Subject>Showing</t:Subject><t:Start>2026-06-01T14:00:00Z</t:Start>'
                          '<t:End>2026-06-01T15:00:00Z</t:End></t:CalendarItem></m:Items></m:CreateItem>')
    item_id = response_body(payload).find(".//t:ItemId", NS).get("Id")
    delete = '<m:DeleteItem DeleteType="HardDelete"{extra}><m:ItemIds><t:ItemId Id="{id}"/></m:ItemIds></m:DeleteItem>'
    assert response_codes(sim.call(delete.format(extra="", id=item_id))[1]) == ["ErrorSendMeetingCancellationsRequired"]
    assert response_codes(sim.call(delete.format(extra=' SendMeetingCancellations="SendToNone"', id=item_id))[1]) == [
        "NoError"]


@pytest.mark.parametrize("shape", ["IdOnly", "Default", "AllProperties"])
def test_sync_folder_items_answers_validate_for_every_shape(shape):
    # given contacts, events with recurrence and attendees, and a sent message
    sim = make_world()
    store = sim.world.mailstore
    store.seed_contacts(MAILBOX, [{"given_name": "Ann", "surname": "Lee", "emails": ["a@x.example"],
                                   "phones": {"mobile": "1"}, "addresses": {"home": {"city": "X"}},
                                   "birthday": "1980-05-04", "notes": "n", "company_name": "C", "job_title": "J"}])
    store.seed_events(MAILBOX, [{"subject": "Series", "start": "2026-03-02T14:00:00Z", "end": "2026-03-02T15:00:00Z",
                                 "start_tz": "Eastern Standard Time", "location": "Oak St",
                                 "attendees": [{"email": "b@x.example", "type": "optional"}],
                                 "recurrence": {"pattern": {"type": "weekly", "interval": 1, "days_of_week": ["Monday"]},
                                                "range": {"type": "no_end", "start_date": "2026-03-02"}},
                                 "deleted_occurrences": ["2026-03-09T13:00:00Z"]}])
    for folder in ("contacts", "calendar"):
        # when each folder is synced with the shape
        _, payload = sim.call(f'<m:SyncFolderItems><m:ItemShape><t:BaseShape>{shape}</t:BaseShape></m:ItemShape>'
                              f'<m:SyncFolderId><t:DistinguishedFolderId Id="{folder}"/></m:SyncFolderId>'
                              f'<m:MaxChangesReturned>100</m:MaxChangesReturned></m:SyncFolderItems>')
        # then the answer validates against the schema
        assert response_codes(payload) == ["NoError"]



def test_every_kind_of_item_renders_schema_valid_with_all_properties():
    # given a message with every recipient kind, a series with an exception, and a cancelled meeting
    sim = make_world()
    store = sim.world.mailstore
    people = [{"email": "a@x.example", "name": "A"}]
    message = store.user_create(MAILBOX, "inbox", {"subject": "Offer", "body": "<b>Hi</b>", "body_type": "HTML",
                                                   "to": people, "cc": people, "bcc": people, "from": people[0],
                                                   "categories": ["Clients"], "internet_message_id": "<m@x>"})
    (series,) = store.seed_events(MAILBOX, [{
        "subject": "Open house", "start": "2026-03-02T14:00:00Z", "end": "2026-03-02T15:00:00Z",
        "start_tz": "Eastern Standard Time", "attendees": [{"email": "b@x.example", "type": "required"},
                                                           {"email": "room@x.example", "type": "resource"}],
        "recurrence": {"pattern": {"type": "relative_yearly", "days_of_week": ["Monday"], "week_index": "First",
                                   "month": 3}, "range": {"type": "end_date", "start_date": "2026-03-02",
                                                          "end_date": "2030-12-31"}},
        "modified_occurrences": {"2027-03-01T14:00:00Z": {"subject": "Moved", "start": "2027-03-01T16:00:00Z"}}}])
    (cancelled,) = store.seed_events(MAILBOX, [{"subject": "Gone", "start": "2026-04-01T09:00:00Z",
                                                "end": "2026-04-02T09:00:00Z", "is_cancelled": True,
                                                "is_all_day": True, "attendees": people}])
    ids = "".join(f'<t:ItemId Id="{i}"/>' for i in (message, series, cancelled))

    # when they are fetched with every property, as text and as HTML, and the calendar is viewed
    for body_type in ("Best", "Text", "HTML"):
        _, payload = sim.call(f'<m:GetItem><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape>'
                              f'<t:BodyType>{body_type}</t:BodyType></m:ItemShape><m:ItemIds>{ids}</m:ItemIds>'
                              f'</m:GetItem>')
        # then every answer validates
        assert response_codes(payload) == ["NoError"] * 3
    _, view = sim.call('<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape>'
                       '</m:ItemShape><m:CalendarView StartDate="2026-01-01T00:00:00Z" EndDate="2028-01-01T00:00:00Z"/>'
                       '<m:ParentFolderIds><t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds></m:FindItem>')
    assert response_codes(view) == ["NoError"]
    kinds = [n.text for n in response_body(view).iterfind(".//t:CalendarItemType", NS)]
    assert kinds == ["Occurrence", "Single", "Exception"]


def test_concurrent_requests_keep_the_store_consistent():
    # given eight threads creating contacts in the same mailbox at once
    sim = make_world(strict=False)

    def create(n: int) -> str:
        return _create_contact(sim, f"T{n}")[0]

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(create, range(80)))

    # then every contact exists once, and one sync reports exactly them
    assert len(set(ids)) == 80
    _, payload = sim.call('<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>'
                          '<m:SyncFolderId><t:DistinguishedFolderId Id="contacts"/></m:SyncFolderId>'
                          '<m:MaxChangesReturned>512</m:MaxChangesReturned></m:SyncFolderItems>')
    synced = [n.get("Id") for n in response_body(payload).iterfind(".//t:Create/t:Contact/t:ItemId", NS)]
    assert sorted(synced) == sorted(ids)


def test_a_request_the_simulator_cannot_handle_is_an_internal_server_error_fault(caplog):
    # given the lax (non-strict) mode, and an attendee without a mailbox (the schema forbids it)
    sim = make_world(strict=False)
    status, payload = sim.call('<m:CreateItem SendMeetingInvitations="SendToNone"><m:Items><t:CalendarItem>'
                               '<t:Start>2026-06-01T14:00:00Z</t:Start><t:End>2026-06-01T15:00:00Z</t:End>'
                               '<t:RequiredAttendees><t:Attendee/></t:RequiredAttendees></t:CalendarItem></m:Items>'
                               '</m:CreateItem>')

    # then Exchange's generic failure comes back as a SOAP fault, and the cause is logged
    assert status == 500 and fault_code(payload) == "ErrorInternalServerError"
    assert "EWS CreateItem failed" in caplog.text


def test_a_batch_send_over_the_limit_refuses_only_the_messages_beyond_it():
    # given a mailbox allowed one more message this minute
    sim = make_world()
    sim.world.faults.sends_per_minute = 1
    message = ('<t:Message><t:Subject>{0}</t:Subject><t:ToRecipients><t:Mailbox><t:EmailAddress>a@x.example'
               '</t:EmailAddress></t:Mailbox></t:ToRecipients></t:Message>')

    # when two messages are sent in one CreateItem
    _, payload = sim.call(f'<m:CreateItem MessageDisposition="SendOnly"><m:Items>{message.format("one")}'
                          f'{message.format("two")}</m:Items></m:CreateItem>')

    # then the first left and the second is refused in its own response message
    assert response_codes(payload) == ["NoError", "ErrorServerBusy"]
    assert [m["subject"] for m in sim.world.mailstore.outbound_log(MAILBOX)] == ["one"]
