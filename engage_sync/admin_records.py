"""Admin pages for records: rows the service writes and staff only read (audit entries, sync runs)."""

from django.contrib import admin


class RecordAdmin(admin.ModelAdmin):
    """Read-only: nobody adds, edits or deletes a record by hand (retention, where any, prunes them)."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
