"""The two staff roles, as Django groups: what each may do is defined here, in code.

Operators watch and run the service: they see brokerages (status, failures), manage agents' mailboxes
and may edit a brokerage's non-credential fields; they see failed emails (and retry them), the sync's
conflict decisions and folder states (and confirm a paused mass deletion), and set brokerages' sync
policies; they never see or change credentials, nor the CRM's contacts and events. Credential
managers may also enter and change credentials (see audit.CREDENTIAL_FIELDS), add brokerages, unlock a
staff login that django-axes locked out, and read emails' content (subject, bodies, recipients, attachment names),
which operators never see.

CRM API keys (apikeys/) are credentials too: operators see their metadata (client, prefix, scope, last use)
and the audit, never a key; only credential managers issue and revoke them, including all-brokerages keys.
An operator who could issue a key could read clients' contacts through the API, so they cannot.
"""

from __future__ import annotations

from django.db.models import Q

OPERATORS = "Operators"
CREDENTIAL_MANAGERS = "Credential managers"

_OPERATOR_PERMISSIONS = (
    "view_brokerage",
    "change_brokerage",
    "view_mailbox",
    "add_mailbox",
    "change_mailbox",
    "view_credentialauditentry",
    # verification history and expiry warnings (running a verification needs change_brokerage)
    "view_verificationrun",
    "view_verificationstep",
    "view_secretexpirywarning",
    # Other apps' pages an operator acts on (app label given): failed emails (view, and the Retry action),
    # the sync's conflict decisions, folder states (confirming a paused mass deletion), links, and the
    # brokerages' sync policies. Not the CRM's contacts and events themselves: clients' data stays with the CRM.
    "outbox.view_outgoingemail",
    "sync.view_syncconflict",
    "sync.view_folderstate",
    "sync.view_synclink",
    "sync.view_brokeragesyncsettings",
    "sync.add_brokeragesyncsettings",
    "sync.change_brokeragesyncsettings",
    # CRM API keys: metadata and audit only (apikeys/admin.py never shows a key after it is issued).
    "apikeys.view_apikey",
    "apikeys.view_apikeyauditentry",
    "apikeys.view_deniedapirequests",
)
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    OPERATORS: _OPERATOR_PERMISSIONS,
    # Credential managers also issue and revoke CRM API keys, unlock a staff login locked out after too many wrong
    # passwords (django-axes' access attempts) and may read what an email says and to whom (operators see its state
    # only: outbox/admin.py)
    CREDENTIAL_MANAGERS: (
        *_OPERATOR_PERMISSIONS, "add_brokerage", "change_brokerage_credentials",
        "apikeys.add_apikey", "apikeys.change_apikey", "apikeys.issue_all_brokerages_apikey",
        "axes.view_accessattempt", "axes.delete_accessattempt", "outbox.view_email_content",
    ),
}


def _qualified(name: str) -> tuple[str, str]:
    """("app_label", "codename") of "app_label.codename", or of a bare codename of this app."""
    app_label, _, codename = name.rpartition(".")
    return app_label or "brokerages", codename


def ensure_roles(group_model, permission_model, role_permissions: dict[str, tuple[str, ...]] = ROLE_PERMISSIONS) -> None:
    """Create the groups and grant them their permissions (additive: extra grants made by hand are kept).

    Takes the models as arguments so the data migration can pass its historical ones (and its frozen list).
    """
    for group_name, codenames in role_permissions.items():
        group, _ = group_model.objects.get_or_create(name=group_name)
        wanted = {_qualified(name) for name in codenames}
        query = Q(pk__in=[])
        for app_label, codename in wanted:
            query |= Q(content_type__app_label=app_label, codename=codename)
        permissions = permission_model.objects.filter(query)
        found = set(permissions.values_list("content_type__app_label", "codename"))
        missing = {".".join(pair) for pair in wanted - found}
        if missing:
            raise LookupError(f"Permissions {sorted(missing)} do not exist; run migrate first.")
        group.permissions.add(*permissions)
