"""Graph contact routes (see __init__.py for the layout and wire.py for the handler contract)."""

from __future__ import annotations

from .wire import Route

ROUTES: list[Route] = []
