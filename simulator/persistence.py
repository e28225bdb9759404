"""Saving and loading the world (directory + mailboxes) so a demo survives a restart (`serve --persist`)."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from simulator.world import World

log = logging.getLogger(__name__)
STATE_FILE = "world.json"


def save(world: World, state_dir: Path) -> Path:
    """Write the world atomically (temp file + rename), readable only by its owner."""
    path = state_dir / STATE_FILE
    temporary = path.with_suffix(".tmp")
    data = world.to_json()
    with temporary.open("w", encoding="utf-8") as handle:
        json.dump(data, handle)
    temporary.chmod(0o600)
    temporary.replace(path)
    return path


def load(world: World, state_dir: Path) -> bool:
    """Load a saved world if there is one; returns whether it did."""
    path = state_dir / STATE_FILE
    if not path.exists():
        return False
    world.load_json(json.loads(path.read_text(encoding="utf-8")))
    return True


class AutoSaver:
    """Saves every `interval` seconds in a daemon thread, so a kill -9 loses at most that much."""

    def __init__(self, world: World, state_dir: Path, interval: float = 5.0) -> None:
        self._world, self._state_dir, self._interval = world, state_dir, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="simulator-autosave", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                save(self._world, self._state_dir)
            except OSError:
                log.exception("saving the simulator state failed")

    def stop(self) -> None:
        """Stop the thread and save one last time."""
        self._stop.set()
        self._thread.join(timeout=self._interval + 5)
        save(self._world, self._state_dir)
