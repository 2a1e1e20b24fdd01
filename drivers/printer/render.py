"""Turning a :class:`~drivers.printer.ticket.Ticket` into ESC/POS through python-escpos.

Chinese mode is entered explicitly (``ESC @`` then ``FS &``, once per job) and every line's
bytes are written raw as GB18030: python-escpos's own text encoder only switches to GB18030
when a line holds a character in U+4E00–U+9FA5, so ``：，￥`` alone would come out as ``?``.
python-escpos still does what it does well: styles, native QR (``GS ( k``), raster images,
feeds.  A raster QR code is made here with ``qrcode`` and sent with python-escpos's
``image()``: its own ``qr(native=False)`` wraps the image in ``text("\\n")`` calls that emit a
stray code-page command (``ESC t 1``).  Every job holds only the commands
:data:`drivers.printer.protocol.JOB_EVENTS` declares.

A line with a character outside GBK (𠮷, 䶮 …) is sent as a raster image drawn in the
printer's cell grid (:mod:`drivers.printer.raster`) unless the printer has a GB18030 font
(``gb18030_font``), which then gets its 4-byte GB18030 codes.
"""

from __future__ import annotations

from typing import Protocol

from drivers.printer import protocol, raster
from drivers.printer.ticket import COPY_MARK, Align, Feed, Line, Qr, Ticket

#: QR module size in dots: 5 dots ≈ 0.6 mm modules on a 203-dpi head, easy for phone cameras
QR_MODULE_DOTS = 5


class EscposJob(Protocol):
    """What rendering uses of a python-escpos printer object (``escpos.escpos.Escpos``)."""

    def _raw(self, msg: bytes) -> None: ...

    def set(self, *, align: str = ..., bold: bool = ..., custom_size: bool = ..., width: int = ...,
            height: int = ...) -> None: ...

    def qr(self, content: str, *, size: int = ..., native: bool = ..., center: bool = ...) -> None: ...

    def image(self, img_source: object, *, center: bool = ..., impl: str = ...) -> None: ...

    def print_and_feed(self, n: int = 1) -> None: ...


def encode_line(text: str) -> bytes:
    """A laid-out line as the printer's bytes (strict GB18030: never a ``?`` replacement)."""
    return text.encode("gb18030") + b"\n"


def qr_image(data: str) -> object:
    """The QR code of ``data`` as a Pillow image: model 2, level L, one-module quiet zone,
    :data:`QR_MODULE_DOTS` dots a module (what python-escpos's ``qr(native=False)`` draws)."""
    import qrcode

    code = qrcode.QRCode(version=None, box_size=QR_MODULE_DOTS, border=1,
                         error_correction=qrcode.constants.ERROR_CORRECT_L)
    code.add_data(data)
    code.make(fit=True)
    return code.make_image()._img.convert("RGB")


def render_ticket(esc: EscposJob, ticket: Ticket, *, copy: bool, columns: int = 32,
                  qr_native: bool = False, gb18030_font: bool = False) -> None:
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
        if gb18030_font or raster.printable_by_gbk_font(item.text):
            style(item.align, item.bold, item.double)
            raw(encode_line(item.text))
            return
        style(Align.LEFT, False, False)  # the image carries alignment, weight and size itself
        esc.image(raster.line_image(item.text, columns=columns, align=item.align.value, bold=item.bold,
                                    double=item.double), center=False, impl="bitImageRaster")

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
                raw(b"\n")
                esc.image(qr_image(block.data), center=True, impl="bitImageRaster")
                raw(b"\n\n")
        elif isinstance(block, Feed):
            style(Align.LEFT, False, False)
            esc.print_and_feed(block.lines)
    if copy:
        line(Line(COPY_MARK, align=Align.CENTER, bold=True))
    style(Align.LEFT, False, False)
    esc.print_and_feed(3)
    raw(protocol.FEED_AND_CUT)


def job_bytes(ticket: Ticket, *, copy: bool, columns: int = 32, qr_native: bool = False,
              gb18030_font: bool = False) -> bytes:
    """The whole job as bytes, rendered through python-escpos's ``Dummy`` before any byte
    goes to the printer (so a rendering error can never leave half a job on paper)."""
    from drivers.printer._escpos import PROFILE, Dummy, quiet

    with quiet():
        dummy = Dummy(profile=PROFILE)
        render_ticket(dummy, ticket, copy=copy, columns=columns, qr_native=qr_native, gb18030_font=gb18030_font)
    out: bytes = dummy.output
    return out
