"""The admin of verification: every run with its steps, expiry warnings (the brokerage page shows recent runs).

All read-only: runs are written by brokerages/verification.py; staff start them from the brokerage admin.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html

from brokerages.models import SecretExpiryWarning, VerificationRun, VerificationStep
from ops import error_titles

HISTORY_SHOWN = 20  # runs listed on the brokerage page; all of them under Verification runs

_RUN_COLOURS = {
    VerificationRun.Status.QUEUED: "#6c757d",
    VerificationRun.Status.RUNNING: "#0d6efd",
    VerificationRun.Status.VERIFIED: "#0f766e",
    VerificationRun.Status.FAILED: "#b91c1c",
}


def run_badge(run: VerificationRun):
    return format_html(
        '<span style="background:{};color:#fff;border-radius:8px;padding:1px 8px;white-space:nowrap">{}</span>',
        _RUN_COLOURS.get(run.status, "#6c757d"),
        run.get_status_display(),
    )


class VerificationStepInline(admin.TabularInline):
    model = VerificationStep
    fields = ("position", "backend", "label", "outcome", "duration_ms", "error_kind", "error_title", "error_remedy", "detail")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(VerificationRun)
class VerificationRunAdmin(admin.ModelAdmin):
    """Every verification run, read-only: what was checked, when, and which step failed with which remedy."""

    list_display = ("created_at", "brokerage", "reason", "pending_secret", "status_badge", "failed_step", "error_title")
    list_filter = ("status", "reason", "pending_secret", error_titles.list_filter("error_kind"))
    search_fields = ("brokerage__name",)
    list_select_related = ("brokerage",)
    date_hierarchy = "created_at"
    inlines = (VerificationStepInline,)
    readonly_fields = (
        "brokerage", "reason", "requested_by", "pending_secret", "send_test_message", "test_mailbox", "status",
        "created_at", "due_at", "published_at", "started_at", "finished_at", "promoted", "failed_step", "error_kind",
        "error_title", "error_remedy", "backend", "backends",
    )  # fmt: skip

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="outcome", ordering="status")
    def status_badge(self, run: VerificationRun):
        return run_badge(run)


@admin.register(SecretExpiryWarning)
class SecretExpiryWarningAdmin(admin.ModelAdmin):
    list_display = ("sent_at", "brokerage", "credential", "expires_on", "threshold_days")
    list_filter = ("threshold_days", "credential")
    list_select_related = ("brokerage",)
    readonly_fields = ("brokerage", "credential", "expires_on", "threshold_days", "sent_at", "recipients")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
