"""The two staff roles, as Django groups: what each may do is defined here, in code.

Operators watch and run the service: they see brokerages (status, failures), manage agents' mailboxes
and may edit a brokerage's non-credential fields; they never see or change credentials. Credential
managers may also enter and change credentials (see audit.CREDENTIAL_FIELDS) and add brokerages.
"""

from __future__ import annotations

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
)
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    OPERATORS: _OPERATOR_PERMISSIONS,
    CREDENTIAL_MANAGERS: (*_OPERATOR_PERMISSIONS, "add_brokerage", "change_brokerage_credentials"),
}


def ensure_roles(group_model, permission_model, role_permissions: dict[str, tuple[str, ...]] = ROLE_PERMISSIONS) -> None:
    """Create the groups and grant them their permissions (additive: extra grants made by hand are kept).

    Takes the models as arguments so the data migration can pass its historical ones (and its frozen list).
    """
    for group_name, codenames in role_permissions.items():
        group, _ = group_model.objects.get_or_create(name=group_name)
        permissions = permission_model.objects.filter(content_type__app_label="brokerages", codename__in=codenames)
        found = set(permissions.values_list("codename", flat=True))
        missing = set(codenames) - found
        if missing:
            raise LookupError(f"Permissions {sorted(missing)} do not exist; run migrate for brokerages first.")
        group.permissions.add(*permissions)
