"""Failpoints: named places where a test can make this process crash, to prove crash safety.

Off unless the environment variable ENGAGE_FAILPOINTS names one, e.g.
``ENGAGE_FAILPOINTS=outbox.after_create=kill`` (SIGKILL this process the first time the point is hit).
Actions: ``kill`` (SIGKILL, as the OOM killer or a lost host would), ``raise`` (an exception, as a
bug would). Production never sets the variable; the check is one dict lookup.
"""

from __future__ import annotations

import os
import signal


class FailpointTriggered(RuntimeError):
    """Raised at a failpoint configured with the ``raise`` action."""


def _parse(spec: str) -> dict[str, str]:
    points = {}
    for entry in filter(None, (part.strip() for part in spec.split(","))):
        name, _, action = entry.partition("=")
        if action not in {"kill", "raise"}:
            raise ValueError(f"ENGAGE_FAILPOINTS: {entry!r} needs an action, kill or raise")
        points[name] = action
    return points


_ACTIVE = _parse(os.environ.get("ENGAGE_FAILPOINTS", ""))


def failpoint(name: str) -> None:
    """Crash here if a test asked for it; otherwise do nothing."""
    action = _ACTIVE.get(name)
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "raise":
        raise FailpointTriggered(name)
