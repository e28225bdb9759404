"""Ids that name nothing, answered as Exchange answers them: a well-formed id of no folder or item is
ErrorItemNotFound ("The specified object was not found in the store."), an id that is not an Exchange id at all
is ErrorInvalidIdMalformed, a well-known folder the mailbox lacks is ErrorFolderNotFound."""

from __future__ import annotations

import base64

import pytest

from .ews_harness import NS, assert_schema_valid, make_world

# Well-formed (an Exchange-shaped id, base64), naming nothing in the store.
UNKNOWN = base64.b64encode(b"\x00\x03\x24\x00" + b"\x11" * 40).decode()
MALFORMED = "not an id!"
NOT_FOUND_TEXT = "The specified object was not found in the store."


def _messages(payload: bytes) -> list[tuple[str, str]]:
    body = assert_schema_valid(payload)
    return [(m.findtext("m:ResponseCode", namespaces=NS), m.findtext("m:MessageText", default="", namespaces=NS))
            for m in body.find("m:ResponseMessages", NS)]


FOLDER_REQUESTS = {
    "GetFolder": '<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>'
                 '<m:FolderIds>{folder}</m:FolderIds></m:GetFolder>',
    "FindFolder": '<m:FindFolder Traversal="Shallow"><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>'
                  '<m:ParentFolderIds>{folder}</m:ParentFolderIds></m:FindFolder>',
    "FindItem": '<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>'
                '<m:ParentFolderIds>{folder}</m:ParentFolderIds></m:FindItem>',
    "SyncFolderItems": '<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>'
                       '<m:SyncFolderId>{folder}</m:SyncFolderId><m:MaxChangesReturned>10</m:MaxChangesReturned>'
                       '</m:SyncFolderItems>',
    "CreateItem": '<m:CreateItem><m:SavedItemFolderId>{folder}</m:SavedItemFolderId><m:Items><t:Contact>'
                  '<t:GivenName>Ann</t:GivenName></t:Contact></m:Items></m:CreateItem>',
}


@pytest.mark.parametrize("operation", sorted(FOLDER_REQUESTS))
def test_a_well_formed_folder_id_of_no_folder_is_item_not_found(operation):
    # given a strict simulator, when an operation names a folder by a well-formed id the mailbox does not hold
    sim = make_world(strict=True)
    status, payload = sim.call(FOLDER_REQUESTS[operation].format(folder=f'<t:FolderId Id="{UNKNOWN}"/>'))

    # then its response message says the object is not in the store, as Exchange does, and nothing was created
    [(code, text)] = _messages(payload)
    assert status == 200 and code == "ErrorItemNotFound" and text.startswith(NOT_FOUND_TEXT)
    assert sim.world.mailstore.folder(sim.mailbox, "contacts").items == {}


@pytest.mark.parametrize("operation", sorted(FOLDER_REQUESTS))
def test_a_malformed_folder_id_is_invalid_id_malformed(operation):
    # given a strict simulator, when an operation names a folder by something that is not an Exchange id
    status, payload = make_world(strict=True).call(
        FOLDER_REQUESTS[operation].format(folder=f'<t:FolderId Id="{MALFORMED}"/>'))

    # then its response message says the id is malformed
    assert status == 200 and _messages(payload) == [("ErrorInvalidIdMalformed", "Id is malformed.")]


def test_a_well_known_folder_the_mailbox_lacks_stays_folder_not_found():
    # given a mailbox without an archive, when GetFolder asks for its archive root by name
    _, payload = make_world(strict=True).call(
        FOLDER_REQUESTS["GetFolder"].format(folder='<t:DistinguishedFolderId Id="archivemsgfolderroot"/>'))

    # then Exchange's answer for a missing well-known folder comes back
    assert _messages(payload) == [("ErrorFolderNotFound", "The specified folder could not be found in the store.")]


@pytest.mark.parametrize(("item_id", "code"), [(UNKNOWN, "ErrorItemNotFound"), (MALFORMED, "ErrorInvalidIdMalformed")])
def test_item_ids_of_nothing_are_answered_per_id_for_every_item_operation(item_id, code):
    # given a strict simulator, when GetItem, UpdateItem and DeleteItem name an item that is not there
    sim = make_world(strict=True)
    requests = [
        f'<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>'
        f'<m:ItemIds><t:ItemId Id="{item_id}"/></m:ItemIds></m:GetItem>',
        f'<m:UpdateItem ConflictResolution="AlwaysOverwrite"><m:ItemChanges><t:ItemChange><t:ItemId Id="{item_id}"/>'
        f'<t:Updates><t:SetItemField><t:FieldURI FieldURI="contacts:GivenName"/><t:Contact><t:GivenName>Bo'
        f'</t:GivenName></t:Contact></t:SetItemField></t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>',
        f'<m:DeleteItem DeleteType="HardDelete"><m:ItemIds><t:ItemId Id="{item_id}"/></m:ItemIds></m:DeleteItem>',
    ]

    # then each answers the code Exchange gives for that kind of id
    for request in requests:
        status, payload = sim.call(request)
        [(answered, _)] = _messages(payload)
        assert (status, answered) == (200, code), request
