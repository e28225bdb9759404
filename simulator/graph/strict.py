"""Strict mode for Graph: request and response bodies validated against the OpenAPI subset (filled in later)."""

from __future__ import annotations

from typing import Any


def check_request(world: Any, method: str, path: str, body: Any) -> None:
    """Raise a 400 GraphError when a request body violates the schema of its operation."""


def check_response(world: Any, method: str, path: str, status: int, payload: bytes) -> None:
    """Fail loudly when the simulator's own answer violates the schema of its operation."""
