"""No stray commands in any print job, and characters outside GBK (issue 19 point 5).

Every template of ``terminal_app.documents.templates`` (and the printer's test page) is rendered
through the driver's renderer and its bytes parsed against the command set the driver declares
(:data:`drivers.printer.protocol.JOB_EVENTS`): any other command fails the test.
"""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from drivers.printer import protocol as p
from drivers.printer import raster, render
from drivers.printer.ticket import Line, Ticket
from terminal_app.documents import templates
from tests.unit.test_printer_layout import AT, all_documents, receipt_data
from tests.unit.test_printer_protocol import decode_all

RARE_NAME = "王䶮𠀀"  # 䶮 U+4DAE: GB18030 FE9F, not GBK; 𠀀 U+20000: 4-byte GB18030 (95 32 82 36)


def every_template() -> list[Ticket]:
    docs = all_documents()
    docs.append(templates.reversal_voucher(templates.ReversalVoucherData(
        voucher_no="V1", orig_receipt_no="R20261124000123", customer_no="0012345678", customer_name="张三丰",
        amount_fen=12345, reason="收错户", paid_at=AT, at=AT, operator="李四", terminal_id="00000001")))
    docs.append(templates.purchase_voucher(templates.PurchaseVoucherData(
        receipt_no="R20261124000124", customer_no="0012345678", customer_name="张三丰",
        meter_no="3300123456789012345678", amount_fen=10000, purchase_count=3, at=AT, operator="李四",
        terminal_id="00000001", remaining_fen=2345)))
    return docs


def test_every_template_function_is_covered():
    made = {t.kind for t in every_template()}
    builders = [name for name, f in inspect.getmembers(templates, inspect.isfunction)
                if f.__module__ == templates.__name__ and not name.startswith("_")
                and inspect.signature(f).return_annotation in ("Ticket", Ticket)]
    # one document per builder (purchase vouchers are receipts: count the builders, not kinds)
    assert len(builders) + 1 == len(every_template()), builders  # + the printer's test page
    assert len(made) >= 5


@pytest.mark.parametrize("qr_native", [False, True], ids=["raster-qr", "native-qr"])
@pytest.mark.parametrize("gb18030_font", [False, True], ids=["gbk-font", "gb18030-font"])
@pytest.mark.parametrize("copy", [False, True], ids=["original", "copy"])
def test_every_job_holds_only_declared_commands(qr_native, gb18030_font, copy):
    for ticket in every_template():
        job = render.job_bytes(ticket, copy=copy, qr_native=qr_native, gb18030_font=gb18030_font)
        assert p.undeclared(job) == [], ticket.kind


def test_the_check_catches_a_stray_code_page_command():
    # what python-escpos's qr(native=False) put around the image before: ESC t 1
    assert p.undeclared(b"\x1b@\x1c&\x1bt\x01\n") == [p.Setting(b"\x1bt\x01")]
    assert p.undeclared(b"\x1b@\x1b!\x08A\r\n") == [p.PrintMode(8), p.CarriageReturn()]
    with pytest.raises(p.PrinterProtocolError, match="ends inside"):
        p.undeclared(b"\x1b@\x1d")


def test_a_name_outside_gbk_goes_out_as_a_raster_line_on_a_gbk_printer():
    ticket = templates.receipt(receipt_data(customer_name=RARE_NAME))
    rare_lines = [b for b in ticket.blocks if isinstance(b, Line) and not raster.printable_by_gbk_font(b.text)]
    assert [b.text for b in rare_lines] == [next(t for t in ticket.lines if RARE_NAME in t)]
    job = render.job_bytes(ticket, copy=False)
    assert p.undeclared(job) == []
    assert bytes.fromhex("fe9f") not in job and bytes.fromhex("95328236") not in job
    events = decode_all(job)
    images = [e for e in events if isinstance(e, p.RasterImage)]
    assert len(images) == 2  # the name's line and the QR code
    line_img = images[0]
    assert line_img.width_bytes * 8 == 384 and line_img.height == raster.CELL_H + raster.LINE_GAP
    assert any(line_img.data)  # something is drawn
    # every other line still goes out as text, in order
    printed = "".join(e.text if isinstance(e, p.Text) else "\n" for e in events
                      if isinstance(e, (p.Text, p.LineFeed))).split("\n")
    assert [t for t in printed if t.strip()] == [t for t in ticket.lines if RARE_NAME not in t]


def test_a_gb18030_printer_gets_the_name_as_text():
    ticket = templates.receipt(receipt_data(customer_name=RARE_NAME))
    job = render.job_bytes(ticket, copy=False, gb18030_font=True)
    assert RARE_NAME.encode("gb18030") in job
    texts = "".join(e.text for e in decode_all(job) if isinstance(e, p.Text))
    assert RARE_NAME in texts
    assert sum(isinstance(e, p.RasterImage) for e in decode_all(job)) == 1  # the QR code only


def _ink_columns(img) -> list[int]:
    w, h = img.size
    px = img.load()
    return [x for x in range(w) if any(px[x, y] == 0 for y in range(h))]


def test_raster_line_draws_each_rare_character_with_a_real_glyph():
    # a character no font has comes out as the .notdef box; 䶮 and 𠀀 must not
    for ch in "䶮𠀀𠮷":
        faces = raster._faces(22, raster.FONT_CANDIDATES)
        assert any(raster._has_glyph(f, ch) for f in faces), f"no font draws U+{ord(ch):04X}"
    img = raster.line_image("户名：" + RARE_NAME, align="left")
    ink = _ink_columns(img)
    assert ink and max(ink) < 12 * 2 * 6  # six wide characters, left aligned
    centred = _ink_columns(raster.line_image(RARE_NAME, align="center"))
    assert min(centred) >= (384 - 3 * 24) // 2 - 1 and max(centred) <= (384 + 3 * 24) // 2


def test_a_missing_font_is_a_clear_configuration_error():
    from terminal_app.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="fonts-hanazono"):
        raster.line_image("𠀀", fonts=("/nonexistent/font.ttf",))


def test_printer_settings_carry_the_gb18030_switch():
    from drivers.printer import ThermalPrinter
    from terminal_app.config import PrinterSettings

    settings = dataclasses.replace(PrinterSettings(), gb18030_font=True)
    assert ThermalPrinter.from_settings(settings).gb18030_font is True
    assert PrinterSettings().gb18030_font is False
