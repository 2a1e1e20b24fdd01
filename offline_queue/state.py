"""What the UI shows about the journal and the link, and the change events that announce it.

Events belong to an instance (a :class:`Signal` attribute of the journal or the sync engine),
never to module globals, so two terminals in one test process do not hear each other.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


class Signal(Generic[T]):
    """A list of callbacks; ``emit`` calls each, and a failing callback never breaks the emitter."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[[T], None]] = []
        self._lock = threading.Lock()

    def connect(self, callback: Callable[[T], None]) -> Callable[[], None]:
        """Register ``callback``; returns a function that unregisters it."""
        with self._lock:
            self._callbacks.append(callback)

        def disconnect() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)
        return disconnect

    def has_listeners(self) -> bool:
        with self._lock:
            return bool(self._callbacks)

    def emit(self, value: T) -> None:
        with self._lock:
            callbacks = list(self._callbacks)
        for cb in callbacks:
            try:
                cb(value)
            except Exception:  # a broken screen must not stop money from being journaled
                log.exception("journal event callback %r failed", cb)


@dataclass(frozen=True, slots=True)
class QueueStatus:
    """A snapshot for the status bar and the sync screen.

    ``depth`` counts entries not yet settled (pending, in flight, outcome unknown); ``parked``
    counts the ones the station refused (they need a supervisor, they never block the others).
    """

    depth: int
    unknown: int
    parked: int
    oldest_pending_at: dt.datetime | None
    oldest_pending_age: dt.timedelta | None
    last_success_at: dt.datetime | None
    last_error: str | None
    last_error_at: dt.datetime | None
    next_attempt_in: float | None = None  # seconds until the timer retries (None: no retry planned)
    syncing: bool = False
