"""Byte-exact ESC/POS output (python-escpos's Dummy), and python-escpos kept off the terminal."""

from __future__ import annotations

import subprocess
import sys

import pytest

from drivers.printer import protocol as p
from drivers.printer import render
from drivers.printer._escpos import PROFILE, Dummy
from drivers.printer.ticket import COPY_MARK, Align, Feed, Line, Qr, Ticket, TicketKind
from tests.conftest import ROOT
from tests.unit.test_printer_layout import all_documents
from tests.unit.test_printer_protocol import decode_all

# GB2312/GB18030 codes, from the GB 2312 code table: 缴 BDC9 费 B7D1 凭 C6BE 证 D6A4,
# 户 BBA7 名 C3FB ： A3BA 张 D5C5 三 C8FD ， A3AC 李 C0EE 四 CBC4 ￥ A3A4
GB_TITLE = bytes.fromhex("bdc9 b7d1 c6be d6a4")
GB_NAMES = bytes.fromhex("bba7 c3fb a3ba d5c5 c8fd a3ac c0ee cbc4")
GB_YUAN = bytes.fromhex("a3a4")


def small_ticket() -> Ticket:
    return Ticket("R1", TicketKind.RECEIPT, (
        Line("缴费凭证", Align.CENTER, bold=True, double=True),
        Line("户名：张三，李四"),
        Line("金额 ￥12.34", bold=True),
        Feed(2),
    ))


def test_receipt_bytes_are_exact_gb18030_in_chinese_mode():
    dummy = Dummy(profile=PROFILE)
    render.render_ticket(dummy, small_ticket(), copy=False)
    assert dummy.output == (
        b"\x1b@" b"\x1c&"  # ESC @, then FS & (Chinese mode) once per job
        b"\x1ba\x01" b"\x1bE\x01" b"\x1d!\x11" + GB_TITLE + b"\n"  # centred, bold, double
        + b"\x1ba\x00" b"\x1bE\x00" b"\x1d!\x00" + GB_NAMES + b"\n"
        + b"\x1bE\x01" b"\xbd\xf0\xb6\xee " + GB_YUAN + b"12.34\n"  # 金 BDF0 额 B6EE
        + b"\x1bE\x00" b"\x1bd\x02"  # Feed(2)
        + b"\x1bd\x03" b"\x1dVB\x00"  # feed past the tear bar, cut
    )


def test_copy_is_marked_top_and_bottom():
    dummy = Dummy(profile=PROFILE)
    render.render_ticket(dummy, small_ticket(), copy=True)
    mark = COPY_MARK.encode("gb18030")
    assert dummy.output.startswith(b"\x1b@\x1c&\x1ba\x01\x1bE\x01" + mark + b"\n")
    assert dummy.output.count(mark) == 2
    lines = [e.text for e in decode_all(dummy.output) if isinstance(e, p.Text)]
    assert lines[0] == lines[-1] == "重打/副本"  # Chinese only on paper


def test_python_escpos_own_encoder_would_lose_fullwidth_punctuation():
    # the field fact this driver works around: text() without a U+4E00–U+9FA5 character
    dummy = Dummy(profile=PROFILE)
    dummy.text("：，￥")
    assert b"?" in dummy.output and GB_YUAN not in dummy.output


@pytest.mark.parametrize("ticket", all_documents(), ids=lambda t: t.kind.name)
def test_every_document_decodes_back_to_its_lines_without_question_marks(ticket):
    data = render.job_bytes(ticket, copy=False)
    events = decode_all(data)
    text_lines = "".join(e.text if isinstance(e, p.Text) else "\n"
                         for e in events if isinstance(e, (p.Text, p.LineFeed))).split("\n")
    printed = [line for line in text_lines if line.strip()]
    assert printed == ticket.lines
    assert all("?" not in line for line in printed)
    assert events[:2] == [p.Initialize(), p.ChineseMode(True)]
    assert sum(isinstance(e, p.ChineseMode) for e in events) == 1


def test_native_qr_sends_the_receipt_number_with_gs_k():
    ticket = Ticket("R20261124000123", TicketKind.RECEIPT, (Qr("R20261124000123"),))
    events = decode_all(render.job_bytes(ticket, copy=False, qr_native=True))
    assert p.QrStore(b"R20261124000123") in events
    assert events.index(p.QrStore(b"R20261124000123")) < events.index(p.QrPrint())


def test_raster_qr_is_a_gs_v_0_image_that_fits_the_head():
    ticket = Ticket("R2", TicketKind.RECEIPT, (Qr("R20261124000123"),))
    images = [e for e in decode_all(render.job_bytes(ticket, copy=False)) if isinstance(e, p.RasterImage)]
    assert len(images) == 1 and images[0].width_bytes * 8 <= 384


def test_python_escpos_is_kept_off_the_terminal(tmp_path):
    # in a fresh interpreter: importing and using it must not print, nor configure root logging,
    # and its capability cache must not go to a fresh temp dir
    code = (
        "import logging, os\n"
        "from drivers.printer import render\n"
        "from tests.unit.test_printer_layout import all_documents\n"
        "render.job_bytes(all_documents()[0], copy=False)\n"
        "print('handlers', len(logging.getLogger().handlers))\n"
        "print('pickle', os.environ['ESCPOS_CAPABILITIES_PICKLE_DIR'])\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    assert out.stdout.splitlines() == ["handlers 0", f"pickle {tmp_path / 'cache' / 'handheld' / 'escpos'}"]


def test_importing_the_printer_package_does_not_import_python_escpos():
    code = "import sys, drivers.printer, terminal_app.documents.templates, drivers.printer.testpage; print('escpos' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
