"""Aware times in the utility's zone (Asia/Shanghai) and an injectable clock."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def now() -> dt.datetime:
    return dt.datetime.now(SHANGHAI)


def business_day(at: dt.datetime) -> dt.date:
    """The business day of an instant: its Asia/Shanghai calendar day."""
    if at.tzinfo is None:
        raise ValueError("naive datetime: business days need an aware time")
    return at.astimezone(SHANGHAI).date()


def iso(at: dt.datetime) -> str:
    """ISO 8601 with offset, to the second, in Asia/Shanghai (the wire format of GT/1)."""
    if at.tzinfo is None:
        raise ValueError("naive datetime cannot go on the wire")
    return at.astimezone(SHANGHAI).replace(microsecond=0).isoformat()


@dataclass
class Clock:
    """Wall clock with an offset to the station's time (learned from HELLO).

    Use cases take a Clock so business-day rules can be tested with a fixed or moved time.
    """

    offset: dt.timedelta = field(default_factory=dt.timedelta)

    def now(self) -> dt.datetime:
        return now() + self.offset

    def monotonic(self) -> float:
        return time.monotonic()

    def set_station_time(self, station_time: dt.datetime) -> None:
        self.offset = station_time - now()


@dataclass
class FixedClock(Clock):
    """A clock that stands still until moved (tests, replays)."""

    at: dt.datetime = field(default_factory=now)

    def now(self) -> dt.datetime:
        return self.at + self.offset

    def advance(self, delta: dt.timedelta) -> None:
        self.at += delta
