"""Staff's view of backend moves (progress, errors), and the brokerage list's "Move to …" actions."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.html import format_html

from backend_move.models import BackendMove
from backend_move.moving import BACKENDS, MoveRefused, request_move
from brokerages.models import Brokerage

MOVE_HELP = (
    "The target backend is verified first (a move is refused if it does not verify). Then each mailbox, held "
    "from syncing, gets its stored ids translated and starts afresh on the target; the brokerage switches when "
    "all are done and its mailboxes sync at once. Progress: Backend moves → Backend moves."
)


@admin.register(BackendMove)
class BackendMoveAdmin(admin.ModelAdmin):
    list_display = ("brokerage", "direction", "state", "progress", "ids_translated", "ids_gone", "emails_translated",
                    "attempts", "started_at", "finished_at", "short_error")
    list_filter = ("state", "target")
    search_fields = ("brokerage__name",)
    list_select_related = ("brokerage",)
    readonly_fields = [f.name for f in BackendMove._meta.fields]

    @admin.display(description="direction")
    def direction(self, move: BackendMove) -> str:
        return f"{BACKENDS.get(move.source, move.source)} → {BACKENDS.get(move.target, move.target)}"

    @admin.display(description="mailboxes done")
    def progress(self, move: BackendMove) -> str:
        return format_html("{} / {}", move.mailboxes_done, move.mailboxes_total)

    @admin.display(description="error")
    def short_error(self, move: BackendMove) -> str:
        return move.error[:160]

    # Staff watch moves; they are started from the brokerage list (credential managers) and never edited by hand.
    def has_view_permission(self, request, obj=None) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def has_module_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def _start(modeladmin, request, queryset, target: str) -> None:
    # Credential managers only: a move changes how the brokerage's credentials are used (another API, audience).
    if not request.user.has_perm("brokerages.change_brokerage_credentials"):
        modeladmin.message_user(request, "Only credential managers may move a brokerage to another backend.", messages.ERROR)
        return
    started = []
    for brokerage in queryset:
        try:
            request_move(brokerage, target, requested_by=request.user)
            started.append(brokerage.name)
        except MoveRefused as refused:
            modeladmin.message_user(request, str(refused), messages.WARNING)
    if started:
        modeladmin.message_user(request, f"Move to {BACKENDS[target]} queued for {', '.join(started)}. {MOVE_HELP}")


@admin.action(description="Move to Microsoft Graph (verify Graph, translate ids, switch)", permissions=["change"])
def move_to_graph(modeladmin, request, queryset):
    _start(modeladmin, request, queryset, Brokerage.Backend.GRAPH.value)


@admin.action(description="Move to EWS (e.g. for Exchange Server on-premises)", permissions=["change"])
def move_to_ews(modeladmin, request, queryset):
    _start(modeladmin, request, queryset, Brokerage.Backend.EWS.value)
