"""State a Graph feature keeps beside a world rather than in it, because it is not persisted (calendarView delta
snapshots, upload sessions): one instance per world, made on first use, gone with the world."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class PerWorld(Generic[T]):
    """``PerWorld(Factory)(world)`` is that world's one ``Factory()``."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._by_world: weakref.WeakKeyDictionary[Any, T] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def __call__(self, world: Any) -> T:
        with self._lock:
            found = self._by_world.get(world)
            if found is None:
                found = self._by_world[world] = self._factory()
            return found
