"""The sync-run admin: every sync of every mailbox, read-only, for staff who must find and act on failures.

The table grows by a row per sync (millions a week), so nothing here scans it whole: no exact page count
(engage_sync.admin_paging), no date_hierarchy (it lists the dates present with a DISTINCT over the table),
filters whose choices come from code (outcomes, the error taxonomy) rather than from the rows, and a search
that uses the indexes (an exact address, a task id) instead of a LIKE over a join.
"""

from __future__ import annotations

import uuid
from datetime import UTC, timedelta

from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from brokerages.admin_filters import BrokerageFilter
from engage_sync.admin_paging import CappedCountPaginator
from engage_sync.admin_records import RecordAdmin
from ops import error_titles

from .models import SyncRun

OUTCOME_COLOURS = {
    SyncRun.Outcome.OK: "#15803d",
    SyncRun.Outcome.FAILED: "#b91c1c",
    SyncRun.Outcome.THROTTLED: "#d97706",
    SyncRun.Outcome.PAUSED: "#7c3aed",
    SyncRun.Outcome.SKIPPED: "#6b7280",
}


def error_classes() -> list[str]:
    """Every error class staff may meet (the taxonomy's, by title): the filter's choices, from code not rows."""
    return error_titles.all_codes()


# By error class, each shown by its human title (the raw code is the URL parameter).
ErrorClassFilter = error_titles.list_filter("error_class")


class StartedFilter(admin.SimpleListFilter):
    title = "started"
    parameter_name = "started"
    WINDOWS = {"1h": ("Last hour", timedelta(hours=1)), "24h": ("Last 24 hours", timedelta(hours=24)),
               "7d": ("Last 7 days", timedelta(days=7))}  # fmt: skip

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _) in self.WINDOWS.items()]

    def queryset(self, request, queryset):
        if self.value() in self.WINDOWS:
            return queryset.filter(started_at__gte=timezone.now() - self.WINDOWS[self.value()][1])
        return queryset


@admin.register(SyncRun)
class SyncRunAdmin(RecordAdmin):  # retention prunes them: tasks.maintenance
    # The columns that matter first, sized for a 1,400 px laptop; duration, task id and worker are on the run's page.
    list_display = ("started", "mailbox_link", "brokerage", "outcome_badge", "counts", "error_title")
    list_filter = (StartedFilter, "outcome", ErrorClassFilter, BrokerageFilter)
    search_fields = ("mailbox__email", "task_id")  # the lookups themselves: see get_search_results
    search_help_text = "An agent's exact email address, the start of one, or a Celery task id."
    list_select_related = ("mailbox", "brokerage")
    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 100
    ordering = ("-started_at",)
    fields = ("mailbox", "brokerage", "started_at", "duration_ms", "outcome", "pulled", "pushed", "conflicts",
              "requests", "error_title", "remedy_text", "error_message", "error_class", "task_id", "worker")  # fmt: skip

    def has_view_permission(self, request, obj=None) -> bool:
        # A brokerage's runs are part of its health: whoever may see brokerages (Operators) may see their runs.
        return request.user.has_perm("scheduling.view_syncrun") or request.user.has_perm("brokerages.view_brokerage")

    def has_module_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip().lower()
        if not term:
            return queryset, False
        try:
            return queryset.filter(task_id=str(uuid.UUID(term))), False
        except ValueError:
            pass
        if "@" in term:  # the mailbox email is unique and stored lower-case: an index lookup
            return queryset.filter(mailbox__email=term), False
        return queryset.filter(mailbox__email__startswith=term), False

    @admin.display(description="mailbox", ordering="mailbox__email")
    def mailbox_link(self, obj: SyncRun):
        url = reverse("admin:brokerages_mailbox_change", args=[obj.mailbox_id])
        return format_html('<a href="{}">{}</a>', url, obj.mailbox.email)

    @admin.display(description="duration", ordering="duration_ms")
    def duration(self, obj: SyncRun) -> str:
        return f"{obj.duration_ms / 1000:.1f} s" if obj.duration_ms >= 1000 else f"{obj.duration_ms} ms"

    @admin.display(description="outcome", ordering="outcome")
    def outcome_badge(self, obj: SyncRun):
        return format_html(
            '<span class="outcome-{}" style="background:{};color:#fff;border-radius:8px;padding:1px 8px;white-space:nowrap">{}</span>',
            obj.outcome, OUTCOME_COLOURS.get(obj.outcome, "#6b7280"), obj.get_outcome_display(),
        )  # fmt: skip

    @admin.display(description="started (UTC)", ordering="started_at")
    def started(self, obj: SyncRun) -> str:
        return f"{obj.started_at.astimezone(UTC):%Y-%m-%d %H:%M:%S}"

    @admin.display(description="↓ in ↑ out ⚡")
    def counts(self, obj: SyncRun) -> str:
        return f"↓{obj.pulled} ↑{obj.pushed} ⚡{obj.conflicts}"

    @admin.display(description="error", ordering="error_class")
    def error_title(self, obj: SyncRun):
        return error_titles.title_with_code(obj.error_class)

    @admin.display(description="what to do")
    def remedy_text(self, obj: SyncRun) -> str:
        # The remedy recorded with the run, or the taxonomy's for runs recorded before it had one.
        return obj.remedy or error_titles.describe(obj.error_class).remedy or "—"
