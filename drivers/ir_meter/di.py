"""Data identifiers (数据标识) the terminal reads, and how their bytes become exact values.

Formats follow DL/T 645-2007 附录 A (and -1997 §5): BCD, least significant byte first, with a
fixed number of decimals (``XXXXXX.XX`` kWh = 4 bytes, scale 2).  Signed formats (current,
power) use bit 7 of the most significant byte as the sign.  Values are :class:`~decimal.Decimal`
built from the digits — never floats.  Block DIs (``…FF…``) are a run of same-sized items.
A DI not in the table still decodes: :func:`decode_value` returns ``None`` and the raw bytes
stay available to the caller.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from drivers.ir_meter.protocol import (
    Direction,
    Dlt645Error,
    Frame,
    Function,
    Payload,
    Standard,
    bcd_digits,
    normalize_di,
    split_payload,
    to_bcd,
)
from terminal_app.errors import LocalProtocolError


class Kind(enum.Enum):
    DECIMAL = "decimal"  # BCD number with ``scale`` decimals
    DATE = "date"  # YYMMDDWW (2007 04000101, 1997 C010) → "2026-11-24"
    TIME = "time"  # hhmmss → "14:05:09"
    DIGITS = "digits"  # BCD digit string (address, meter number) → "000012345678"
    WORDS = "words"  # 2-byte status words → "0000" hex each, most significant first
    ASCII = "ascii"  # ASCII text, sent least significant (last) character first like every field


@dataclass(frozen=True, slots=True)
class Register:
    di: str
    name: str
    size: int  # bytes per item
    kind: Kind = Kind.DECIMAL
    scale: int = 0
    unit: str = ""
    signed: bool = False
    members: tuple[str, ...] = ()  # for a block DI: the single DIs it carries, in order

    @property
    def block(self) -> bool:
        return bool(self.members) or self.kind is Kind.WORDS


Value = Decimal | str | tuple[Decimal, ...] | tuple[str, ...]


def _energy(prefix: str, name: str, standard: Standard, *, settlement: int = 0, signed: bool = False,
            unit: str = "kWh") -> list[Register]:
    """Total + tariffs 1–4 + the block, for one energy quantity.

    2007: DI3 DI2 = ``prefix``, DI1 = tariff (00 total, FF block), DI0 = settlement day (00 the
    current values, 01 those frozen at the last settlement day, 上1结算日).
    """
    if standard is Standard.V2007:
        singles = [f"{prefix}{t:02X}{settlement:02X}" for t in range(5)]
        block = f"{prefix}FF{settlement:02X}"
    else:
        singles = [f"{prefix}{t:X}" for t in range(5)]
        block = f"{prefix}F"
    when = "" if not settlement else f" (last settlement {settlement})"
    regs = [Register(d, f"{name} {'total' if i == 0 else f'tariff {i}'}{when}", 4, scale=2, unit=unit,
                     signed=signed)
            for i, d in enumerate(singles)]
    regs.append(Register(block, f"{name} block (total, tariffs 1-4){when}", 4, scale=2, unit=unit,
                         signed=signed, members=tuple(singles)))
    return regs


def _phases(dis: Sequence[str], block: str, name: str, size: int, scale: int, unit: str,
            signed: bool = False) -> list[Register]:
    regs = [Register(d, f"phase {p} {name}", size, scale=scale, unit=unit, signed=signed)
            for d, p in zip(dis, "ABC", strict=True)]
    regs.append(Register(block, f"{name} block (A, B, C)", size, scale=scale, unit=unit, signed=signed,
                         members=tuple(dis)))
    return regs


_2007: list[Register] = [
    # 电能量 (A.1): combined active = forward ± reverse by the meter's 有功组合方式特征字, so it
    # can go negative: bit 7 of its top byte is the sign, as for the combined reactive energies
    *_energy("0000", "combined active energy", Standard.V2007, signed=True),
    *_energy("0001", "forward active energy", Standard.V2007),
    *_energy("0002", "reverse active energy", Standard.V2007),
    *_energy("0003", "combined reactive energy 1", Standard.V2007, signed=True, unit="kvarh"),
    *_energy("0004", "combined reactive energy 2", Standard.V2007, signed=True, unit="kvarh"),
    *_energy("0000", "combined active energy", Standard.V2007, settlement=1, signed=True),
    *_energy("0001", "forward active energy", Standard.V2007, settlement=1),
    *_energy("0002", "reverse active energy", Standard.V2007, settlement=1),
    # 变量 (A.3)
    *_phases(["02010100", "02010200", "02010300"], "0201FF00", "voltage", 2, 1, "V"),
    *_phases(["02020100", "02020200", "02020300"], "0202FF00", "current", 3, 3, "A", signed=True),
    Register("02030000", "total active power", 3, scale=4, unit="kW", signed=True),
    *_phases(["02030100", "02030200", "02030300"], "0203FF00", "active power", 3, 4, "kW", signed=True),
    Register("02060000", "total power factor", 2, scale=3, signed=True),
    *_phases(["02060100", "02060200", "02060300"], "0206FF00", "power factor", 2, 3, "", signed=True),
    Register("02800002", "grid frequency", 2, scale=2, unit="Hz"),
    # 参变量 (A.5)
    Register("04000101", "date", 4, Kind.DATE),
    Register("04000102", "time", 3, Kind.TIME),
    Register("04000401", "communication address", 6, Kind.DIGITS),
    Register("04000402", "meter number", 6, Kind.DIGITS),
    Register("04000404", "rated voltage", 6, Kind.ASCII),
    Register("04000405", "rated (basic) current", 6, Kind.ASCII),
    Register("04000406", "maximum current", 6, Kind.ASCII),
    Register("04000409", "active meter constant", 3, unit="imp/kWh"),
    Register("0400040A", "reactive meter constant", 3, unit="imp/kvarh"),
    Register("0400040B", "meter model", 10, Kind.ASCII),
    *[Register(f"0400050{i}", f"status word {i}", 2, Kind.WORDS) for i in range(1, 8)],
    Register("040005FF", "status words 1-7", 2, Kind.WORDS,
             members=tuple(f"0400050{i}" for i in range(1, 8))),
    # 费控表 (cost-control meters), DL/T 645-2007 附录 A.1
    Register("00900100", "remaining energy", 4, scale=2, unit="kWh"),
    Register("00900200", "remaining amount", 4, scale=2, unit="元"),
    Register("00900201", "overdraft amount", 4, scale=2, unit="元"),
]

_1997: list[Register] = [
    *_energy("901", "forward active energy", Standard.V1997),
    *_energy("902", "reverse active energy", Standard.V1997),
    # DL/T 645-1997 voltage is XXX V (no decimals), current XX.XX A
    *_phases(["B611", "B612", "B613"], "B61F", "voltage", 2, 0, "V"),
    *_phases(["B621", "B622", "B623"], "B62F", "current", 2, 2, "A"),
    Register("B630", "total active power", 3, scale=4, unit="kW", signed=True),
    Register("C010", "date", 4, Kind.DATE),
    Register("C011", "time", 3, Kind.TIME),
    Register("C032", "meter number", 6, Kind.DIGITS),
    Register("C033", "customer number", 6, Kind.DIGITS),
    Register("C034", "device code", 6, Kind.DIGITS),
    Register("C020", "meter run status word", 1, Kind.WORDS),
    Register("C030", "active meter constant", 3, unit="imp/kWh"),
    Register("C031", "reactive meter constant", 3, unit="imp/kvarh"),
]

TABLE: dict[Standard, dict[str, Register]] = {
    Standard.V2007: {r.di: r for r in _2007},
    Standard.V1997: {r.di: r for r in _1997},
}

#: the 1997 DI carrying the same quantity as a 2007 DI, for meters that only speak 1997
EQUIVALENT_1997: dict[str, str] = {
    "00010000": "9010", "00010100": "9011", "00010200": "9012", "00010300": "9013", "00010400": "9014",
    "0001FF00": "901F",
    "00020000": "9020", "00020100": "9021", "00020200": "9022", "00020300": "9023", "00020400": "9024",
    "0002FF00": "902F",
    "02010100": "B611", "02010200": "B612", "02010300": "B613", "0201FF00": "B61F",
    "02020100": "B621", "02020200": "B622", "02020300": "B623", "0202FF00": "B62F",
    "02030000": "B630",
    "04000101": "C010", "04000102": "C011", "04000402": "C032",
    "04000409": "C030", "0400040A": "C031",
}
EQUIVALENT_2007 = {v: k for k, v in EQUIVALENT_1997.items()}

_READ_FUNCTIONS = {Function.READ, Function.READ_FOLLOWUP, Function.READ_1997, Function.READ_FOLLOWUP_1997,
                   Function.REREAD_1997}


def lookup(di: str, standard: Standard) -> Register | None:
    return TABLE[standard].get(di.upper())


def di_for(di: str, standard: Standard) -> str:
    """The DI to send to a ``standard`` meter for the quantity ``di`` names (either standard)."""
    text = di.strip().upper()
    if standard is Standard.V1997 and len(text) == 8:
        if text not in EQUIVALENT_1997:
            raise LocalProtocolError("There is no DL/T 645-1997 equivalent of data identifier {di}.",
                                     "Give the 4-digit 1997 identifier instead.", di=text)
        return EQUIVALENT_1997[text]
    if standard is Standard.V2007 and len(text) == 4:
        if text not in EQUIVALENT_2007:
            raise LocalProtocolError("There is no DL/T 645-2007 equivalent of data identifier {di}.",
                                     "Give the 8-digit 2007 identifier instead.", di=text)
        return EQUIVALENT_2007[text]
    return normalize_di(text, standard)


def _decode_item(reg: Register, raw: bytes) -> Decimal | str:
    if reg.kind is Kind.WORDS:
        return raw[::-1].hex().upper()
    if reg.kind is Kind.ASCII:
        text = raw[::-1]
        if any(b > 0x7E or (b < 0x20 and b != 0) for b in text):
            raise Dlt645Error("The meter sent {value} for an ASCII field.", value=raw.hex().upper())
        return text.rstrip(b"\x00").decode("ascii")
    if reg.signed:
        negative = bool(raw[-1] & 0x80)
        raw = raw[:-1] + bytes([raw[-1] & 0x7F])
    else:
        negative = False
    digits = bcd_digits(raw)
    if reg.kind is Kind.DECIMAL:
        return Decimal((1 if negative else 0, tuple(int(c) for c in digits), -reg.scale))
    if reg.kind is Kind.DIGITS:
        return digits
    if reg.kind is Kind.TIME:
        hh, mm, ss = digits[0:2], digits[2:4], digits[4:6]
        if int(hh) > 23 or int(mm) > 59 or int(ss) > 59:
            raise Dlt645Error("The meter sent an impossible time {value}.", value=f"{hh}:{mm}:{ss}")
        return f"{hh}:{mm}:{ss}"
    # DATE: YYMMDDWW, WW = weekday 0 (Sunday)..6, dropped: the date implies it
    yy, mo, dd = digits[0:2], digits[2:4], digits[4:6]
    if not (1 <= int(mo) <= 12 and 1 <= int(dd) <= 31):
        raise Dlt645Error("The meter sent an impossible date {value}.", value=f"{yy}-{mo}-{dd}")
    return f"20{yy}-{mo}-{dd}"


def decode_value(di: str, data: bytes, standard: Standard) -> Value | None:
    """The value of ``data`` read from ``di``; ``None`` for a DI not in the table."""
    reg = lookup(di, standard)
    if reg is None:
        return None
    if reg.block:
        if not data or len(data) % reg.size:
            raise Dlt645Error("The meter sent {n} bytes for block {di}, not a multiple of {size}.",
                              n=len(data), di=di, size=reg.size)
        items = [_decode_item(reg, data[i:i + reg.size]) for i in range(0, len(data), reg.size)]
        return tuple(items)  # type: ignore[return-value]
    if len(data) != reg.size:
        raise Dlt645Error("The meter sent {n} bytes for {di}; DL/T 645 defines {size}.",
                          n=len(data), di=di, size=reg.size)
    return _decode_item(reg, data)


def unit_of(di: str, standard: Standard) -> str:
    reg = lookup(di, standard)
    return reg.unit if reg is not None else ""


def _encode_item(reg: Register, value: Decimal | str) -> bytes:
    if reg.kind is Kind.WORDS:
        raw = bytes.fromhex(str(value))[::-1]
        if len(raw) != reg.size:
            raise LocalProtocolError("Status word {value} is not {n} bytes.", value=value, n=reg.size)
        return raw
    if reg.kind is Kind.DECIMAL:
        d = Decimal(value)
        scaled = d.scaleb(reg.scale)
        if scaled != scaled.to_integral_value():
            raise LocalProtocolError("{value} has more than {scale} decimals for {di}.",
                                     value=value, scale=reg.scale, di=reg.di)
        n = int(scaled)
        if n < 0 and not reg.signed:
            raise LocalProtocolError("{di} cannot be negative.", di=reg.di)
        raw = to_bcd(abs(n), reg.size)
        if n < 0 or (reg.signed and d.is_signed()):
            if raw[-1] & 0x80:
                raise LocalProtocolError("{value} does not fit {di}.", value=value, di=reg.di)
            raw = raw[:-1] + bytes([raw[-1] | 0x80])
        elif reg.signed and raw[-1] & 0x80:
            raise LocalProtocolError("{value} does not fit {di}.", value=value, di=reg.di)
        return raw
    if reg.kind is Kind.ASCII:
        try:
            text_bytes = str(value).encode("ascii")
        except UnicodeEncodeError as e:
            raise LocalProtocolError("{value!r} is not ASCII.", value=value) from e
        if len(text_bytes) > reg.size or any(b < 0x20 or b > 0x7E for b in text_bytes):
            raise LocalProtocolError("{value!r} does not fit {n} printable ASCII characters.",
                                     value=value, n=reg.size)
        return text_bytes.ljust(reg.size, b"\x00")[::-1]
    text = str(value).replace("-", "").replace(":", "")
    if reg.kind is Kind.DATE:
        text = text[2:] + "00" if len(text) == 8 else text  # weekday left 00 unless given
    if not text.isdigit() or len(text) != 2 * reg.size:
        raise LocalProtocolError("{value!r} is not a valid {name}.", value=value, name=reg.name)
    return bytes.fromhex(text)[::-1]


def encode_value(di: str, value: Value, standard: Standard) -> bytes:
    """Bytes a meter sends for ``value`` (the mock meter's side of :func:`decode_value`)."""
    reg = lookup(di, standard)
    if reg is None:
        raise LocalProtocolError("Data identifier {di} is not in the table; give its raw bytes.", di=di)
    if reg.block:
        items = value if isinstance(value, (tuple, list)) else (value,)
        return b"".join(_encode_item(reg, v) for v in items)
    if isinstance(value, (tuple, list)):
        raise LocalProtocolError("{di} holds one value, not a list.", di=di)
    return _encode_item(reg, value)


@dataclass(frozen=True, slots=True)
class Reading:
    """One register read from a meter."""

    di: str  # as sent to the meter (2007 or 1997 form)
    value: Value | None  # None: DI not in the table, see ``raw``
    unit: str
    raw: bytes  # value bytes, 33H removed, DI stripped


def interpret(frame: Frame) -> tuple[Payload, Reading | None]:
    """Split ``frame`` and, for a normal read reply, decode its value.

    Raises :class:`~drivers.ir_meter.protocol.Dlt645Error` (and nothing else) when the frame's
    data breaks the standard.
    """
    payload = split_payload(frame)
    if (payload.di is None or payload.error is not None or frame.direction is Direction.REQUEST
            or frame.function not in _READ_FUNCTIONS):
        return payload, None
    # a reply in several frames (D5, or a 12H/02H continuation) carries a piece of the value:
    # only the driver, having joined the pieces, can decode it
    whole = not frame.more and frame.function in (Function.READ, Function.READ_1997)
    value = decode_value(payload.di, payload.data, payload.standard) if whole else None
    return payload, Reading(payload.di, value, unit_of(payload.di, payload.standard), payload.data)
