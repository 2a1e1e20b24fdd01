"""Checks on request bodies: every field from the network is typed, bounded and validated.

A failed check raises :class:`Refusal` with ``E_BAD_REQUEST`` and says which field is wrong.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from terminal_app.station.messages import ErrorCode
from terminal_app.timeutil import SHANGHAI

TXN_RE = re.compile(r"(\d{8})-(0|[1-9]\d{0,18})")
CUST_RE = re.compile(r"[0-9A-Za-z]{1,20}")
SEGMENT_RE = re.compile(r"[0-9A-Za-z]{1,16}")
ASSET_RE = re.compile(r"[0-9A-Za-z]{1,32}")
# DL/T 645 energy: up to 8 integer digits and up to 4 decimals, exactly as the meter shows them
READING_RE = re.compile(r"\d{1,8}(\.\d{1,4})?")
DAY_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
CARD_SERIAL_RE = re.compile(r"[0-9A-Fa-f]{16}")
MAX_TEXT = 200


class Refusal(Exception):
    """A request refused by the station: becomes ``{"ok": false, "code", "msg", **extra}``."""

    def __init__(self, code: ErrorCode, msg: str, **extra: Any) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"ok": False, "code": str(self.code), "msg": self.msg, **self.extra}


def bad(msg: str) -> Refusal:
    return Refusal(ErrorCode.BAD_REQUEST, msg)


def string(body: Mapping[str, Any], key: str, pattern: re.Pattern[str] | None = None, *,
           max_len: int = MAX_TEXT, optional: bool = False) -> str | None:
    value = body.get(key)
    if value is None or (optional and value == ""):  # an empty optional text is an absent one
        if optional:
            return None
        raise bad(f'"{key}" is missing')
    if not isinstance(value, str):
        raise bad(f'"{key}" must be a string')
    if pattern is not None and not pattern.fullmatch(value):
        raise bad(f'"{key}" is not in the expected format')
    if not value.strip() or len(value) > max_len:
        raise bad(f'"{key}" must be 1..{max_len} characters')
    return value


def req_string(body: Mapping[str, Any], key: str, pattern: re.Pattern[str] | None = None, *,
               max_len: int = MAX_TEXT) -> str:
    value = string(body, key, pattern, max_len=max_len)
    assert value is not None
    return value


def integer(body: Mapping[str, Any], key: str, lo: int, hi: int | None = None) -> int:
    """An integer in [lo, hi]; values above ``hi`` are E_BAD_REQUEST (callers check limits first)."""
    value = body.get(key)
    if value is None:
        raise bad(f'"{key}" is missing')
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(f'"{key}" must be an integer')
    if value < lo or (hi is not None and value > hi):
        raise bad(f'"{key}" must be between {lo} and {hi}' if hi is not None else f'"{key}" must be at least {lo}')
    return value


def txn(body: Mapping[str, Any], terminal_id: str, key: str = "txn", *, own: bool = True) -> str:
    """A txn "<terminal id>-<counter>"; with ``own`` it must carry the sender's terminal id."""
    value = req_string(body, key, TXN_RE, max_len=28)
    if own and value[:8] != terminal_id:
        raise bad(f'"{key}" does not start with this terminal\'s id')
    return value


def time(body: Mapping[str, Any], key: str = "at") -> dt.datetime:
    """An ISO 8601 time with its offset (naive times are refused: the business day needs a zone)."""
    value = req_string(body, key, max_len=40)
    try:
        at = dt.datetime.fromisoformat(value)
    except ValueError:
        raise bad(f'"{key}" is not an ISO 8601 time') from None
    if at.tzinfo is None or at.utcoffset() is None:
        raise bad(f'"{key}" has no UTC offset')
    return at.astimezone(SHANGHAI)


def day(body: Mapping[str, Any], key: str = "day") -> dt.date:
    value = req_string(body, key, DAY_RE, max_len=10)
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise bad(f'"{key}" is not a calendar day') from None


def choice(body: Mapping[str, Any], key: str, allowed: frozenset[str] | set[str], *, optional: bool = False) -> str | None:
    value = string(body, key, max_len=32, optional=optional)
    if value is not None and value not in allowed:
        raise bad(f'"{key}" must be one of {", ".join(sorted(allowed))}')
    return value


def str_list(body: Mapping[str, Any], key: str, max_items: int) -> list[Any]:
    value = body.get(key)
    if not isinstance(value, list):
        raise bad(f'"{key}" must be a list')
    if len(value) > max_items:
        raise Refusal(ErrorCode.LIMIT, f'"{key}" has more than {max_items} items; send them in several requests',
                      max=max_items)
    return value


_LAT_RE = re.compile(r"[+-]?[0-9]{1,2}\.[0-9]{1,8}")  # ASCII digits: Decimal() would read others too
_LON_RE = re.compile(r"[+-]?[0-9]{1,3}\.[0-9]{1,8}")
_HDOP_RE = re.compile(r"[0-9]{1,3}(\.[0-9]{1,3})?")
PLACE_KEYS = frozenset({"lat", "lon", "fix_at", "age_s", "mode", "hdop", "sats", "source"})


def place(body: Mapping[str, Any], key: str = "place") -> dict[str, Any] | None:
    """An optional GNSS place of a reading (docs/protocol.md READINGS_UPLOAD): checked whole and
    returned with only its known keys, or None when absent."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise bad(f'"{key}" must be an object')
    unknown = set(value) - PLACE_KEYS
    if unknown:
        raise bad(f'"{key}" has unknown keys')
    lat = req_string(value, "lat", _LAT_RE, max_len=12)
    lon = req_string(value, "lon", _LON_RE, max_len=13)
    if abs(Decimal(lat)) > 90 or abs(Decimal(lon)) > 180:
        raise bad(f'"{key}" is not a place on Earth')
    fix_at = time(value, "fix_at")
    out: dict[str, Any] = {"lat": lat, "lon": lon, "fix_at": fix_at.isoformat(),
                           "age_s": integer(value, "age_s", 0, 10**7), "mode": choice(value, "mode", {"2D", "3D"}),
                           "source": choice(value, "source", {"CGNSINF", "QGPSLOC", "NMEA"})}
    if value.get("hdop") is not None:
        out["hdop"] = req_string(value, "hdop", _HDOP_RE, max_len=7)
    if value.get("sats") is not None:
        out["sats"] = integer(value, "sats", 0, 99)
    return out
