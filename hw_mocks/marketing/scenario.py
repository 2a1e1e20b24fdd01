"""Faults of the marketing-system stand-in, as data (a TOML file or a dict).

    closed_days = ["2026-11-23"]        # business days closed (日终): payments of them refused 9002

    [[fault]]
    trade = "2001"                       # trade code, or "*" for any
    nth = 1                              # the nth message of that trade since start; omitted: every one
    action = "lose_answer"               # applied and committed, the answer never sent (connection closed)
    # action = "delay"; seconds = 3.0    # answer late (slow marketing system)
    # action = "drop"                    # closed before doing anything (the request is lost)

``down`` is not a fault of a message: stop the process (the station's connect is refused).
"""

from __future__ import annotations

import threading
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from terminal_app.errors import ConfigurationError

ACTIONS = frozenset({"lose_answer", "delay", "drop"})


@dataclass(frozen=True, slots=True)
class Fault:
    trade: str
    action: str
    nth: int | None = None
    seconds: float = 0.0


@dataclass
class Scenario:
    closed_days: list[str] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    _counts: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scenario:
        try:
            days = [str(d) for d in data.get("closed_days", [])]
            faults = []
            for f in data.get("fault", []):
                action = f["action"]
                if action not in ACTIONS:
                    raise ValueError(f"action {action!r} is not one of {sorted(ACTIONS)}")
                nth = f.get("nth")
                if nth is not None and (not isinstance(nth, int) or nth < 1):
                    raise ValueError("nth must be a positive integer")
                faults.append(Fault(str(f.get("trade", "*")), action, nth, float(f.get("seconds", 0.0))))
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigurationError("The marketing scenario is not valid ({error}).",
                                     "See hw_mocks/marketing/scenario.py for its keys.", error=str(e)) from e
        return cls(days, faults)

    @classmethod
    def load(cls, path: str | Path) -> Scenario:
        try:
            return cls.from_dict(tomllib.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ConfigurationError("The marketing scenario {path} cannot be read ({error}).",
                                     "Give a TOML file.", path=str(path), error=str(e)) from e

    def fault_for(self, trade: str) -> Fault | None:
        """Count this message of ``trade`` and return the fault that applies to it, if any."""
        with self._lock:
            n = self._counts[trade] = self._counts.get(trade, 0) + 1
        for f in self.faults:
            if f.trade in ("*", trade) and (f.nth is None or f.nth == n):
                return f
        return None
