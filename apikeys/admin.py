"""API keys in the admin: credential managers issue (the key is shown once, in a message) and revoke; others read.

A key's scope and permissions are fixed once issued: to change them, issue a new key and revoke the old one
(rotation), so every key's reach is exactly what its audit entry says. Keys are never deleted.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from engage_sync.admin_records import RecordAdmin

from . import audit, issuing
from .models import ApiKey, ApiKeyAuditEntry, DeniedApiRequests, Permission

# The library's own, unscoped key model opens nothing here (apikeys.authentication reads ApiKey only); offering
# it in the admin would only invite issuing keys that do not work.
admin.site.unregister(APIKey)

ADD_FIELDS = ("name", "all_brokerages", "brokerages", "permissions", "expiry_date")
CHANGE_FIELDS = (
    "name", "prefix", "scope", "permission_list", "expiry_date", "created", "issued_by", "last_used_at", "revoked",
    "revoked_at",
)  # fmt: skip


class ApiKeyIssueForm(forms.ModelForm):
    permissions = forms.MultipleChoiceField(choices=Permission.choices, widget=forms.CheckboxSelectMultiple)
    actor = None  # set per request by ApiKeyAdmin.get_form

    class Meta:
        model = ApiKey
        fields = ADD_FIELDS

    def clean(self):
        data = super().clean()
        brokerages, all_brokerages = list(data.get("brokerages") or []), bool(data.get("all_brokerages"))
        try:
            issuing.check_may_issue(self.actor, client=data.get("name") or "", all_brokerages=all_brokerages, detail={
                "all_brokerages": all_brokerages, "brokerages": sorted(b.pk for b in brokerages),
                "permissions": data.get("permissions") or [],
            })  # fmt: skip
            issuing.check_scope(brokerages=brokerages, all_brokerages=all_brokerages, permissions=data.get("permissions") or [])
            issuing.check_expiry(data.get("expiry_date"))
        except PermissionDenied as refusal:
            self.add_error("all_brokerages" if all_brokerages else None, str(refusal))
        except ValidationError as error:
            self.add_error(None, error)
        return data


@admin.register(ApiKey)
class ApiKeyAdmin(APIKeyModelAdmin):
    list_display = ("prefix", "name", "scope", "permission_list", "created", "expiry_date", "last_used_at", "revoked")
    list_filter = ("revoked", "all_brokerages")
    search_fields = ("name", "prefix")
    autocomplete_fields = ("brokerages",)
    actions = ("revoke_keys",)
    form = ApiKeyIssueForm

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("issued_by").prefetch_related("brokerages")

    def get_fields(self, request, obj=None):
        return ADD_FIELDS if obj is None else CHANGE_FIELDS

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return tuple(name for name in CHANGE_FIELDS if name != "revoked" or obj.revoked)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:
            kwargs["form"] = forms.ModelForm  # only "revoked" is editable once issued
        form = super().get_form(request, obj, change, **kwargs)
        form.actor = request.user
        return form

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoke instead: the audit trail keeps pointing at the key

    @admin.display(description="reaches")
    def scope(self, obj: ApiKey) -> str:
        return obj.scope_description()

    @admin.display(description="permissions")
    def permission_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.permissions)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.issued_by = request.user
            request._issued_api_key = ApiKey.objects.assign_key(obj)
            obj.save()
        elif "revoked" in form.changed_data and obj.revoked:
            issuing.revoke_key(obj, actor=request.user)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        raw = getattr(request, "_issued_api_key", None)
        if not change and raw is not None:
            audit.record_issued(form.instance, request.user)
            messages.warning(request, (
                f"The API key for {form.instance.name} is {raw} — copy it into the client's secret store now: "
                "it is stored only as a hash and cannot be shown again."
            ))  # fmt: skip

    @admin.action(description="Revoke the selected keys (for good)", permissions=["change"])
    def revoke_keys(self, request, queryset):
        revoked = sum(issuing.revoke_key(key, actor=request.user) for key in queryset)
        self.message_user(request, f"{revoked} key(s) revoked.", messages.SUCCESS)


@admin.register(ApiKeyAuditEntry)
class ApiKeyAuditEntryAdmin(RecordAdmin):
    list_display = ("at", "action", "client", "key_prefix", "actor_name", "detail")
    list_filter = ("action",)
    search_fields = ("client", "key_prefix", "actor__username")
    list_select_related = ("actor",)
    date_hierarchy = "at"

    @admin.display(description="who")
    def actor_name(self, obj: ApiKeyAuditEntry) -> str:
        return obj.actor.get_username() if obj.actor else "system"


@admin.register(DeniedApiRequests)
class DeniedApiRequestsAdmin(RecordAdmin):
    list_display = ("hour", "key_prefix", "reason", "count", "last_at", "last_method", "last_path")
    list_filter = ("reason",)
    search_fields = ("key_prefix",)
    date_hierarchy = "hour"
