"""Staff views of the sync: conflict decisions per mailbox, folder states (watermarks, first-sync matches,
confirming a paused mass deletion), links, CRM rows and per-brokerage sync settings."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from brokerages.models import Mailbox
from engage_sync.admin_paging import CappedCountPaginator
from scheduling.prompt import request_sync

from .models import BrokerageSyncSettings, Contact, Event, FolderState, SyncConflict, SyncLink


class MailboxFilter(admin.SimpleListFilter):
    """Filter by mailbox without loading every mailbox into a drop-down: only those with rows here."""

    title = "mailbox"
    parameter_name = "mailbox"

    def lookups(self, request, model_admin):
        ids = model_admin.get_queryset(request).values_list("mailbox_id", flat=True).distinct()[:200]
        return [(m.pk, m.email) for m in Mailbox.objects.filter(pk__in=list(ids))]

    def queryset(self, request, queryset):
        return queryset.filter(mailbox_id=self.value()) if self.value() else queryset


@admin.register(SyncConflict)
class SyncConflictAdmin(admin.ModelAdmin):
    list_display = ("decided_at", "mailbox", "collection", "decision", "contested_fields", "policy", "local_id")
    list_filter = (MailboxFilter, "collection", "decision", "policy")
    list_select_related = ("mailbox",)
    search_fields = ("mailbox__email", "remote_id")
    date_hierarchy = "decided_at"
    readonly_fields = [f.name for f in SyncConflict._meta.fields]
    show_full_result_count = False  # a row per contested item: no count of the whole table next to a filtered one
    paginator = CappedCountPaginator

    @admin.display(description="fields")
    def contested_fields(self, obj: SyncConflict) -> str:
        return ", ".join(obj.fields) or "—"

    def has_add_permission(self, request) -> bool:
        return False  # decisions are recorded by the engine only


@admin.register(FolderState)
class FolderStateAdmin(admin.ModelAdmin):
    list_display = ("mailbox", "collection", "first_sync_done", "last_completed_at", "full_syncs", "confirm_mass_deletion")
    list_filter = (MailboxFilter, "collection", "first_sync_done", "confirm_mass_deletion")
    list_select_related = ("mailbox",)
    search_fields = ("mailbox__email",)
    readonly_fields = ("mailbox", "collection", "watermark", "first_sync_done", "last_completed_at",
                       "last_full_sync_at", "full_syncs", "match_report")  # fmt: skip
    actions = ["confirm_mass_deletion"]

    @admin.action(description="Confirm the mass deletion and resume the mailbox's sync")
    def confirm_mass_deletion(self, request, queryset: QuerySet[FolderState]) -> None:
        count = queryset.update(confirm_mass_deletion=True)
        Mailbox.objects.filter(pk__in=queryset.values("mailbox_id")).update(sync_paused=False, sync_paused_reason="")
        self.message_user(request, f"{count} folder(s) will apply their deletions on the next sync.", messages.SUCCESS)


@admin.register(SyncLink)
class SyncLinkAdmin(admin.ModelAdmin):
    list_display = ("mailbox", "collection", "local_id", "remote_id", "local_version", "updated_at")
    list_filter = (MailboxFilter, "collection")
    list_select_related = ("mailbox",)
    search_fields = ("=local_id", "=remote_id")
    show_full_result_count = False  # huge table: no COUNT(*) per page
    paginator = CappedCountPaginator  # nor a count of a filtered list beyond its cap

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class CrmRecordAdmin(admin.ModelAdmin):
    """A staff edit is a CRM-side change like an API write: saved with a new version, prompting a sync;
    a deletion leaves a tombstone for the sync to mirror."""

    def get_queryset(self, request):
        return super().get_queryset(request).filter(deleted_at__isnull=True)

    def save_model(self, request, obj, form, change) -> None:
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            request_sync(obj.mailbox_id)

    def delete_model(self, request, obj) -> None:
        with transaction.atomic():
            obj.deleted_at = timezone.now()
            obj.save()
            request_sync(obj.mailbox_id)

    def delete_queryset(self, request, queryset) -> None:
        for obj in queryset:
            self.delete_model(request, obj)


@admin.register(Contact)
class ContactAdmin(CrmRecordAdmin):
    list_display = ("__str__", "mailbox", "company", "version", "modified_at", "deleted_at")
    list_filter = (MailboxFilter,)
    list_select_related = ("mailbox",)
    search_fields = ("given_name", "surname", "display_name", "company")
    show_full_result_count = False


@admin.register(Event)
class EventAdmin(CrmRecordAdmin):
    list_display = ("__str__", "mailbox", "start", "time_zone", "all_day", "cancelled", "version", "deleted_at")
    list_filter = (MailboxFilter, "all_day", "cancelled")
    list_select_related = ("mailbox",)
    search_fields = ("subject", "location")
    show_full_result_count = False


@admin.register(BrokerageSyncSettings)
class BrokerageSyncSettingsAdmin(admin.ModelAdmin):
    list_display = ("brokerage", "conflict_policy", "edit_beats_delete", "mass_delete_fraction", "calendar_past_days",
                    "calendar_future_days")  # fmt: skip
    list_select_related = ("brokerage",)
