"""Outlook's Graph limits per app per mailbox: requests in a sliding window and concurrent requests.

Microsoft documents 10,000 requests per 10 minutes and 4 concurrent requests (throttling-limits.md, "Outlook service
limits"). Over either limit the request is answered 429 with ``Retry-After``. The control API can lower the limits
(``PATCH /_control/settings`` ``graph_requests_per_window``, ``graph_window_seconds``, ``graph_concurrency``) so
tests can reach them.
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict, deque

DEFAULT_REQUESTS_PER_WINDOW = 10_000
DEFAULT_WINDOW_SECONDS = 600.0
DEFAULT_CONCURRENCY = 4


class GraphThrottle:
    """Admission per (app id, mailbox); thread-safe on its own lock (never world.lock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._recent: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._in_flight: dict[tuple[str, str], int] = defaultdict(int)
        self.requests_per_window = DEFAULT_REQUESTS_PER_WINDOW
        self.window_seconds = DEFAULT_WINDOW_SECONDS
        self.concurrency = DEFAULT_CONCURRENCY

    def enter(self, app_id: str, mailbox: str, now: float | None = None) -> tuple[str, float] | None:
        """Admit one request (None) or say why not: ("concurrency" | "rate", seconds to wait)."""
        now = time.monotonic() if now is None else now
        key = (app_id.lower(), mailbox.lower())
        with self._lock:
            recent = self._recent[key]
            while recent and recent[0] <= now - self.window_seconds:
                recent.popleft()
            if self._in_flight[key] >= self.concurrency:
                return "concurrency", 1.0
            if len(recent) >= self.requests_per_window:
                return "rate", max(1.0, math.ceil(recent[0] + self.window_seconds - now))
            recent.append(now)
            self._in_flight[key] += 1
            return None

    def leave(self, app_id: str, mailbox: str) -> None:
        key = (app_id.lower(), mailbox.lower())
        with self._lock:
            if self._in_flight[key] > 0:
                self._in_flight[key] -= 1

    def reset(self) -> None:
        """Forget the counters and go back to Microsoft's limits."""
        with self._lock:
            self._recent.clear()
            self._in_flight.clear()
            self.requests_per_window = DEFAULT_REQUESTS_PER_WINDOW
            self.window_seconds = DEFAULT_WINDOW_SECONDS
            self.concurrency = DEFAULT_CONCURRENCY
