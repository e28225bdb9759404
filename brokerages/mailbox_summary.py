"""A brokerage's mailboxes by state (active, failing, paused, inactive): the brokerage page's counts and links.

The four states partition the mailboxes, so the counts add up to the total; the mailbox list's *state*
filter uses the same conditions, so a count and the list it links to always agree.
"""

from __future__ import annotations

from django.db.models import Count, Q
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from brokerages.models import Brokerage

STATES: dict[str, tuple[str, Q]] = {
    "active": ("Active", Q(is_active=True, sync_paused=False, consecutive_failures=0)),
    "failing": ("Failing", Q(is_active=True, sync_paused=False, consecutive_failures__gt=0)),
    "paused": ("Paused", Q(is_active=True, sync_paused=True)),
    "inactive": ("Inactive", Q(is_active=False)),
}
_COLOURS = {"active": "#15803d", "failing": "#b91c1c", "paused": "#b45309", "inactive": "#6b7280"}


def state_counts(brokerage: Brokerage) -> dict[str, int]:
    """How many of the brokerage's mailboxes are in each state: one aggregate query."""
    return brokerage.mailboxes.aggregate(**{key: Count("pk", filter=query) for key, (_, query) in STATES.items()})


def summary_panel(brokerage: Brokerage) -> SafeString:
    """The counts, each a link to the mailbox list filtered to this brokerage and state; then import and export."""
    counts = state_counts(brokerage)
    mailbox_list = f"{reverse('admin:brokerages_mailbox_changelist')}?brokerage__id__exact={brokerage.pk}"
    links = format_html_join(
        " · ", '<a class="mailbox-state" data-state="{}" href="{}&amp;state={}" style="color:{}">{} {}</a>',
        ((key, mailbox_list, key, _COLOURS[key], counts[key], label.lower()) for key, (label, _) in STATES.items()),
    )  # fmt: skip
    import_url = reverse("admin:brokerages_brokerage_import_mailboxes", args=[brokerage.pk])
    export_url = f"{reverse('admin:brokerages_mailbox_export')}?brokerage__id__exact={brokerage.pk}"
    return format_html(
        '<div class="mailbox-summary"><a href="{}"><strong>{} mailbox(es)</strong></a>: {}<br>'
        '<a href="{}">Import mailboxes (CSV)</a> · <a href="{}">Export them (CSV)</a></div>',
        mailbox_list, sum(counts.values()), links, import_url, export_url,
    )  # fmt: skip
