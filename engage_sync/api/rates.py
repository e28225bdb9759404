"""Rates such as ``600/minute``, checked by the settings at start-up (nothing here reads settings, so settings can import it)."""

from __future__ import annotations

import re

from django.core.exceptions import ImproperlyConfigured

_PERIODS = {"s": 1, "sec": 1, "second": 1, "seconds": 1, "m": 60, "min": 60, "minute": 60, "minutes": 60,
            "h": 3600, "hour": 3600, "hours": 3600, "d": 86400, "day": 86400, "days": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*$")


def parse_rate(rate: str) -> tuple[int, int]:
    """``"600/minute"`` → (600, 60); ``"100/10s"`` → (100, 10). Settings call it, so a typo stops start-up."""
    match = _RATE.match(rate.lower())
    if not match or match.group(3) not in _PERIODS or int(match.group(1)) < 1:
        raise ImproperlyConfigured(f"API_RATE_LIMIT={rate!r} is not a rate such as 600/minute, 20/second or 100/10s.")
    return int(match.group(1)), int(match.group(2) or 1) * _PERIODS[match.group(3)]
