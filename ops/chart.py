"""The brokerage page's 24-hour chart: stacked hourly bars as inline SVG, drawn on the server (no JS, no CDN)."""

from __future__ import annotations

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from .health import HourBucket

BAR_WIDTH, GAP, PLOT_HEIGHT, LABEL_HEIGHT = 18, 4, 80, 16
# Bottom to top; the colours match the outcome badges of the sync-run list.
SERIES = (("ok", "#15803d", "OK"), ("throttled", "#d97706", "throttled"), ("failed", "#b91c1c", "failed"),
          ("paused", "#7c3aed", "paused by guard"), ("skipped", "#9ca3af", "skipped"))  # fmt: skip


def hourly_chart(hours: list[HourBucket]) -> SafeString:
    """An SVG of the runs per hour by outcome; bars scale to the busiest hour, each carries a tooltip."""
    peak = max((h.total for h in hours), default=0) or 1
    width = len(hours) * (BAR_WIDTH + GAP)
    rects = []
    for index, bucket in enumerate(hours):
        x = index * (BAR_WIDTH + GAP)
        y = PLOT_HEIGHT
        tip = f"{bucket.hour:%H}:00 UTC — " + ", ".join(f"{getattr(bucket, name)} {label}" for name, _, label in SERIES)
        for name, colour, _ in SERIES:
            count = getattr(bucket, name)
            if not count:
                continue
            height = max(count * PLOT_HEIGHT / peak, 1.0)
            y -= height
            rects.append((name, x, f"{y:.1f}", BAR_WIDTH, f"{height:.1f}", colour, tip))
        if not bucket.total:  # an empty hour still gets a hairline, so gaps read as "nothing ran"
            rects.append(("none", x, PLOT_HEIGHT - 1, BAR_WIDTH, 1, "#e5e7eb", tip))
    bars = format_html_join(
        "",
        '<rect class="bar-{}" x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}</title></rect>',
        rects,
    )
    labels = format_html_join(
        "",
        '<text x="{}" y="{}" font-size="10" fill="#666">{}</text>',
        ((index * (BAR_WIDTH + GAP), PLOT_HEIGHT + 12, f"{bucket.hour:%H}h") for index, bucket in enumerate(hours) if index % 6 == 0),
    )
    legend = format_html_join(
        " ", '<span style="white-space:nowrap"><span style="display:inline-block;width:10px;height:10px;background:{}"></span> {}</span>',
        ((colour, label) for _, colour, label in SERIES),
    )  # fmt: skip
    return format_html(
        '<svg class="sync-chart" role="img" aria-label="Sync runs per hour, last 24 hours (peak {} per hour)" '
        'width="{}" height="{}" viewBox="0 0 {} {}" xmlns="http://www.w3.org/2000/svg">{}{}</svg>'
        '<div style="font-size:11px;color:#666">peak {} runs/hour · {}</div>',
        peak, width, PLOT_HEIGHT + LABEL_HEIGHT, width, PLOT_HEIGHT + LABEL_HEIGHT, bars, labels, peak, legend,
    )  # fmt: skip
