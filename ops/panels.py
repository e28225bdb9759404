"""The brokerage admin's health displays: the change page's panel and the list's compact column."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timesince import timesince

from brokerages.models import Brokerage

from . import error_titles
from .chart import hourly_chart
from .health import brokerage_health


def health_panel(brokerage: Brokerage) -> SafeString:
    """The change page's "Sync health" box: figures of the last 24 hours, links to the runs, the chart."""
    health = brokerage_health(brokerage)
    attempted = sum(h.attempted for h in health.hours)
    rate = health.failure_rate
    return render_to_string("admin/scheduling/brokerage_health.html", {
        "health": health,
        "attempted": attempted,
        "failure_percent": None if rate is None else f"{rate * 100:.1f}",
        "chart": hourly_chart(health.hours),
        "top_errors": [(error_titles.describe(code), count) for code, count in health.top_errors],
        "runs_url": f"{reverse('admin:scheduling_syncrun_changelist')}?brokerage__id__exact={brokerage.pk}",
        "mailboxes_url": f"{reverse('admin:brokerages_mailbox_changelist')}?brokerage__id__exact={brokerage.pk}",
    })  # fmt: skip


def health_cell(brokerage: Brokerage) -> SafeString:
    """One line for the list: last success, failures of the last hour, mailboxes behind (ops.health annotations)."""
    last = getattr(brokerage, "health_last_success", None)
    runs, failed = getattr(brokerage, "health_runs", 0), getattr(brokerage, "health_failed", 0)
    behind = getattr(brokerage, "health_behind", 0)
    cooling = brokerage.cooldown_until is not None and brokerage.cooldown_until > timezone.now()
    colour = "#b91c1c" if (failed or behind) else "#15803d"
    return format_html(
        # Each part unbroken, the parts wrapping between them: the column stays narrow on a laptop screen.
        '<span class="health-cell" style="color:{}"><span style="white-space:nowrap">{}</span> · '
        '<span style="white-space:nowrap">{}</span> · <span style="white-space:nowrap">{}{}</span></span>',
        colour,
        _synced(last),
        f"{failed}/{runs} failed (1 h)" if runs else "no runs (1 h)",
        f"{behind} behind",
        " · cooling down" if cooling else "",
    )


def _synced(last) -> str:
    if last is None:
        return "never synced"
    if (timezone.now() - last).total_seconds() < 60:
        return "synced just now"
    return f"synced {timesince(last, depth=1)} ago"
