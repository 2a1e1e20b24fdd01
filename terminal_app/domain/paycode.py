"""The customer's payment code (付款码) read off a phone: which wallet it belongs to, and how to name it
without ever writing it down whole.

A 付款码 is a one-time bearer token: whoever holds the digits within its minute of life can take the
customer's money once.  So the code itself goes only to the station (which hands it to the acquirer);
logs, journals, audit bodies, receipts and screens carry :func:`redact` — the channel and a masked code.

The two formats the acquirers publish (docs/acquirer.md cites them):

- WeChat Pay 付款码: 18 digits beginning 10, 11, 12, 13, 14 or 15;
- Alipay 付款码: 16 to 24 digits beginning 25 to 30.

Anything else — a bill's barcode, a meter number, a code with letters or spaces inside — is refused with
:class:`PayCodeError`, never guessed at.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from terminal_app.errors import N_, BusinessRuleError

#: a scanner hands over at most a line; anything longer is not a payment code (bounded before any regex)
MAX_SCAN_CHARS = 64

_WECHAT_RE = re.compile(r"1[0-5][0-9]{16}")
_ALIPAY_RE = re.compile(r"(?:2[5-9]|30)[0-9]{14,22}")
#: what a scanner may put around the digits (a CR/LF suffix, a stray space); nothing inside is forgiven
_SURROUNDING = " \t\r\n"
#: digits shown at each end of a masked code: the channel's prefix and enough of the tail to tell two
#: scans apart on a receipt, never enough to pay with
SHOW_HEAD, SHOW_TAIL = 2, 4


class PayChannel(StrEnum):
    """Which wallet the customer pays from (the station's ``method``)."""

    WECHAT = "wechat"
    ALIPAY = "alipay"

    @property
    def title(self) -> str:  # type: ignore[override]  # the wallet's name, not str.title()
        """The wallet's name as the operator and the customer know it (a msgid: translate it to show it)."""
        return CHANNEL_TITLES[self]


CHANNEL_TITLES = {PayChannel.WECHAT: N_("WeChat Pay"), PayChannel.ALIPAY: N_("Alipay")}


class PayCodeError(BusinessRuleError):
    """What was scanned is not a WeChat Pay or Alipay payment code."""

    default_action = "Ask the customer to open the payment code (付款码) in WeChat or Alipay and scan it again."


def mask(code: str) -> str:
    """The code with all but its first two and last four digits hidden: ``13************3456``."""
    if len(code) <= SHOW_HEAD + SHOW_TAIL:
        return "*" * len(code)
    return code[:SHOW_HEAD] + "*" * (len(code) - SHOW_HEAD - SHOW_TAIL) + code[-SHOW_TAIL:]


@dataclass(frozen=True, slots=True)
class PayCode:
    """A recognised 付款码.  ``str()`` and ``repr()`` show it masked: only :attr:`secret` is the whole code,
    and only the station's request to the acquirer may read it."""

    channel: PayChannel
    secret: str = field(repr=False)

    def __post_init__(self) -> None:
        if channel_of(self.secret) is not self.channel:
            raise ValueError("a PayCode must be made by parse_paycode")

    @property
    def masked(self) -> str:
        return mask(self.secret)

    def redacted(self) -> str:
        """For logs, journals and audit bodies: ``wechat:13************3456``."""
        return redact(self)

    def describe(self, translate: Callable[[str], str] = lambda s: s) -> str:
        """For receipts and screens: ``微信支付 13************3456`` (the wallet's name translated)."""
        return f"{translate(self.channel.title)} {self.masked}"

    def __str__(self) -> str:
        return self.redacted()

    def __repr__(self) -> str:
        return f"PayCode({self.redacted()})"


def channel_of(digits: str) -> PayChannel | None:
    """The wallet a code of digits belongs to, or None (no error: for checks that only ask)."""
    if not isinstance(digits, str) or len(digits) > MAX_SCAN_CHARS:
        return None
    if _WECHAT_RE.fullmatch(digits):
        return PayChannel.WECHAT
    if _ALIPAY_RE.fullmatch(digits):
        return PayChannel.ALIPAY
    return None


def parse_paycode(scanned: str) -> PayCode:
    """Recognise what the scanner read; :class:`PayCodeError` for anything that is not a 付款码.

    The error never quotes what was scanned (it may be a real code of another kind, or a whole code
    with a typo): it says how long it was, which is enough to tell a bill's barcode from a torn scan."""
    if not isinstance(scanned, str):
        raise PayCodeError("The scanner gave no text.", length=0)
    if len(scanned) > MAX_SCAN_CHARS:
        raise PayCodeError("What was scanned is too long to be a payment code ({length} characters).",
                           length=len(scanned))
    text = scanned.strip(_SURROUNDING)
    if not text:
        raise PayCodeError("Nothing was scanned.")
    channel = channel_of(text)
    if channel is None:
        if not text.isascii() or not text.isdigit():
            raise PayCodeError("What was scanned is not a payment code: it has characters other than digits.",
                               length=len(text))
        raise PayCodeError("A code of {length} digits is neither a WeChat Pay code (18 digits starting 10–15)"
                           " nor an Alipay code (16–24 digits starting 25–30).", length=len(text))
    return PayCode(channel, text)


def redact(code: PayCode | str) -> str:
    """Channel and masked code, safe for any log line, journal entry, audit body or receipt:
    ``wechat:13************3456``; a string that is not a payment code becomes ``unknown:<n digits>``
    (so a caller that redacts before checking leaks nothing either)."""
    if isinstance(code, PayCode):
        return f"{code.channel.value}:{code.masked}"
    if isinstance(code, str):
        channel = channel_of(code)
        if channel is not None:
            return f"{channel.value}:{mask(code)}"
        return f"unknown:{len(code)} chars"
    return "unknown"
