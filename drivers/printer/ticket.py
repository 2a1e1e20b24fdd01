"""What gets printed: a ticket with an identity, made of laid-out lines, a QR code and feeds.

The core's documents (``terminal_app.documents``) build tickets from data; the driver renders
them.  The identity
(e.g. the receipt number) is what the no-second-original rule is keyed on.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass

from drivers.printer import layout
from terminal_app.errors import LocalProtocolError
from terminal_app.timeutil import SHANGHAI


class Align(enum.Enum):
    LEFT = "left"
    CENTER = "center"
    RIGHT = "right"


@dataclass(frozen=True, slots=True)
class Line:
    """One printed line; ``double`` prints it at twice the width and height (16 columns)."""

    text: str
    align: Align = Align.LEFT
    bold: bool = False
    double: bool = False

    def __post_init__(self) -> None:
        if "\n" in self.text or layout.clean(self.text) != self.text:
            raise LocalProtocolError("A printed line contains control characters: {text!r}.",
                                     "Lay text out with drivers.printer.layout.", text=self.text)


@dataclass(frozen=True, slots=True)
class Qr:
    data: str

    def __post_init__(self) -> None:
        if not 0 < len(self.data) <= 256 or not self.data.isascii() or not self.data.isprintable():
            raise LocalProtocolError("QR data {data!r} is not 1–256 printable ASCII characters.",
                                     data=self.data)


@dataclass(frozen=True, slots=True)
class Feed:
    lines: int = 1


Block = Line | Qr | Feed


class TicketKind(enum.Enum):
    RECEIPT = "缴费凭证"
    READING_NOTICE = "抄表通知单"
    DUNNING_NOTICE = "催费通知单"
    SETTLEMENT_SLIP = "日结单"
    REVERSAL_VOUCHER = "冲正凭证"
    TEST_PAGE = "打印测试页"


@dataclass(frozen=True, slots=True)
class Ticket:
    """A printable document.  ``identity`` is unique per document (receipt number, notice id…)."""

    identity: str
    kind: TicketKind
    blocks: tuple[Block, ...]

    def __post_init__(self) -> None:
        if not self.identity or len(self.identity) > 64 or not self.identity.isprintable():
            raise LocalProtocolError("Ticket identity {identity!r} is empty, too long or unprintable.",
                                     identity=self.identity)

    @property
    def lines(self) -> list[str]:
        """The text lines as printed (without alignment padding), in order."""
        return [b.text for b in self.blocks if isinstance(b, Line)]

    def check_width(self, columns: int) -> None:
        """Raise :class:`LocalProtocolError` if any line is wider than the paper."""
        for b in self.blocks:
            if isinstance(b, Line):
                limit = columns // 2 if b.double else columns
                if layout.width(b.text) > limit:
                    raise LocalProtocolError(
                        "The line {text!r} is {w} columns wide; the paper has {limit}.",
                        "This is a template error: lay the line out with drivers.printer.layout.",
                        text=b.text, w=layout.width(b.text), limit=limit)


#: what a reprint carries, at the top and the bottom, so nobody takes it for the original
COPY_MARK = "重打/副本"  # Chinese on paper: no English word (issue 13)


class PrintOutcome(enum.Enum):
    ORIGINAL_PRINTED = "original"  # the one and only original went out and the printer is fine
    COPY_PRINTED = "copy"  # a copy went out (the original was printed before, or may have been)


@dataclass(frozen=True, slots=True)
class PrintResult:
    identity: str
    outcome: PrintOutcome

    @property
    def original(self) -> bool:
        return self.outcome is PrintOutcome.ORIGINAL_PRINTED


# -- building blocks for whoever composes a ticket (the core's documents, the test page) ---------
def time_text(at: dt.datetime) -> str:
    """An aware time as printed: Asia/Shanghai, ``YYYY-MM-DD HH:MM:SS``."""
    if at.tzinfo is None:
        raise LocalProtocolError("A naive time cannot be printed: {at}.", "Pass an aware datetime.", at=at)
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def lines(texts: Sequence[str], align: Align = Align.LEFT, bold: bool = False, double: bool = False) -> list[Block]:
    return [Line(t, align=align, bold=bold, double=double) for t in texts]


def header(issuer: str, title: str, columns: int) -> list[Block]:
    """The issuer (wrapped, centred), the title (bold, double size) and a rule."""
    return [
        *(lines(layout.wrap(issuer, columns), align=Align.CENTER)),
        Line(title, align=Align.CENTER, bold=True, double=True),
        Line(layout.rule(columns)),
    ]
