"""The onboarding admin: brokerages with write-only credentials, their mailboxes, and the credential audit log.

Who sees what: operators get BrokerageOperatorForm (no credential inputs, credential identity read-only);
holders of brokerages.change_brokerage_credentials get BrokerageForm. See brokerages/roles.py.
"""

from __future__ import annotations

import datetime

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, Q, Subquery
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.debug import sensitive_post_parameters

from backend_move.admin import move_to_ews, move_to_graph
from brokerages import audit, mailbox_import, mailbox_summary, verification
from brokerages.forms import BrokerageForm, BrokerageOperatorForm
from brokerages.mailbox_admin import MailboxAdmin  # noqa: F401  (registers it; split off to keep this module small)
from brokerages.models import Brokerage, CredentialAuditEntry, Mailbox, SecretExpiryWarning, VerificationRun
from brokerages.verification_admin import HISTORY_SHOWN
from engage_sync.admin_records import RecordAdmin
from ops import health, panels
from scheduling import prompt

EXPIRY_WARNING_DAYS = 30
CREDENTIAL_PERMISSION = "brokerages.change_brokerage_credentials"
# Inputs only BrokerageForm has: if one arrives from someone without the permission, it is refused and logged.
CREDENTIAL_INPUTS = {
    "new_client_secret": "client_secret",
    "clear_client_secret": "client_secret",
    "new_pending_client_secret": "pending_client_secret",
    "clear_pending_client_secret": "pending_client_secret",
    "new_certificate": "certificate",
    "clear_certificate": "certificate",
    **{name: name for name in audit.CREDENTIAL_FIELDS if name not in audit.SECRET_FIELDS},
}

_BADGE_COLOURS = {
    Brokerage.Status.NEW: "#6c757d",
    Brokerage.Status.VERIFYING: "#0d6efd",
    Brokerage.Status.VERIFIED: "#0f766e",
    Brokerage.Status.CANNOT_BE_VERIFIED: "#b91c1c",
    Brokerage.Status.ACTIVE: "#15803d",
    Brokerage.Status.PAUSED: "#b45309",
    Brokerage.Status.DISABLED: "#374151",
}


def can_change_credentials(request) -> bool:
    return request.user.has_perm(CREDENTIAL_PERMISSION)


def describe_secret(is_set: bool, expires_on: datetime.date | None) -> str:
    """“set, expires in N days” / “not set”: all the admin ever says about a stored secret."""
    if not is_set:
        return "not set"
    if expires_on is None:
        return "set, expiry unknown"
    days = (expires_on - timezone.localdate()).days
    if days < 0:
        return f"set, EXPIRED {-days} day(s) ago"
    return f"set, expires in {days} day(s)"


class SecretExpiryFilter(admin.SimpleListFilter):
    title = "client secret expiry"
    parameter_name = "secret_expiry"

    def lookups(self, request, model_admin):
        return (
            ("expired", "Expired"),
            ("soon", f"Within {EXPIRY_WARNING_DAYS} days"),
            ("later", "Later"),
            ("unset", "No expiry date"),
        )

    def queryset(self, request, queryset):
        today = timezone.localdate()
        soon = today + datetime.timedelta(days=EXPIRY_WARNING_DAYS)
        match self.value():
            case "expired":
                return queryset.filter(client_secret_expires_on__lt=today)
            case "soon":
                return queryset.filter(client_secret_expires_on__gte=today, client_secret_expires_on__lt=soon)
            case "later":
                return queryset.filter(client_secret_expires_on__gte=soon)
            case "unset":
                return queryset.filter(client_secret_expires_on__isnull=True)
        return queryset


SYNC_FIELDSET = ("Sync", {"fields": ("sync_interval_seconds", "max_mailboxes_in_flight", "cooldown_until")})
HEALTH_FIELDSET = ("Sync health (last 24 hours)", {"fields": ("sync_health",)})
# Counts and links, never an inline: a brokerage with thousands of mailboxes must still save (an inline of 150
# rows already exceeds DATA_UPLOAD_MAX_NUMBER_FIELDS).
MAILBOXES_FIELDSET = ("Mailboxes", {"fields": ("test_mailbox", "email_domains")})
AGENTS_FIELDSET = ("Agents' mailboxes", {"fields": ("agents_mailboxes",)})
ADD_FIELDSETS = (
    (None, {"fields": ("name",)}),
    ("App registration (from the brokerage's Entra ID)", {"fields": ("tenant_id", "client_id", "credential_kind")}),
    ("Client secret", {"fields": ("new_client_secret", "client_secret_expires_on")}),
    ("Certificate (instead of a client secret)", {"classes": ("collapse",), "fields": ("new_certificate",)}),
    ("Mailboxes", {"fields": ("test_mailbox", "email_domains")}),
    ("Connection (Microsoft 365 unless told otherwise)", {
        "classes": ("collapse",), "fields": ("mailbox_backend", "ews_url", "authority_host", "ca_bundle_path"),
    }),
)  # fmt: skip
KILL_SWITCH_NOTE = (
    "Its sync tasks already queued do nothing when they arrive, running syncs stop at their next lease check, "
    "and the dispatcher sends no new ones until it is resumed."
)


@admin.register(Brokerage)
class BrokerageAdmin(admin.ModelAdmin):
    # The columns that matter first, sized for a 1,400 px laptop (name, status, sync health); the backend,
    # tenant and status history are on the brokerage's page.
    list_display = ("name", "status_badge", "sync_health_summary", "mailbox_count", "secret_expiry")
    list_filter = ("status", "mailbox_backend", SecretExpiryFilter)
    search_fields = ("name", "tenant_id")  # and an email domain or an agent's address: get_search_results
    ordering = ("name",)
    list_select_related = False  # no foreign keys; the mailbox count is one annotated query
    actions = (
        "verify_credentials", "verify_credentials_with_test_message", "verify_and_promote_next_secret",
        "pause_brokerages", "resume_brokerages", move_to_graph, move_to_ews,
    )  # fmt: skip
    change_form_template = "admin/brokerages/brokerage/change_form.html"

    # --- who sees which form -------------------------------------------------------------------------

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = BrokerageForm if can_change_credentials(request) else BrokerageOperatorForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return ADD_FIELDSETS  # only what a new brokerage needs: no empty health, cool-down or history
        if can_change_credentials(request):
            return (
                (None, {"fields": ("name", "status")}),
                AGENTS_FIELDSET,
                HEALTH_FIELDSET,
                ("App registration (from the brokerage's Entra ID)", {"fields": ("tenant_id", "client_id", "credential_kind")}),
                ("Client secret", {"fields": ("client_secret_state", "new_client_secret", "client_secret_expires_on", "clear_client_secret")}),
                ("Next client secret (zero-gap rotation)", {
                    "classes": ("collapse",),
                    "fields": ("pending_secret_state", "new_pending_client_secret", "pending_client_secret_expires_on", "clear_pending_client_secret"),
                }),
                ("Certificate", {
                    "classes": ("collapse",),
                    "fields": ("certificate_state", "certificate_thumbprint", "new_certificate", "clear_certificate"),
                }),
                MAILBOXES_FIELDSET,
                ("Connection", {"fields": ("mailbox_backend", "ews_url", "graph_url", "authority_host", "ca_bundle_path")}),
                SYNC_FIELDSET,
                ("History", {"fields": ("status_changed_at", "verified_at", "created_at", "updated_at")}),
            )  # fmt: skip
        return (
            (None, {"fields": ("name", "status")}),
            AGENTS_FIELDSET,
            HEALTH_FIELDSET,
            ("Credentials (read-only; credential managers change them)", {
                "fields": ("tenant_id", "client_id", "credential_kind", "client_secret_state", "pending_secret_state", "certificate_state"),
            }),
            MAILBOXES_FIELDSET,
            ("Connection", {"fields": ("mailbox_backend", "ews_url", "graph_url", "authority_host", "ca_bundle_path")}),
            SYNC_FIELDSET,
            ("History", {"fields": ("status_changed_at", "verified_at", "created_at", "updated_at")}),
        )  # fmt: skip

    def get_readonly_fields(self, request, obj=None):
        fields = ["client_secret_state", "pending_secret_state", "certificate_state", "certificate_thumbprint",
                  "status_changed_at", "verified_at", "created_at", "updated_at", "cooldown_until", "sync_health",
                  "agents_mailboxes"]  # fmt: skip
        if not can_change_credentials(request):
            fields += [
                "tenant_id", "client_id", "credential_kind", "ews_url", "graph_url", "authority_host", "ca_bundle_path",
            ]
        return fields

    @method_decorator(sensitive_post_parameters(*CREDENTIAL_INPUTS))
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST" and not can_change_credentials(request):
            self._refuse_credential_inputs(request, object_id)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def _refuse_credential_inputs(self, request, object_id) -> None:
        """A credential input from someone without the permission: log who tried which fields, then 403."""
        tried = sorted({field for name, field in CREDENTIAL_INPUTS.items() if request.POST.get(name)})
        if not tried:
            return
        brokerage = self.get_object(request, unquote(object_id)) if object_id else None
        CredentialAuditEntry.objects.create(
            brokerage=brokerage,
            brokerage_name=brokerage.name if brokerage else "(new brokerage)",
            actor=request.user,
            action=CredentialAuditEntry.Action.DENIED,
            changes=dict.fromkeys(tried, "refused"),
        )
        raise PermissionDenied("Changing credentials needs the Credential managers role.")

    def save_model(self, request, obj, form, change):
        with audit.credential_actor(request.user):
            super().save_model(request, obj, form, change)

    # --- list ----------------------------------------------------------------------------------------

    @admin.action(description="Verify credentials", permissions=["change"])
    def verify_credentials(self, request, queryset):
        self._verify(request, queryset)

    @admin.action(description="Verify credentials, including a test message to the test mailbox", permissions=["change"])
    def verify_credentials_with_test_message(self, request, queryset):
        self._verify(request, queryset, send_test_message=True)

    @admin.action(description="Verify and promote the next secret", permissions=["change_credentials"])
    def verify_and_promote_next_secret(self, request, queryset):
        without = [b.name for b in queryset if not _is_stored(b, "pending_client_secret")]
        if without:
            self.message_user(request, f"No next client secret entered for: {', '.join(without)}.", messages.WARNING)
        self._verify(request, queryset.exclude(pending_client_secret=None), pending_secret=True)

    def has_change_credentials_permission(self, request, obj=None) -> bool:
        return can_change_credentials(request)

    def _verify(self, request, queryset, **options) -> None:
        runs = [
            verification.request_verification(
                brokerage, reason=VerificationRun.Reason.MANUAL, requested_by=request.user, **options
            )
            for brokerage in queryset
        ]
        if runs:
            self.message_user(
                request, f"Verification queued for {len(runs)} brokerage(s); the result shows on each brokerage's page."
            )

    @admin.action(description="Pause brokerage (kill switch): stop all its syncs, queued ones included", permissions=["change"])
    def pause_brokerages(self, request, queryset):
        if self._move(request, queryset, Brokerage.Status.ACTIVE, Brokerage.Status.PAUSED):
            self.message_user(request, KILL_SWITCH_NOTE, messages.WARNING)

    @admin.action(description="Resume brokerage: sync the selected paused brokerages again", permissions=["change"])
    def resume_brokerages(self, request, queryset):
        paused = list(queryset.filter(status=Brokerage.Status.PAUSED).values_list("pk", flat=True))
        if self._move(request, queryset, Brokerage.Status.PAUSED, Brokerage.Status.ACTIVE):
            prompt.make_due_now(paused)  # not a whole interval later: the next tick
            self.message_user(request, "Their mailboxes are due now and dispatched at the dispatcher's next tick (within seconds), up to each brokerage's cap at once.")

    def _move(self, request, queryset, from_status: str, to_status: str) -> int:
        # One save per row (not queryset.update) so status_changed_at is stamped; a handful of rows at most.
        moved = 0
        for brokerage in queryset.filter(status=from_status):
            brokerage.status = to_status
            brokerage.save(update_fields=["status", "updated_at"])
            moved += 1
        skipped = queryset.count() - moved
        note = f"; {skipped} skipped (not {Brokerage.Status(from_status).label.lower()})" if skipped else ""
        self.message_user(request, f"{moved} brokerage(s) now {Brokerage.Status(to_status).label.lower()}{note}.")
        return moved

    def get_queryset(self, request):
        # The warning as a subquery: a second join next to the mailbox count would multiply that count.
        warned = SecretExpiryWarning.objects.filter(
            brokerage=OuterRef("pk"), credential="client_secret", expires_on=OuterRef("client_secret_expires_on")
        ).order_by("threshold_days").values("threshold_days")[:1]
        annotated = super().get_queryset(request).annotate(mailbox_total=Count("mailboxes"), expiry_warned=Subquery(warned))
        return health.annotate_list_health(annotated)

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        health.attach_recent_run_counts(list(changelist.result_list))  # the page's rows only: one query
        return changelist

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip().lower().lstrip("@")
        if term:
            # An agent's address as a subquery, not a join: a join multiplies each brokerage by its mailboxes and
            # makes Django de-duplicate (DISTINCT over every column; ~0.4 s at 100,000 mailboxes).
            agents = Mailbox.objects.filter(email__icontains=search_term.strip()).values("brokerage_id")
            results |= queryset.filter(Q(email_domains__contains=[term]) | Q(pk__in=agents))
        return results, may_have_duplicates

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Brokerage):
        return format_html(
            '<span style="background:{};color:#fff;border-radius:8px;padding:1px 8px;white-space:nowrap">{}</span>',
            _BADGE_COLOURS.get(obj.status, "#6c757d"),
            obj.get_status_display(),
        )

    @admin.display(description="client secret expires", ordering="client_secret_expires_on")
    def secret_expiry(self, obj: Brokerage):
        expires = obj.client_secret_expires_on
        if expires is None:
            return "—"
        days = (expires - timezone.localdate()).days
        if days < EXPIRY_WARNING_DAYS:
            text = f"EXPIRED {-days} day(s) ago" if days < 0 else f"in {days} day(s)"
            warned = getattr(obj, "expiry_warned", None)
            mailed = f"; {warned}-day warning mailed" if warned else ""
            return format_html('<strong style="color:#b91c1c">⚠ {} ({}{})</strong>', expires, text, mailed)
        return format_html("{} (in {} days)", expires, days)

    @admin.display(description="mailboxes", ordering="mailbox_total")
    def mailbox_count(self, obj: Brokerage) -> int:
        return obj.mailbox_total

    @admin.display(description="sync health", ordering="health_behind")
    def sync_health_summary(self, obj: Brokerage):
        return panels.health_cell(obj)

    @admin.display(description="agents' mailboxes")
    def agents_mailboxes(self, obj: Brokerage):
        return mailbox_summary.summary_panel(obj) if obj.pk else "—"

    @admin.display(description="sync health")
    def sync_health(self, obj: Brokerage):
        return panels.health_panel(obj) if obj.pk else "—"

    # --- what the change page says about stored secrets (never the secret) -----------------------------

    @admin.display(description="client secret")
    def client_secret_state(self, obj: Brokerage) -> str:
        return describe_secret(_is_stored(obj, "client_secret"), obj.client_secret_expires_on)

    @admin.display(description="next client secret")
    def pending_secret_state(self, obj: Brokerage) -> str:
        return describe_secret(_is_stored(obj, "pending_client_secret"), obj.pending_client_secret_expires_on)

    @admin.display(description="certificate")
    def certificate_state(self, obj: Brokerage) -> str:
        return describe_secret(_is_stored(obj, "certificate"), obj.certificate_expires_on)

    # --- CSV import of mailboxes ---------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view(self.import_mailboxes_view)
        verify = self.admin_site.admin_view(self.verify_view)
        return [path("<path:object_id>/import-mailboxes/", view, name="brokerages_brokerage_import_mailboxes"),
                path("<path:object_id>/verify/", verify, name="brokerages_brokerage_verify"),
                *super().get_urls()]  # fmt: skip

    def verify_view(self, request, object_id):
        """The buttons on the brokerage page: queue a verification (of the next secret: and promote it)."""
        brokerage = get_object_or_404(Brokerage, pk=object_id)
        pending = request.POST.get("pending_secret") == "1"
        allowed = self.has_change_permission(request, brokerage) and (not pending or can_change_credentials(request))
        if request.method != "POST" or not allowed:
            raise PermissionDenied
        if pending and not _is_stored(brokerage, "pending_client_secret"):
            self.message_user(request, "No next client secret is entered.", messages.WARNING)
        else:
            verification.request_verification(
                brokerage, reason=VerificationRun.Reason.MANUAL, requested_by=request.user, pending_secret=pending,
                send_test_message=request.POST.get("send_test_message") == "1",
            )  # fmt: skip
            self.message_user(request, "Verification queued; its steps appear below as they finish.")
        return redirect(reverse("admin:brokerages_brokerage_change", args=[brokerage.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        brokerage = self.get_object(request, unquote(object_id))
        if brokerage is not None:
            # History as a plain table, not an inline: an inline formset would demand management-form data
            # in every POST of this page (the API-style posts of the tests, scripts) for read-only rows.
            history = list(brokerage.verification_runs.select_related("requested_by")[:HISTORY_SHOWN])
            # A retry waiting for its due time is not what staff need to read: the failure it retries is.
            retry = next((run for run in history if run.status == VerificationRun.Status.QUEUED and run.attempt > 1), None)
            latest = next((run for run in history if run is not retry), None)
            extra_context = {
                **(extra_context or {}),
                "verification": latest,
                "verification_retry": retry,
                "verification_history": history,
                "verification_steps": list(latest.steps.all()) if latest else [],
                "can_promote": can_change_credentials(request) and _is_stored(brokerage, "pending_client_secret"),
                "can_verify": self.has_change_permission(request, brokerage),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def import_mailboxes_view(self, request, object_id):
        brokerage = get_object_or_404(Brokerage, pk=object_id)
        if not (self.has_view_permission(request, brokerage) and request.user.has_perm("brokerages.add_mailbox")):
            raise PermissionDenied
        report = None
        form = MailboxImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                report = mailbox_import.import_mailboxes(brokerage, form.cleaned_data["file"].read())
            except mailbox_import.ImportRejected as exc:
                form.add_error("file", str(exc))
            else:
                level = messages.WARNING if report.errors else messages.SUCCESS
                self.message_user(
                    request,
                    f"{len(report.imported)} mailbox(es) created, {len(report.updated)} updated, "
                    f"{len(report.unchanged)} unchanged, {len(report.errors)} row(s) refused.",
                    level,
                )
                if not report.errors:
                    return redirect(reverse("admin:brokerages_brokerage_change", args=[brokerage.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": brokerage,
            "title": f"Import mailboxes into {brokerage.name}",
            "form": form,
            "report": report,
            "columns": mailbox_import.COLUMNS,
            "max_rows": mailbox_import.MAX_ROWS,
        }
        return TemplateResponse(request, "admin/brokerages/brokerage/import_mailboxes.html", context)


def _is_stored(obj: Brokerage, field: str) -> bool:
    return obj._meta.get_field(field).stored_value(obj) is not None


class MailboxImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text=f"UTF-8 CSV, at most {mailbox_import.MAX_BYTES // 1_000_000} MB and {mailbox_import.MAX_ROWS} rows.",
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > mailbox_import.MAX_BYTES:
            raise forms.ValidationError(
                f"The file is larger than {mailbox_import.MAX_BYTES // 1_000_000} MB; split it into smaller files."
            )
        return upload


@admin.register(CredentialAuditEntry)
class CredentialAuditEntryAdmin(RecordAdmin):
    list_display = ("at", "brokerage_name", "actor_name", "action", "fields_changed")
    list_filter = ("action",)
    search_fields = ("brokerage_name", "actor__username")
    list_select_related = ("actor", "brokerage")
    date_hierarchy = "at"

    @admin.display(description="who")
    def actor_name(self, obj: CredentialAuditEntry) -> str:
        return obj.actor.get_username() if obj.actor else "system"

    @admin.display(description="fields")
    def fields_changed(self, obj: CredentialAuditEntry) -> str:
        return ", ".join(f"{name} ({verb})" for name, verb in sorted(obj.changes.items()))

