"""The battery guard: what may start at a battery level (a pure policy, no I/O).

Below ``low`` a card write or a print does not start (a card write cut by a dead battery leaves the
card half-written; a print, a receipt half on paper).  Below ``critical`` the terminal finishes
what is in flight, syncs if it can and shuts down.  Charging (or on external power) overrides both.
An unknown level (no battery found) never blocks: the terminal may be on bench power.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

DEFAULT_LOW = 15
DEFAULT_CRITICAL = 5


class PowerLevel(enum.Enum):
    OK = "ok"
    LOW = "low"
    CRITICAL = "critical"
    UNKNOWN = "unknown"


class Operation(enum.Enum):
    CARD_WRITE = "card_write"
    PRINT = "print"
    OTHER = "other"  # readings, searches, sync: keep working until critical


#: operations refused below ``low``
GUARDED = frozenset({Operation.CARD_WRITE, Operation.PRINT})


@dataclass(frozen=True, slots=True)
class BatteryPolicy:
    low: int = DEFAULT_LOW
    critical: int = DEFAULT_CRITICAL

    def __post_init__(self) -> None:
        if not 0 <= self.critical < self.low <= 100:
            raise ValueError(f"battery levels need 0 <= critical < low <= 100 (got {self.critical}, {self.low})")

    def level(self, capacity: int | None, charging: bool) -> PowerLevel:
        if capacity is None:
            return PowerLevel.UNKNOWN
        if charging:
            return PowerLevel.OK
        if capacity < self.critical:
            return PowerLevel.CRITICAL
        if capacity < self.low:
            return PowerLevel.LOW
        return PowerLevel.OK

    def allows(self, op: Operation, capacity: int | None, charging: bool) -> bool:
        lvl = self.level(capacity, charging)
        if lvl is PowerLevel.CRITICAL:
            return False
        if lvl is PowerLevel.LOW:
            return op not in GUARDED
        return True

    def must_shut_down(self, capacity: int | None, charging: bool) -> bool:
        return self.level(capacity, charging) is PowerLevel.CRITICAL
