"""The mailbox admin: agents' mailboxes with their sync schedule, and the bulk actions sync now / pause / resume."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince, timeuntil

from brokerages.models import Brokerage, Mailbox
from ops import health
from scheduling import prompt


class SyncScheduleFilter(admin.SimpleListFilter):
    title = "sync schedule"
    parameter_name = "sync_schedule"

    def lookups(self, request, model_admin):
        return (("behind", "Behind schedule"), ("failing", "Failing (consecutive failures)"), ("syncing", "Syncing now"),
                ("paused", "Paused"))  # fmt: skip

    def queryset(self, request, queryset):
        now = timezone.now()
        match self.value():
            case "behind":
                return queryset.filter(health.behind_schedule(now))
            case "failing":
                return queryset.filter(consecutive_failures__gt=0)
            case "syncing":
                return queryset.filter(lease_expires_at__gt=now)
            case "paused":
                return queryset.filter(sync_paused=True)
        return queryset


@admin.register(Mailbox)
class MailboxAdmin(admin.ModelAdmin):
    list_display = ("email", "display_name", "brokerage", "is_active", "contacts_enabled", "calendar_enabled", "email_enabled",
                    "next_sync", "last_synced_at", "consecutive_failures", "paused")  # fmt: skip
    list_filter = ("is_active", "contacts_enabled", "calendar_enabled", "email_enabled", "brokerage__status",
                   SyncScheduleFilter, "brokerage")  # fmt: skip
    search_fields = ("email", "display_name", "brokerage__name")
    list_select_related = ("brokerage",)
    autocomplete_fields = ("brokerage",)
    fields = ("brokerage", "email", "display_name", "is_active", "contacts_enabled", "calendar_enabled", "email_enabled",
              "sync_paused", "sync_paused_reason", "next_sync_at", "last_synced_at", "consecutive_failures", "sync_runs_link")  # fmt: skip
    readonly_fields = ("next_sync_at", "last_synced_at", "consecutive_failures", "sync_runs_link")
    actions = ("sync_now", "pause_sync", "resume_sync")

    @admin.display(description="next sync", ordering="next_sync_at")
    def next_sync(self, obj: Mailbox):
        now = timezone.now()
        if obj.lease_expires_at and obj.lease_expires_at > now:
            # A backend move holds its mailboxes until the brokerage switches (backend_move/moving.py)
            return "held by a backend move" if obj.lease_owner.startswith("backend-move:") else "syncing now"
        if obj.next_sync_at <= now:
            return f"due {timesince(obj.next_sync_at, now)} ago"
        return f"in {timeuntil(obj.next_sync_at, now)}"

    @admin.display(description="sync paused", ordering="sync_paused")
    def paused(self, obj: Mailbox):
        if not obj.sync_paused:
            return "—"
        return format_html('<strong style="color:#b45309" title="{}">paused</strong> {}', obj.sync_paused_reason, obj.sync_paused_reason[:80])

    @admin.display(description="sync runs")
    def sync_runs_link(self, obj: Mailbox):
        if obj.pk is None:
            return "—"
        url = f"{reverse('admin:scheduling_syncrun_changelist')}?q={obj.email}"
        return format_html('<a href="{}">This mailbox\'s sync runs</a>', url)

    @admin.action(description="Sync now (ahead of the queue)", permissions=["change"])
    def sync_now(self, request, queryset):
        eligible = queryset.filter(is_active=True, sync_paused=False, brokerage__status=Brokerage.Status.ACTIVE)
        ids = list(eligible.values_list("pk", flat=True))
        for mailbox_id in ids:  # each leases and publishes once this request's transaction commits
            prompt.request_sync(mailbox_id)
        skipped = queryset.count() - len(ids)
        note = f"; {skipped} skipped (inactive, paused, or their brokerage is not active)" if skipped else ""
        self.message_user(request, f"{len(ids)} mailbox(es) queued to sync now{note}. A mailbox already syncing syncs "
                                   "again right after; a brokerage cooling down syncs its mailboxes when the cool-down ends.")  # fmt: skip

    @admin.action(description="Pause sync of the selected mailboxes", permissions=["change"])
    def pause_sync(self, request, queryset):
        reason = f"Paused by {request.user.get_username()} on {timezone.now():%Y-%m-%d %H:%M} UTC"
        paused = queryset.filter(sync_paused=False).update(sync_paused=True, sync_paused_reason=reason)
        self.message_user(request, f"{paused} mailbox(es) paused; a sync already running finishes, no new one starts.")

    @admin.action(description="Resume sync of the selected mailboxes", permissions=["change"])
    def resume_sync(self, request, queryset):
        # Due at once: a mailbox paused for days (or by the deletion guard) should not wait another interval.
        resumed = queryset.filter(sync_paused=True).update(sync_paused=False, sync_paused_reason="", next_sync_at=timezone.now())
        self.message_user(request, f"{resumed} mailbox(es) resumed; they sync at the dispatcher's next tick.")
