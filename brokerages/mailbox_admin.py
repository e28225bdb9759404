"""The mailbox admin: agents' mailboxes at fleet size, with their schedule, their last error and bulk actions.

Every bulk action is one UPDATE over the selection, whether staff tick three rows or "select all 5,000"
(Django then passes the filtered queryset): no per-row save, no task published per row. *Sync now* marks
the mailboxes due at the CRM-change priority, and the dispatcher leases and publishes them at its next tick
(a small selection is also leased and published at once, as before).
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince, timeuntil

from brokerages import mailbox_export, mailbox_summary
from brokerages.admin_filters import BrokerageFilter
from brokerages.models import Brokerage, Mailbox
from ops import error_titles, health
from scheduling import prompt
from scheduling.models import SyncRun

PROMPT_AT_ONCE = 50  # up to this many selected mailboxes are leased and published at once; more wait for the tick
_STATE_COLOURS = {"active": "#15803d", "failing": "#b91c1c", "paused": "#b45309", "inactive": "#6b7280"}


def _last_error_class() -> Subquery:
    """The error class of the mailbox's latest run (an index scan of syncrun_mailbox_recent per row)."""
    latest = SyncRun.objects.filter(mailbox=OuterRef("pk")).order_by("-started_at").values("error_class")[:1]
    return Subquery(latest)


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _) in mailbox_summary.STATES.items()]

    def queryset(self, request, queryset):
        state = mailbox_summary.STATES.get(self.value() or "")
        return queryset.filter(state[1]) if state else queryset


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


class LastErrorFilter(admin.SimpleListFilter):
    """Failing mailboxes by the error class of their latest run, each shown by its human title."""

    title = "failing with"
    parameter_name = "error_class"

    def lookups(self, request, model_admin):
        return [(code, error_titles.describe(code).title) for code in error_titles.all_codes()]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        return queryset.filter(consecutive_failures__gt=0).alias(latest_error=_last_error_class()).filter(latest_error=self.value())


@admin.register(Mailbox)
class MailboxAdmin(admin.ModelAdmin):
    # The columns that matter first, sized for a 1,400 px laptop; display name and feature switches are on the page.
    list_display = ("email", "brokerage", "state", "next_sync", "last_synced", "failures", "paused")
    list_filter = (StateFilter, BrokerageFilter, "contacts_enabled", "calendar_enabled", "email_enabled", LastErrorFilter,
                   SyncScheduleFilter, "brokerage__status")  # fmt: skip
    search_fields = ("email", "display_name", "brokerage__name")
    list_select_related = ("brokerage",)
    list_per_page = 100
    autocomplete_fields = ("brokerage",)
    fieldsets = (
        (None, {"fields": ("brokerage", "email", "display_name", "is_active")}),
        ("What is synced", {"fields": ("contacts_enabled", "calendar_enabled", "email_enabled")}),
        ("Sync", {"fields": ("sync_paused", "pause_explained", "next_sync_at", "last_synced_at", "consecutive_failures",
                             "last_error", "sync_runs_link")}),
    )
    readonly_fields = ("next_sync_at", "last_synced_at", "consecutive_failures", "sync_runs_link", "pause_explained", "last_error")
    actions = (
        "sync_now", "pause_sync", "resume_sync", "activate", "deactivate",
        "contacts_on", "contacts_off", "calendar_on", "calendar_off", "email_on", "email_off",
    )  # fmt: skip

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(last_error_class=_last_error_class())

    def get_search_results(self, request, queryset, search_term):
        # A whole address (what staff paste from a ticket) by the unique index; the LIKE search over the address,
        # name and brokerage reads every mailbox (~0.25 s at 100,000), so it runs only when that finds nothing.
        term = search_term.strip().lower()
        if "@" in term and " " not in term:
            exact = queryset.filter(email=term)
            if exact.exists():
                return exact, False
        return super().get_search_results(request, queryset, search_term)

    def get_urls(self):
        export = self.admin_site.admin_view(self.export_view)
        return [path("export/", export, name="brokerages_mailbox_export"), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        # The export link carries the list's filters and search, so staff export exactly what they see.
        query = request.GET.urlencode()
        export_url = reverse("admin:brokerages_mailbox_export") + (f"?{query}" if query else "")
        return super().changelist_view(request, {**(extra_context or {}), "export_url": export_url})

    def export_view(self, request):
        """The filtered list (all pages) as CSV, streamed."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist: ChangeList = self.get_changelist_instance(request)
        stamp = timezone.now().strftime("%Y%m%d-%H%M")
        return mailbox_export.csv_response(changelist.get_queryset(request), f"mailboxes-{stamp}.csv")

    # --- columns ---------------------------------------------------------------------------------------

    @admin.display(description="state")
    def state(self, obj: Mailbox):
        key = "inactive" if not obj.is_active else "paused" if obj.sync_paused else "failing" if obj.consecutive_failures else "active"
        return format_html('<span class="mailbox-state" style="color:{};white-space:nowrap">{}</span>',
                           _STATE_COLOURS[key], mailbox_summary.STATES[key][0])  # fmt: skip

    @admin.display(description="next sync", ordering="next_sync_at")
    def next_sync(self, obj: Mailbox):
        now = timezone.now()
        if obj.lease_expires_at and obj.lease_expires_at > now:
            # A backend move holds its mailboxes until the brokerage switches (backend_move/moving.py)
            return "held by a backend move" if obj.lease_owner.startswith("backend-move:") else "syncing now"
        if not obj.is_active or obj.sync_paused:
            return "—"
        seconds = (obj.next_sync_at - now).total_seconds()
        if -60 < seconds < 60:
            return "due now" if seconds <= 0 else "within a minute"
        if seconds < 0:
            return f"due {timesince(obj.next_sync_at, now, depth=1)} ago"
        return f"in {timeuntil(obj.next_sync_at, now, depth=1)}"

    @admin.display(description="last synced", ordering="last_synced_at")
    def last_synced(self, obj: Mailbox):
        if obj.last_synced_at is None:
            return "never"
        return format_html('<span title="{} UTC">{} ago</span>', f"{obj.last_synced_at:%Y-%m-%d %H:%M:%S}",
                           timesince(obj.last_synced_at, depth=1))  # fmt: skip

    @admin.display(description="failures", ordering="consecutive_failures")
    def failures(self, obj: Mailbox):
        if not obj.consecutive_failures:
            return "0"
        code = getattr(obj, "last_error_class", "") or ""
        described = error_titles.describe(code)
        return format_html('<span class="failures" style="display:inline-block;min-width:14em" title="{}"><strong>{}</strong> · {}</span>', described.remedy,
                           obj.consecutive_failures, described.title or "failed")  # fmt: skip

    @admin.display(description="paused", ordering="sync_paused")
    def paused(self, obj: Mailbox):
        if not obj.sync_paused:
            return "—"
        reason = obj.sync_paused_reason or "paused"
        short = reason if len(reason) <= 60 else reason[:59] + "…"
        return format_html('<span style="color:#b45309" title="{}">{}</span>', reason, short)

    # --- the change page --------------------------------------------------------------------------------

    @admin.display(description="why paused, and what to do")
    def pause_explained(self, obj: Mailbox):
        if obj.pk is None or not obj.sync_paused:
            return "Not paused."
        return format_html(
            '<div class="pause-explained" style="max-width:60em;white-space:normal"><p><strong>{}</strong></p>'
            "<p>{}</p></div>",
            obj.sync_paused_reason or "Paused (no reason recorded).", _pause_remedy(obj.sync_paused_reason),
        )  # fmt: skip

    @admin.display(description="last error")
    def last_error(self, obj: Mailbox):
        code = getattr(obj, "last_error_class", "") or ""
        if obj.pk is None or not code:
            return "—"
        described = error_titles.describe(code)
        return format_html(
            '<div class="last-error" style="max-width:60em;white-space:normal"><p><strong>{}</strong> '
            '<code style="color:#6b7280">{}</code></p><p>{}</p></div>',
            described.title, code, described.remedy or "—",
        )  # fmt: skip

    @admin.display(description="sync runs")
    def sync_runs_link(self, obj: Mailbox):
        if obj.pk is None:
            return "—"
        url = f"{reverse('admin:scheduling_syncrun_changelist')}?q={obj.email}"
        return format_html('<a href="{}">This mailbox\'s sync runs</a>', url)

    def get_readonly_fields(self, request, obj=None):
        # The reason is written by whoever pauses (an action, the deletion guard): shown in full, not as an input.
        return (*self.readonly_fields, "sync_paused_reason") if obj is not None else self.readonly_fields

    # --- bulk actions: one UPDATE each ---------------------------------------------------------------------

    def _selection(self, queryset: QuerySet) -> QuerySet:
        # By primary key, so the UPDATE is one statement whatever the changelist's annotations and joins.
        return Mailbox.objects.filter(pk__in=queryset.order_by().values("pk"))

    @admin.action(description="Sync now (ahead of the queue)", permissions=["change"])
    def sync_now(self, request, queryset):
        now = timezone.now()
        eligible = self._selection(queryset).filter(is_active=True, sync_paused=False, brokerage__status=Brokerage.Status.ACTIVE)
        marked = eligible.update(dirty_at=now, sync_priority=prompt.PRIORITY_CRM_CHANGE, next_sync_at=now)
        if marked <= PROMPT_AT_ONCE:
            ids = list(eligible.filter(dirty_at=now).values_list("pk", flat=True))
            transaction.on_commit(lambda: _lease_and_publish(ids))
            when = "queued to sync now"
        else:
            when = "marked to sync at the dispatcher's next tick, ahead of every scheduled sync"
        skipped = queryset.count() - marked
        note = f"; {skipped} skipped (inactive, paused, or their brokerage is not active)" if skipped else ""
        self.message_user(request, f"{marked} mailbox(es) {when}{note}. A mailbox already syncing syncs again right "
                                   "after; a brokerage cooling down syncs its mailboxes when the cool-down ends.")  # fmt: skip

    @admin.action(description="Pause sync", permissions=["change"])
    def pause_sync(self, request, queryset):
        reason = f"Paused by {request.user.get_username()} on {timezone.now():%Y-%m-%d %H:%M} UTC"
        paused = self._selection(queryset).filter(sync_paused=False).update(
            sync_paused=True, sync_paused_reason=reason, updated_at=timezone.now()
        )
        self.message_user(request, f"{paused} mailbox(es) paused; a sync already running finishes, no new one starts.")

    @admin.action(description="Resume sync", permissions=["change"])
    def resume_sync(self, request, queryset):
        # Due at once: a mailbox paused for days (or by the deletion guard) should not wait another interval.
        now = timezone.now()
        resumed = self._selection(queryset).filter(sync_paused=True).update(
            sync_paused=False, sync_paused_reason="", next_sync_at=now, updated_at=now
        )
        self.message_user(request, f"{resumed} mailbox(es) resumed; they sync at the dispatcher's next tick.")

    @admin.action(description="Activate (sync these agents)", permissions=["change"])
    def activate(self, request, queryset):
        now = timezone.now()
        count = self._selection(queryset).filter(is_active=False).update(is_active=True, next_sync_at=now, updated_at=now)
        self.message_user(request, f"{count} mailbox(es) activated; they sync at the dispatcher's next tick.")

    @admin.action(description="Deactivate (agent left: stop syncing)", permissions=["change"])
    def deactivate(self, request, queryset):
        count = self._selection(queryset).filter(is_active=True).update(is_active=False, updated_at=timezone.now())
        self.message_user(request, f"{count} mailbox(es) deactivated; a sync already running finishes, no new one starts.")

    def _switch(self, request, queryset, field: str, on: bool, what: str) -> None:
        count = self._selection(queryset).filter(**{field: not on}).update(**{field: on, "updated_at": timezone.now()})
        self.message_user(request, f"{what} switched {'on' if on else 'off'} for {count} mailbox(es).")

    @admin.action(description="Switch contacts sync on", permissions=["change"])
    def contacts_on(self, request, queryset):
        self._switch(request, queryset, "contacts_enabled", True, "Contacts sync")

    @admin.action(description="Switch contacts sync off", permissions=["change"])
    def contacts_off(self, request, queryset):
        self._switch(request, queryset, "contacts_enabled", False, "Contacts sync")

    @admin.action(description="Switch calendar sync on", permissions=["change"])
    def calendar_on(self, request, queryset):
        self._switch(request, queryset, "calendar_enabled", True, "Calendar sync")

    @admin.action(description="Switch calendar sync off", permissions=["change"])
    def calendar_off(self, request, queryset):
        self._switch(request, queryset, "calendar_enabled", False, "Calendar sync")

    @admin.action(description="Switch sending email on", permissions=["change"])
    def email_on(self, request, queryset):
        self._switch(request, queryset, "email_enabled", True, "Sending email")

    @admin.action(description="Switch sending email off", permissions=["change"])
    def email_off(self, request, queryset):
        self._switch(request, queryset, "email_enabled", False, "Sending email")


def _lease_and_publish(mailbox_ids: list[int]) -> None:
    """Send each mailbox's sync now through the prompt path (one lease under the dispatcher's rules, never waiting
    for it); whatever it leaves is due and goes at the dispatcher's next tick."""
    for mailbox_id in mailbox_ids:
        prompt.send_prompt(mailbox_id)


def _pause_remedy(reason: str) -> str:
    """What staff do about a pause, by who paused it (the deletion guard's reason names the guard)."""
    if any(word in (reason or "").lower() for word in ("deletion", "lost", "linked items")):
        return (
            "The mass-deletion guard stopped this mailbox because most of its items vanished at once. Check with the "
            "agent whether they meant to delete them. If so, confirm the deletion in Sync → Folder states (it then "
            "resumes by itself); if not, restore the items in Outlook and choose Resume sync here."
        )
    return "Paused by staff. When the reason no longer holds, choose Resume sync in the mailbox list (or untick Sync paused)."
