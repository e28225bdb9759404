"""What staff read for an error class: a human title and the remedy, with the raw code kept as a detail.

The taxonomy (mailboxes/errors.py, and the few classes defined next to their use, like verification's
CredentialsMissing) owns each class's title and remedy; this module only reads it, adds the classes that
are recorded without an exception class (``internal_error``), and supplies a staff remedy for the item
outcomes whose class carries none. Every admin page that shows an error class goes through ``describe``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from django.utils.html import format_html
from django.utils.safestring import SafeString

from mailboxes.errors import GatewayError

INTERNAL_ERROR = "internal_error"  # scheduling/runs.py records it for a failure of our own


@dataclass(frozen=True)
class ErrorTitle:
    code: str
    title: str
    remedy: str
    permanent: bool


# Recorded by code without an exception class, or item outcomes whose class has no staff remedy of its own.
_STAFF_SIDE: dict[str, tuple[str, str, bool]] = {
    INTERNAL_ERROR: (
        "An error inside Engage Sync",
        "An error inside Engage Sync, not at Microsoft. Engineering: see the worker's log for this task id.",
        False,
    ),
    "gateway_error": (
        "A mailbox gateway error",
        "The mailbox gateway failed in a way it did not classify. It is retried; engineering should look at the detail.",
        False,
    ),
    "conflict": (
        "The item changed at both ends",
        "Nothing to do: the sync settles it by its conflict rules; the decision is in Sync conflicts.",
        False,
    ),
    "item_not_found": (
        "The item was deleted in the mailbox meanwhile",
        "Nothing to do: the sync treats it as deleted and carries on.",
        False,
    ),
    "invalid_item": (
        "Exchange refused to store the item as it is",
        "The CRM record holds a value Exchange will not accept (an address or a date out of range); correct it in "
        "the CRM and it is written at the next sync.",
        True,
    ),
    "watermark_expired": (
        "The mailbox's change marker expired",
        "Nothing to do: the sync reads the folder afresh once and continues from there.",
        False,
    ),
}


def _taxonomy_classes() -> list[type[GatewayError]]:
    """GatewayError and every subclass that declares its own kind, wherever it is defined."""
    found, pending = [], [GatewayError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if isinstance(cls.__dict__.get("kind"), str):
            found.append(cls)
    return found


@cache
def _known() -> dict[str, ErrorTitle]:
    known = {
        cls.kind: ErrorTitle(cls.kind, cls.title, cls.remedy, bool(cls.permanent)) for cls in _taxonomy_classes()
    }
    for code, (title, remedy, permanent) in _STAFF_SIDE.items():
        if code not in known or not known[code].remedy:
            known[code] = ErrorTitle(code, title, remedy, permanent)
    return known


def describe(code: str) -> ErrorTitle:
    """The title and remedy of an error class; an unknown code (an old row, a class renamed) is shown as itself."""
    known = _known().get(code)
    if known is not None:
        return known
    return ErrorTitle(code, code.replace("_", " ").capitalize() if code else "", "", False)


def all_codes() -> list[str]:
    """Every error class staff may meet, ordered by title: the choices of the admin's error-class filters."""
    return sorted(_known(), key=lambda code: _known()[code].title.lower())


def title_with_code(code: str) -> SafeString | str:
    """A list cell: the title, the raw code after it in small grey type (secondary detail)."""
    if not code:
        return "—"
    return format_html('{} <code class="error-code" style="color:#6b7280;font-size:0.85em">{}</code>', describe(code).title, code)


def list_filter(field: str, title: str = "error"):
    """An admin list filter on an error-class field, its choices the taxonomy's titles (from code, not a table scan).

    For any list that stores an error class: the verification runs, the outgoing emails (last_error_class).
    """
    from django.contrib import admin

    class ErrorTitleFilter(admin.SimpleListFilter):
        parameter_name = field

        def lookups(self, request, model_admin):
            return [(code, describe(code).title) for code in all_codes()]

        def queryset(self, request, queryset):
            return queryset.filter(**{field: self.value()}) if self.value() else queryset

    ErrorTitleFilter.title = title
    return ErrorTitleFilter
