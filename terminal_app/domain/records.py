"""Helpers that read JSON records (station messages, the local store) into domain types strictly.

A record from outside is trusted for nothing: each field is checked for presence, type and
bounds, and any problem becomes a RecordFormatError naming the record kind and the field.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from terminal_app.domain.errors import InvalidValueError, RecordFormatError
from terminal_app.domain.money import parse_kwh
from terminal_app.errors import N_

PERIOD_RE = re.compile(r"(\d{4})-(\d{2})")
MAX_STR = 200


def bad(kind: str, detail: str) -> RecordFormatError:
    return RecordFormatError("A {kind} record is malformed: {detail}.", kind=kind, detail=detail)


def need_mapping(d: Any, kind: str) -> Mapping[str, Any]:
    if not isinstance(d, Mapping):
        raise bad(kind, "not a JSON object")
    return d


def get_str(d: Mapping[str, Any], key: str, kind: str, *, default: str | None = None,
            max_len: int = MAX_STR) -> str:
    if key not in d:
        if default is not None:
            return default
        raise bad(kind, f"field {key!r} is missing")
    v = d[key]
    if not isinstance(v, str) or len(v) > max_len or not v.isprintable():
        raise bad(kind, f"field {key!r} is not a short printable string")
    return v


def get_int(d: Mapping[str, Any], key: str, kind: str, *, default: int | None = None,
            minimum: int = 0, maximum: int = 10**12) -> int:
    if key not in d:
        if default is not None:
            return default
        raise bad(kind, f"field {key!r} is missing")
    v = d[key]
    if not isinstance(v, int) or isinstance(v, bool) or not minimum <= v <= maximum:
        raise bad(kind, f"field {key!r} is not an integer from {minimum} to {maximum}")
    return v


def get_kwh(d: Mapping[str, Any], key: str, kind: str, *, optional: bool = False) -> Decimal | None:
    if key not in d or (optional and d[key] is None):
        if optional:
            return None
        raise bad(kind, f"field {key!r} is missing")
    v = d[key]
    if not isinstance(v, str):
        # energy travels as a decimal string exactly as read (station-protocol.md)
        raise bad(kind, f"field {key!r} must be a decimal string")
    try:
        return parse_kwh(v)
    except InvalidValueError as e:
        raise bad(kind, f"field {key!r}: {e.what_text()}") from e


def get_time(d: Mapping[str, Any], key: str, kind: str) -> dt.datetime:
    s = get_str(d, key, kind, max_len=40)
    try:
        t = dt.datetime.fromisoformat(s)
    except ValueError as e:
        raise bad(kind, f"field {key!r} is not an ISO 8601 time") from e
    if t.tzinfo is None:
        raise bad(kind, f"field {key!r} has no UTC offset")
    return t


def check_period(period: str, what: str = N_("Billing period")) -> str:
    """'YYYY-MM' with a real month; returned unchanged."""
    m = PERIOD_RE.fullmatch(period) if isinstance(period, str) else None
    if not m or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 2000:
        raise InvalidValueError("{item} {value!r} is not a month like 2026-01.",
                                "Write the year and month as YYYY-MM.", item=what, value=period)
    return period


def check_aware(t: dt.datetime, what: str) -> dt.datetime:
    if not isinstance(t, dt.datetime) or t.tzinfo is None:
        raise InvalidValueError("{item} must be an aware time (Asia/Shanghai).",
                                "This is a program error: report it.", item=what)
    return t
