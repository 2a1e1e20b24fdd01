"""Money and energy quantities: integer fen, Decimal kWh and prices, and THE rounding rule.

Money has one parser (:func:`parse_yuan`: what is typed, "12.3" → 1230), one formatter
(:func:`format_fen` "123.45", :func:`format_yuan` "￥123.45") and one set of bounds
(:data:`MAX_FEN` for any amount the terminal handles, :data:`MAX_KEYPAD_FEN` for one typed
field); business limits (a payment's maximum, a card purchase's) are rules of their own.

Rounding rule (the only one in the project, printed on bills as ``ROUNDING_RULE``):
    each bill line amount = kWh × price (元/kWh), computed exactly in Decimal, then rounded
    half-up (四舍五入) to the fen; the bill total = the sum of the line amounts in fen.

Money is always an ``int`` number of fen (分); energy (kWh) and prices (元/kWh) are
``decimal.Decimal`` parsed from decimal strings, never ``float``.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, localcontext

from terminal_app.domain.errors import InvalidValueError
from terminal_app.errors import N_

FEN_PER_YUAN = 100
#: any amount of money the terminal handles (bills, arrears, totals) is below this in magnitude
MAX_FEN = 10**12 - 1
#: the most one amount field on the keypad takes: 999 999.99 yuan (six digits before the point)
MAX_KEYPAD_FEN = 99_999_999
YUAN_SIGN = "￥"
_YUAN_RE = re.compile(r"[0-9]{1,6}(?:\.[0-9]{0,2})?")

ROUNDING_RULE = ("each line amount = kWh × price (yuan/kWh), rounded half-up to the fen; "
                 "total = sum of the line amounts")
ROUNDING_RULE_ZH = "每行金额 = 电量 × 电价（元/千瓦时），四舍五入到分；合计 = 各行金额之和"

#: largest energy one bill line may carry (kWh): far above any handheld customer, small enough
#: that kWh × price is exact at 50 digits
MAX_KWH = Decimal("100000000")
#: at most this many decimal places in an energy value (DL/T 645 shows 2; high-precision meters 4)
KWH_PLACES = 4
#: prices in 元/kWh: at most 6 decimal places, at most 100 元/kWh
PRICE_PLACES = 6
MAX_PRICE = Decimal("100")

_DECIMAL_RE = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,12})?")


def _parse(value: object, *, what: str, places: int, maximum: Decimal) -> Decimal:
    if isinstance(value, bool) or isinstance(value, float):
        # floats are refused outright: 0.1 + 0.2 is not money
        raise InvalidValueError("{item} {value!r} is a binary float, not a decimal.",
                                "Give it as a decimal string, e.g. \"12.34\".", item=what, value=value)
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, Decimal):
        text = format(value, "f") if value.is_finite() else "nan"
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise InvalidValueError("{item} {value!r} is not a number.", item=what, value=value)
    if len(text) > 40 or not _DECIMAL_RE.fullmatch(text):
        raise InvalidValueError("{item} {value!r} is not a non-negative decimal number.",
                                "Use digits with an optional decimal point, e.g. 123.45.",
                                item=what, value=value)
    d = Decimal(text)
    if -d.as_tuple().exponent > places:  # type: ignore[operator]
        raise InvalidValueError("{item} {value} has more than {places} decimal places.",
                                "Round it to {places} decimal places.", item=what, value=text, places=places)
    if d > maximum:
        raise InvalidValueError("{item} {value} is larger than {maximum}.",
                                "Check the value; it is beyond what this terminal bills.",
                                item=what, value=text, maximum=maximum)
    return d


def parse_kwh(value: object, what: str = N_("Energy (kWh)")) -> Decimal:
    """An energy amount or meter reading in kWh, from a decimal string (or int/Decimal)."""
    return _parse(value, what=what, places=KWH_PLACES, maximum=MAX_KWH)


def parse_price(value: object, what: str = N_("Price (yuan/kWh)")) -> Decimal:
    """A price in 元/kWh, from a decimal string (or Decimal)."""
    return _parse(value, what=what, places=PRICE_PLACES, maximum=MAX_PRICE)


def line_amount_fen(kwh: Decimal, price: Decimal) -> int:
    """kWh × price (元) rounded half-up to the fen — the rounding rule of this module."""
    if not isinstance(kwh, Decimal) or not isinstance(price, Decimal):
        raise TypeError("kWh and price must be Decimal")
    with localcontext() as ctx:
        ctx.prec = 50  # exact for every value parse_kwh/parse_price accept
        fen = (kwh * price * FEN_PER_YUAN).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(fen)


def check_fen(value: object, what: str = N_("Amount (fen)"), *, allow_negative: bool = False) -> int:
    """Return ``value`` if it is an int number of fen (bool refused), else raise InvalidValueError."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidValueError("{item} {value!r} is not a whole number of fen.", item=what, value=value)
    if value < 0 and not allow_negative:
        raise InvalidValueError("{item} {value} is negative.", item=what, value=value)
    if abs(value) > MAX_FEN:
        raise InvalidValueError("{item} {value} is out of range.", item=what, value=value)
    return value


def format_fen(fen: int) -> str:
    """Fen as 元 with two decimals, e.g. 12345 → '123.45', -5 → '-0.05' (for screens and paper)."""
    sign = "-" if fen < 0 else ""
    q, r = divmod(abs(fen), FEN_PER_YUAN)
    return f"{sign}{q}.{r:02d}"


def format_yuan(fen: int, sign: bool = True) -> str:
    """Fen as 元 for paper: 12345 → '￥123.45', -5 → '-￥0.05' (``sign`` False: without ￥)."""
    text = format_fen(abs(fen))
    return ("-" if fen < 0 else "") + (YUAN_SIGN if sign else "") + text


def parse_yuan(text: str, what: str = N_("Amount (yuan)"), *, maximum: int = MAX_KEYPAD_FEN) -> int:
    """An amount typed in yuan → fen: "12.3" → 1230 (at most two decimals, never float), more
    than 0 and at most ``maximum``; InvalidValueError otherwise."""
    if not isinstance(text, str) or not _YUAN_RE.fullmatch(text):
        raise InvalidValueError("{item} {value!r} is not an amount in yuan with at most two decimals.",
                                "Type the amount again, e.g. 12.30.", item=what, value=str(text)[:16])
    value = int((Decimal(text) * FEN_PER_YUAN).to_integral_exact())
    if not 0 < value <= maximum:
        raise InvalidValueError("{item} {value} is not between 0.01 and {max} yuan.", "Type the amount again.",
                                item=what, value=text, max=format_fen(maximum))
    return value


def format_kwh(kwh: Decimal) -> str:
    """A kWh Decimal as a plain decimal string, without exponent ('1E+2' → '100')."""
    return format(kwh, "f")
