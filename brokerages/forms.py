"""The brokerage onboarding forms: every field checked, every message written for the staff member typing.

Secrets are write-only: their inputs start empty and never echo a submitted value back, even when the
form is redisplayed with errors. An empty input keeps the stored secret; a "clear" box removes it.
"""

from __future__ import annotations

import re
import uuid
from pathlib import PurePosixPath

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from brokerages import certificates, domains
from brokerages.models import MICROSOFT_GRAPH_URL, Brokerage, backend_for_new_brokerage
from mailboxes.secret import Secret

# ruff's S105 reads any name containing SECRET as a password; this is a message about one.
SECRET_ID_PASTED_MESSAGE = (
    "That looks like the Secret ID. In Entra ID → App registrations → Certificates & secrets, "  # noqa: S105
    "copy the Value column, not the Secret ID."
)
GUID_EXAMPLE = "36 characters like 0f8fad5b-d9cb-469f-a165-70867728950e"


class WriteOnlyPasswordInput(forms.PasswordInput):
    def __init__(self) -> None:
        super().__init__(render_value=False, attrs={"autocomplete": "new-password", "spellcheck": "false"})


class WriteOnlyTextarea(forms.Textarea):
    """A textarea that never renders a value, so a pasted private key is not sent back to the browser."""

    def format_value(self, value) -> None:
        return None


class DomainListField(forms.Field):
    """Email domains typed as a list separated by commas, spaces or new lines."""

    widget = forms.TextInput

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list | tuple) else value

    def to_python(self, value) -> list[str]:
        if isinstance(value, list | tuple):
            value = ",".join(value)
        items = [item for item in re.split(r"[\s,;]+", value or "") if item]
        normalized, problems = [], []
        for item in items:
            try:
                domain = domains.normalize_domain(item)
            except ValidationError as exc:
                problems.extend(exc.messages)
                continue
            if domain not in normalized:
                normalized.append(domain)
        if problems:
            raise ValidationError(problems)
        return normalized

    def validate(self, value: list[str]) -> None:
        if self.required and not value:
            raise ValidationError("Enter at least one email domain of the brokerage, for example example.com.")


def _guid_messages(label: str, where: str) -> dict[str, str]:
    return {"invalid": f"That is not a {label}: it should be a GUID, {GUID_EXAMPLE}. {where}", "required": f"Enter the {label}. {where}"}


class BrokerageOperatorForm(forms.ModelForm):
    """What an operator may edit: nothing that is, or steers, a credential."""

    email_domains = DomainListField(help_text="The brokerage's email domains, separated by commas.")

    class Meta:
        model = Brokerage
        fields = ["name", "status", "test_mailbox", "email_domains", "mailbox_backend"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is None and "mailbox_backend" not in (kwargs.get("initial") or {}):
            self.initial["mailbox_backend"] = backend_for_new_brokerage(self.instance.ews_url)

    def clean_email_domains(self) -> list[str]:
        new_domains = self.cleaned_data["email_domains"]
        claimed = Brokerage.objects.exclude(pk=self.instance.pk).filter(email_domains__overlap=new_domains)
        for other in claimed.only("name", "email_domains"):
            shared = sorted(set(other.email_domains) & set(new_domains))
            raise ValidationError(f"{', '.join(shared)} already belongs to the brokerage “{other.name}”; a domain has one brokerage.")
        if self.instance.pk:
            stranded = [
                email for email in self.instance.mailboxes.values_list("email", flat=True)
                if not domains.address_in_domains(email, new_domains)
            ]
            if stranded:
                raise ValidationError(
                    f"{len(stranded)} mailbox(es) of this brokerage would fall outside its domains "
                    f"(for example {stranded[0]}); move or delete them first."
                )
        return new_domains


class BrokerageForm(BrokerageOperatorForm):
    """The full onboarding form, for credential managers."""

    new_client_secret = forms.CharField(
        label="Client secret (Value)",
        required=False,
        widget=WriteOnlyPasswordInput(),
        help_text="The Value column in Entra ID (guide step 36). Write-only: leave empty to keep the stored secret.",
    )
    clear_client_secret = forms.BooleanField(label="Remove the stored client secret", required=False)
    new_pending_client_secret = forms.CharField(
        label="Next client secret (Value)",
        required=False,
        widget=WriteOnlyPasswordInput(),
        help_text="For a rotation without a gap: it is verified, then replaces the current secret. Write-only.",
    )
    clear_pending_client_secret = forms.BooleanField(label="Remove the stored next secret", required=False)
    new_certificate = forms.CharField(
        label="Certificate and private key (PEM)",
        required=False,
        strip=False,  # kept as pasted; stored with one final newline, as PEM files end
        widget=WriteOnlyTextarea(attrs={"rows": 4, "spellcheck": "false", "autocomplete": "off"}),
        help_text="Only for certificate credentials. Write-only: leave empty to keep the stored one.",
    )
    clear_certificate = forms.BooleanField(label="Remove the stored certificate", required=False)
    ews_url = forms.URLField(label="EWS URL", assume_scheme="https")
    graph_url = forms.URLField(label="Graph URL", assume_scheme="https", required=False,
                               help_text=f"Empty means {MICROSOFT_GRAPH_URL}.")
    authority_host = forms.URLField(label="Entra ID authority host", assume_scheme="https")

    class Meta(BrokerageOperatorForm.Meta):
        fields = [
            "name", "status", "tenant_id", "client_id", "credential_kind", "client_secret_expires_on",
            "pending_client_secret_expires_on", "test_mailbox", "email_domains", "mailbox_backend",
            "ews_url", "graph_url", "authority_host", "ca_bundle_path",
        ]  # fmt: skip
        error_messages = {
            "tenant_id": _guid_messages("Tenant ID", "Copy “Directory (tenant) ID” from the app registration's Overview (guide step 13)."),
            "client_id": _guid_messages("Client ID", "Copy “Application (client) ID” from the app registration's Overview (guide step 11)."),
        }
        widgets = {
            "client_secret_expires_on": forms.DateInput(attrs={"type": "date"}),
            "pending_client_secret_expires_on": forms.DateInput(attrs={"type": "date"}),
        }

    def clean_new_client_secret(self) -> str:
        return _checked_secret_value(self.cleaned_data["new_client_secret"])

    def clean_new_pending_client_secret(self) -> str:
        return _checked_secret_value(self.cleaned_data["new_pending_client_secret"])

    def clean_new_certificate(self) -> str:
        pem = self.cleaned_data["new_certificate"].strip()
        if pem:
            pem += "\n"
            try:
                self._certificate_facts = certificates.inspect_pem(pem)
            except certificates.CertificateProblem as exc:
                raise ValidationError(str(exc)) from None
            if self._certificate_facts.expires_on < timezone.localdate():
                raise ValidationError(f"This certificate expired on {self._certificate_facts.expires_on}; ask for a current one.")
        return pem

    def clean_client_secret_expires_on(self):
        return self._future_date("client_secret_expires_on", "new_client_secret")

    def clean_pending_client_secret_expires_on(self):
        return self._future_date("pending_client_secret_expires_on", "new_pending_client_secret")

    def clean_ews_url(self) -> str:
        return _https_only(self.cleaned_data["ews_url"], "The EWS URL")

    def clean_graph_url(self) -> str:
        return _https_only(self.cleaned_data["graph_url"] or MICROSOFT_GRAPH_URL, "The Graph URL")

    def clean_authority_host(self) -> str:
        return _https_only(self.cleaned_data["authority_host"], "The authority host")

    def clean_ca_bundle_path(self) -> str:
        path = self.cleaned_data["ca_bundle_path"].strip()
        if path and not PurePosixPath(path).is_absolute():
            raise ValidationError("Enter an absolute path on the worker hosts, like /etc/ssl/private-ca.pem, or leave it empty.")
        return path

    def clean(self):
        data = super().clean()
        if data.get("tenant_id") and data.get("tenant_id") == data.get("client_id"):
            self.add_error("client_id", "The Client ID equals the Tenant ID: copy “Application (client) ID”, the other GUID.")
        self._check_secret_pair("client_secret", "new_client_secret", "clear_client_secret")
        self._check_secret_pair("pending_client_secret", "new_pending_client_secret", "clear_pending_client_secret")
        if self.instance.pk is None and "mailbox_backend" not in self.changed_data and data.get("ews_url"):
            # The backend left as offered follows the EWS URL typed: an Exchange Server on-premises has no Graph.
            data["mailbox_backend"] = backend_for_new_brokerage(data["ews_url"])
        if data.get("new_certificate") and data.get("clear_certificate"):
            self.add_error("clear_certificate", "Either paste a new certificate or remove the stored one, not both.")
        kind = data.get("credential_kind")
        if kind == Brokerage.CredentialKind.CLIENT_SECRET and not self._will_have("client_secret") and "new_client_secret" not in self.errors:
            self.add_error("new_client_secret", "Enter the client secret's Value (guide step 36); this brokerage uses a client secret.")
        if kind == Brokerage.CredentialKind.CERTIFICATE and not self._will_have("certificate") and "new_certificate" not in self.errors:
            self.add_error("new_certificate", "Paste the certificate and private key; this brokerage uses a certificate.")
        return data

    def save(self, commit: bool = True) -> Brokerage:
        brokerage = self.instance
        for field, new, clear in (
            ("client_secret", "new_client_secret", "clear_client_secret"),
            ("pending_client_secret", "new_pending_client_secret", "clear_pending_client_secret"),
            ("certificate", "new_certificate", "clear_certificate"),
        ):
            if self.cleaned_data.get(new):
                setattr(brokerage, field, Secret(self.cleaned_data[new]))
            elif self.cleaned_data.get(clear):
                setattr(brokerage, field, None)
        if self.cleaned_data.get("new_certificate"):
            brokerage.certificate_thumbprint = self._certificate_facts.thumbprint
            brokerage.certificate_expires_on = self._certificate_facts.expires_on
        elif self.cleaned_data.get("clear_certificate"):
            brokerage.certificate_thumbprint, brokerage.certificate_expires_on = "", None
        if self.cleaned_data.get("clear_client_secret") and not self.cleaned_data.get("new_client_secret"):
            brokerage.client_secret_expires_on = None
        if self.cleaned_data.get("clear_pending_client_secret") and not self.cleaned_data.get("new_pending_client_secret"):
            brokerage.pending_client_secret_expires_on = None
        return super().save(commit)

    def _will_have(self, field: str) -> bool:
        """Whether, after this form is saved, the brokerage holds a value for the secret field."""
        if self.cleaned_data.get(f"new_{field}"):
            return True
        stored = self.instance._meta.get_field(field).stored_value(self.instance)
        return bool(self.instance.pk and stored is not None and not self.cleaned_data.get(f"clear_{field}"))

    def _check_secret_pair(self, field: str, new: str, clear: str) -> None:
        expires = f"{field}_expires_on"
        if self.cleaned_data.get(new) and self.cleaned_data.get(clear):
            self.add_error(clear, "Either enter a new secret or remove the stored one, not both.")
        if self.cleaned_data.get(new) and not self.cleaned_data.get(expires) and expires not in self.errors:
            self.add_error(expires, "Enter the expiry date shown next to the secret in Entra ID (the Expires column).")

    def _future_date(self, field: str, secret_field: str):
        value = self.cleaned_data[field]
        if value and (field in self.changed_data or self.data.get(self.add_prefix(secret_field))) and value < timezone.localdate():
            raise ValidationError(
                f"{value:%d %b %Y} is in the past: that secret has already expired. Ask the brokerage's "
                "administrator for a new client secret (guide steps 33–36) and enter its Value and expiry."
            )
        return value


def _checked_secret_value(value: str) -> str:
    """The pasted secret value, or ValidationError for the usual copy-and-paste mistakes."""
    value = value.strip()
    if not value:
        return value
    try:
        uuid.UUID(value)
    except ValueError:
        pass
    else:
        raise ValidationError(SECRET_ID_PASTED_MESSAGE)
    if any(ch.isspace() for ch in value):
        raise ValidationError("The secret contains spaces or line breaks; copy the Value again with the copy icon.")
    if len(value) < 16:
        raise ValidationError("That is too short to be a client secret Value (Entra ID shows about 40 characters).")
    return value


def _https_only(url: str, what: str) -> str:
    if url and not url.lower().startswith("https://"):
        raise ValidationError(f"{what} must start with https:// (credentials are never sent over plain HTTP).")
    return url
