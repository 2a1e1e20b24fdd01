"""Turning a :class:`~drivers.printer.ticket.Ticket` into ESC/POS through python-escpos.

Chinese mode is entered explicitly (``ESC @`` then ``FS &``, once per job) and every line's
bytes are written raw as GB18030: python-escpos's own text encoder only switches to GB18030
when a line holds a character in U+4E00–U+9FA5, so ``：，￥`` alone would come out as ``?``.
python-escpos still does what it does well: styles, the QR code (native ``GS ( k`` or a
raster image rendered with ``qrcode``), feeds.
"""

from __future__ import annotations

from typing import Protocol

from drivers.printer import protocol
from drivers.printer.ticket import COPY_MARK, Align, Feed, Line, Qr, Ticket

#: QR module size in dots: 5 dots ≈ 0.6 mm modules on a 203-dpi head, easy for phone cameras
QR_MODULE_DOTS = 5


class EscposJob(Protocol):
    """What rendering uses of a python-escpos printer object (``escpos.escpos.Escpos``)."""

    def _raw(self, msg: bytes) -> None: ...

    def set(self, *, align: str = ..., bold: bool = ..., custom_size: bool = ..., width: int = ...,
            height: int = ...) -> None: ...

    def qr(self, content: str, *, size: int = ..., native: bool = ..., center: bool = ...) -> None: ...

    def print_and_feed(self, n: int = 1) -> None: ...


def encode_line(text: str) -> bytes:
    """A laid-out line as the printer's bytes (strict GB18030: never a ``?`` replacement)."""
    return text.encode("gb18030") + b"\n"


def render_ticket(esc: EscposJob, ticket: Ticket, *, copy: bool, columns: int = 32,
                  qr_native: bool = False) -> None:
    """Write ``ticket`` as one job to ``esc`` (any ``escpos.escpos.Escpos``, e.g. ``Dummy``).

    A copy carries :data:`~drivers.printer.ticket.COPY_MARK` at the top and the bottom.
    """
    ticket.check_width(columns)
    raw = esc._raw
    raw(protocol.INITIALIZE + protocol.CHINESE_MODE_ON)
    state = {"align": Align.LEFT, "bold": False, "double": False}

    def style(align: Align, bold: bool, double: bool) -> None:
        if state["align"] is not align:
            esc.set(align=align.value)
        if state["bold"] != bold:
            esc.set(bold=bold)
        if state["double"] != double:
            esc.set(custom_size=True, width=2 if double else 1, height=2 if double else 1)
        state.update(align=align, bold=bold, double=double)

    def line(item: Line) -> None:
        style(item.align, item.bold, item.double)
        raw(encode_line(item.text))

    if copy:
        line(Line(COPY_MARK, align=Align.CENTER, bold=True))
    for block in ticket.blocks:
        if isinstance(block, Line):
            line(block)
        elif isinstance(block, Qr):
            if qr_native:
                style(Align.CENTER, False, False)
                esc.qr(block.data, size=QR_MODULE_DOTS, native=True)
                raw(b"\n")
            else:
                style(Align.LEFT, False, False)
                esc.qr(block.data, size=QR_MODULE_DOTS, native=False, center=True)
        elif isinstance(block, Feed):
            style(Align.LEFT, False, False)
            esc.print_and_feed(block.lines)
    if copy:
        line(Line(COPY_MARK, align=Align.CENTER, bold=True))
    style(Align.LEFT, False, False)
    esc.print_and_feed(3)
    raw(protocol.FEED_AND_CUT)


def job_bytes(ticket: Ticket, *, copy: bool, columns: int = 32, qr_native: bool = False) -> bytes:
    """The whole job as bytes, rendered through python-escpos's ``Dummy`` before any byte
    goes to the printer (so a rendering error can never leave half a job on paper)."""
    from drivers.printer._escpos import PROFILE, Dummy, quiet

    with quiet():
        dummy = Dummy(profile=PROFILE)
        render_ticket(dummy, ticket, copy=copy, columns=columns, qr_native=qr_native)
    out: bytes = dummy.output
    return out
