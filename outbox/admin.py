"""Staff's view of the outbox: status, failures with their remedy, and a retry for failed emails.

The table grows by every email sent (a million a month on a big fleet), so the list never counts it whole
(engage_sync.admin_paging), its filters' choices come from code or are bounded (error titles, the first brokerages by
name), and there is no date drill-down (it lists the dates present with a DISTINCT over the table).

What an email says and to whom (subject, bodies, recipients, reply-to, attachment names) is clients' data: only
users with ``outbox.view_email_content`` (credential managers, superusers) see it; operators see the state.
"""

import uuid

from django.contrib import admin, messages
from django.db import transaction
from django.utils import timezone
from django.utils.html import format_html

from brokerages.admin_filters import MailboxBrokerageFilter
from engage_sync.admin_paging import CappedCountPaginator
from ops import error_titles

from .models import OutgoingEmail
from .publishing import publish_send_on_commit

_BADGE_COLOURS = {"queued": "#777", "sending": "#1f6fb2", "sent": "#2e7d32", "failed": "#c62828"}
CONTENT_PERMISSION = "outbox.view_email_content"
CONTENT_FIELDS = ("to", "cc", "bcc", "reply_to", "subject", "text_body", "html_body")


def sees_content(request) -> bool:
    return request.user.has_perm(CONTENT_PERMISSION)


class OutgoingAttachmentInline(admin.TabularInline):
    model = OutgoingEmail.attachments.rel.related_model
    fields = ("filename", "content_type", "size")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def get_fields(self, request, obj=None):
        return self.fields if sees_content(request) else ("content_type", "size")

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("outbox.view_outgoingemail")  # part of the email; names only with content


@admin.register(OutgoingEmail)
class OutgoingEmailAdmin(admin.ModelAdmin):
    list_display = ("subject", "mailbox", "status_badge", "attempts", "last_error_class", "created_at", "sent_at")
    list_filter = ("status", error_titles.list_filter("last_error_class"), MailboxBrokerageFilter)
    search_fields = ("subject", "idempotency_key", "mailbox__email", "=id")  # an id or address: get_search_results
    search_help_text = ("An email's id or an agent's whole email address (fast); other words search the idempotency key, "
                        "the address and, for those who may read emails, the subject.")
    list_select_related = ("mailbox",)
    inlines = [OutgoingAttachmentInline]
    actions = ["retry_failed"]
    readonly_fields = [field.name for field in OutgoingEmail._meta.fields]
    show_full_result_count = False  # the table grows large; counting it on every page is slow
    paginator = CappedCountPaginator
    ordering = ("-created_at",)  # newest first, by the outbox_created index

    def lookup_allowed(self, lookup, value, request=None) -> bool:
        # The brokerage filter's parameter (Django's own name for the path, so older links keep working).
        return lookup == MailboxBrokerageFilter.parameter_name or super().lookup_allowed(lookup, value, request)

    def get_search_results(self, request, queryset, search_term):
        # An email's id or an agent's whole address (what staff paste from a ticket) by index; anything else
        # falls back to the fields' LIKE search, which reads the table.
        term = search_term.strip()
        if term:
            try:
                return queryset.filter(pk=uuid.UUID(term)), False
            except ValueError:
                pass
            if "@" in term and " " not in term:  # addresses are stored lower-case (Mailbox.save)
                return queryset.filter(mailbox__email=term.lower()), False
        return super().get_search_results(request, queryset, search_term)

    def get_list_display(self, request):
        return self.list_display if sees_content(request) else ("__str__", *self.list_display[1:])

    def get_search_fields(self, request):
        # Not by subject for operators either: a search is a way to read it
        return self.search_fields if sees_content(request) else tuple(f for f in self.search_fields if f != "subject")

    def get_fields(self, request, obj=None):
        fields = self.readonly_fields
        return fields if sees_content(request) else [name for name in fields if name not in CONTENT_FIELDS]

    def has_add_permission(self, request) -> bool:
        return False  # emails come from the CRM API, with an idempotency key

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # read-only: the send state machine owns these rows; staff act through "Retry"

    @admin.display(description="status", ordering="status")
    def status_badge(self, email: OutgoingEmail) -> str:
        colour = _BADGE_COLOURS.get(email.status, "#777")
        return format_html('<b style="color:{}">{}</b>', colour, email.get_status_display())

    # Operators (view permission) may retry: acting on failures is their job; nothing here edits content.
    @admin.action(description="Retry the selected failed emails", permissions=["view"])
    def retry_failed(self, request, queryset) -> None:
        with transaction.atomic():
            failed = list(queryset.filter(status=OutgoingEmail.Status.FAILED).select_for_update())
            for email in failed:
                # Attempts restart; the error stays on the row, so the next attempt reconciles first.
                OutgoingEmail.objects.filter(pk=email.pk).update(
                    status=OutgoingEmail.Status.QUEUED, attempts=0, not_before=timezone.now(), updated_at=timezone.now()
                )
                publish_send_on_commit(email)
        skipped = queryset.count() - len(failed)
        self.message_user(request, f"{len(failed)} email(s) queued again.", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"{skipped} selected email(s) were not failed and were left alone.", messages.WARNING)
