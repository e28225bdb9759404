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
from django.db.models import Q
from django.utils import timezone

from brokerages import certificates, domains
from brokerages.models import (
    MICROSOFT_365_EWS_URL,
    MICROSOFT_ENTRA_AUTHORITY,
    MICROSOFT_GRAPH_URL,
    Brokerage,
    backend_for_new_brokerage,
)
from mailboxes.secret import Secret

# ruff's S105 reads any name containing SECRET as a password; this is a message about one.
SECRET_ID_PASTED_MESSAGE = (
    "That looks like the Secret ID. In Entra ID → App registrations → Certificates & secrets, "  # noqa: S105
    "copy the Value column, not the Secret ID."
)
WIDE = "width:32em"  # a URL or a list of domains shown whole, not cut off in a 20-character box
GUID_EXAMPLE = "36 characters like 0f8fad5b-d9cb-469f-a165-70867728950e"


class WriteOnlyPasswordInput(forms.PasswordInput):
    def __init__(self) -> None:
        super().__init__(render_value=False, attrs={"autocomplete": "new-password", "spellcheck": "false"})


class WriteOnlyTextarea(forms.Textarea):
    """A textarea that never renders a value, so a pasted private key is not sent back to the browser."""

    def format_value(self, value) -> None:
        return None


class ParsedDomains(list):
    """The valid domains typed, in order; ``problems`` holds a message per item that is not one."""

    def __init__(self, valid: list[str], problems: list[str]) -> None:
        super().__init__(valid)
        self.problems = problems


class DomainListField(forms.Field):
    """Email domains typed as a list separated by commas, semicolons, new lines or spaces.

    It does not raise for a malformed item: the form reports those together with the domains another
    brokerage already claims (clean_email_domains), so one submission names every problem.
    """

    widget = forms.TextInput

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list | tuple) else value

    def to_python(self, value) -> ParsedDomains:
        if isinstance(value, list | tuple):
            value = ",".join(value)
        normalized, problems = [], []
        for item in (item.strip() for item in re.split(r"[,;\n]+", value or "")):
            if not item:
                continue
            try:
                found = _domains_in(item)
            except ValidationError as exc:
                problems.extend(exc.messages)
                continue
            normalized.extend(domain for domain in found if domain not in normalized)
        return ParsedDomains(normalized, problems)

    def validate(self, value: list[str]) -> None:
        if self.required and not value and not getattr(value, "problems", None):
            raise ValidationError("Enter at least one email domain of the brokerage, for example example.com.")


def _domains_in(item: str) -> list[str]:
    """The domains of one comma-separated item: one domain, or several separated by spaces if each is valid.

    A message names the whole item as typed ("bad realty.com"), not just the part that failed ("bad").
    """
    parts = item.split()
    if len(parts) == 1:
        return [domains.normalize_domain(item)]
    try:
        return [domains.normalize_domain(part) for part in parts]
    except ValidationError as exc:
        raise ValidationError(
            f"“{item}” is not one domain: {exc.messages[0]} A domain has no spaces; separate domains with commas."
        ) from None


def _email_domain_in(domain_list: list[str]) -> Q:
    """Addresses whose domain is exactly one of domain_list (addresses are stored lower-case)."""
    query = Q(pk__in=[])
    for domain in domain_list:
        query |= Q(email__endswith=f"@{domain}")
    return query


def _guid_messages(label: str, where: str) -> dict[str, str]:
    return {
        "invalid": f"“%(value)s” is not a {label}: it should be a GUID, {GUID_EXAMPLE}. {where}",
        "required": f"Enter the {label}. {where}",
    }


class GuidField(forms.UUIDField):
    """A UUID field whose "invalid" message quotes what was typed, so a wrong paste is recognisable."""

    def to_python(self, value):
        try:
            return super().to_python(value)
        except ValidationError as exc:
            if exc.code != "invalid":
                raise
            raise ValidationError(self.error_messages["invalid"], code="invalid", params={"value": str(value).strip()[:60]}) from None


class BrokerageOperatorForm(forms.ModelForm):
    """What an operator may edit: nothing that is, or steers, a credential."""

    email_domains = DomainListField(
        help_text="The brokerage's email domains, separated by commas.", widget=forms.TextInput(attrs={"style": WIDE}),
    )

    class Meta:
        model = Brokerage
        fields = ["name", "status", "test_mailbox", "email_domains", "mailbox_backend"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is None and "mailbox_backend" not in (kwargs.get("initial") or {}):
            self.initial["mailbox_backend"] = backend_for_new_brokerage(self.instance.ews_url)

    def clean_email_domains(self) -> list[str]:
        """The domains, or every problem with them at once: malformed, claimed by another brokerage, stranding mailboxes."""
        parsed = self.cleaned_data["email_domains"]
        new_domains = list(parsed)
        problems = list(getattr(parsed, "problems", []))
        if new_domains:
            claimed = Brokerage.objects.exclude(pk=self.instance.pk).filter(email_domains__overlap=new_domains)
            for other in claimed.only("name", "email_domains").order_by("name")[:5]:
                shared = sorted(set(other.email_domains) & set(new_domains))
                problems.append(f"{', '.join(shared)} already belongs to the brokerage “{other.name}”; a domain has one brokerage.")
        if self.instance.pk and new_domains and not problems:
            # A count and one example, not every address: a brokerage may have thousands of mailboxes.
            outside = self.instance.mailboxes.exclude(_email_domain_in(new_domains))
            stranded = outside.count()
            if stranded:
                example = outside.order_by("email").values_list("email", flat=True).first()
                problems.append(
                    f"{stranded} mailbox(es) of this brokerage would fall outside its domains "
                    f"(for example {example}); move or delete them first."
                )
        if problems:
            raise ValidationError(problems)
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
    ews_url = forms.URLField(
        label="EWS URL", assume_scheme="https", initial=MICROSOFT_365_EWS_URL, widget=forms.URLInput(attrs={"style": WIDE}),
        help_text="Microsoft 365's, pre-filled; change it only for Exchange Server on-premises or the simulator.",
    )  # fmt: skip
    graph_url = forms.URLField(
        label="Graph URL", assume_scheme="https", required=False, widget=forms.URLInput(attrs={"style": WIDE}),
        help_text=f"Empty means {MICROSOFT_GRAPH_URL}; change it only for a national cloud or the simulator.",
    )  # fmt: skip
    authority_host = forms.URLField(
        label="Entra ID authority host", assume_scheme="https", initial=MICROSOFT_ENTRA_AUTHORITY,
        widget=forms.URLInput(attrs={"style": WIDE}),
        help_text="Microsoft's global sign-in, pre-filled; change it only for a national cloud or the simulator.",
    )  # fmt: skip

    class Meta(BrokerageOperatorForm.Meta):
        fields = [
            "name", "status", "tenant_id", "client_id", "credential_kind", "client_secret_expires_on",
            "pending_client_secret_expires_on", "test_mailbox", "email_domains", "mailbox_backend",
            "ews_url", "graph_url", "authority_host", "ca_bundle_path",
        ]  # fmt: skip
        field_classes = {"tenant_id": GuidField, "client_id": GuidField}
        error_messages = {
            "tenant_id": _guid_messages("Tenant ID", "Copy “Directory (tenant) ID” from the app registration's Overview (guide step 13)."),
            "client_id": _guid_messages("Client ID", "Copy “Application (client) ID” from the app registration's Overview (guide step 11)."),
        }
        widgets = {
            "tenant_id": forms.TextInput(attrs={"style": "width:24em", "spellcheck": "false"}),
            "client_id": forms.TextInput(attrs={"style": "width:24em", "spellcheck": "false"}),
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
