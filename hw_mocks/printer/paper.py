"""What the mock printer has put on paper, and drawing it as a PNG with a CJK font.

The drawing copies a 58 mm head: 384 dots wide, font A cells of 12 × 24 dots for ASCII and
24 × 24 for every GB18030 multi-byte character (so a layout mistake shows as it would on a
real receipt), WenQuanYi Zen Hei as the printer font (Debian ``fonts-wqy-zenhei``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

HEAD_DOTS = 384
CELL_H = 24
LINE_GAP = 6  # default line spacing is 30 dots: 24-dot characters + 6
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
)


@dataclass
class TextRow:
    cells: list[tuple[str, bool, int, int]]  # (character, bold, width ×, height ×)
    align: int  # 0 left, 1 center, 2 right

    @property
    def text(self) -> str:
        return "".join(c[0] for c in self.cells)


@dataclass
class BlankRow:
    dots: int


@dataclass
class ImageRow:
    image: Any  # PIL image, mode "1"
    align: int
    label: str  # what the text record shows: "[QR] data" or "[IMAGE w×h]"


Row = TextRow | BlankRow | ImageRow


@dataclass
class PrintedTicket:
    """One ticket as it came out of the printer (up to the cut)."""

    number: int
    rows: list[Row] = field(default_factory=list)
    qr_codes: list[str] = field(default_factory=list)
    paper_ran_out: bool = False
    text_path: Path | None = None
    png_path: Path | None = None

    @property
    def lines(self) -> list[str]:
        """The printed text lines that are not blank, trailing spaces removed."""
        return [r.text.rstrip() for r in self.rows if isinstance(r, TextRow) and r.text.strip()]

    @property
    def text(self) -> str:
        """The text record saved next to the PNG."""
        out = []
        for r in self.rows:
            if isinstance(r, TextRow):
                out.append(r.text.rstrip())
            elif isinstance(r, ImageRow):
                out.append(r.label)
            else:
                out.append("")
        if self.paper_ran_out:
            out.append("[PAPER OUT]")
        return "\n".join(out) + "\n"

    def save(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        stem = out_dir / f"ticket-{self.number:04d}"
        self.text_path = stem.with_suffix(".txt")
        self.text_path.write_text(self.text, encoding="utf-8")
        self.png_path = stem.with_suffix(".png")
        draw_ticket(self).save(self.png_path)


_fonts: dict[int, Any] = {}


def _font(size: int) -> Any:
    from PIL import ImageFont

    if size not in _fonts:
        paths = [os.environ.get("HANDHELD_MOCK_FONT", ""), *FONT_CANDIDATES]
        for p in paths:
            if p and Path(p).exists():
                _fonts[size] = ImageFont.truetype(p, size)
                break
        else:
            log.warning("no CJK font found (install fonts-wqy-zenhei): Chinese will not be legible")
            _fonts[size] = ImageFont.load_default()
    return _fonts[size]


def _cell_width(ch: str) -> int:
    return 12 if " " <= ch <= "~" else 24


def draw_ticket(ticket: PrintedTicket) -> Any:
    """The ticket as a white strip of paper with black print (Pillow image)."""
    from PIL import Image, ImageDraw

    heights = []
    for r in ticket.rows:
        if isinstance(r, TextRow):
            h = max((c[3] for c in r.cells), default=1)
            heights.append(CELL_H * h + LINE_GAP)
        elif isinstance(r, ImageRow):
            heights.append(r.image.height)
        else:
            heights.append(r.dots)
    margin = 16
    total = max(1, sum(heights)) + 2 * margin
    paper = Image.new("L", (HEAD_DOTS + 2 * margin, total), 255)
    draw = ImageDraw.Draw(paper)
    y = margin
    for r, h in zip(ticket.rows, heights, strict=True):
        if isinstance(r, TextRow):
            row_w = sum(_cell_width(c[0]) * c[2] for c in r.cells)
            x = margin + _offset(row_w, r.align)
            row_h = h - LINE_GAP
            for ch, bold, wx, hx in r.cells:
                cw = _cell_width(ch) * wx
                if ch != " ":
                    font = _font(CELL_H * hx)
                    glyph_w = draw.textlength(ch, font=font)
                    gx = x + (cw - glyph_w) / 2
                    draw.text((gx, y + row_h - CELL_H * hx), ch, font=font, fill=0,
                              stroke_width=1 if bold else 0, stroke_fill=0)
                x += cw
        elif isinstance(r, ImageRow):
            x = margin + _offset(r.image.width, r.align)
            paper.paste(r.image.convert("L"), (x, y))
        y += h
    return paper


def _offset(row_width: int, align: int) -> int:
    if align == 1:
        return max(0, (HEAD_DOTS - row_width) // 2)
    if align == 2:
        return max(0, HEAD_DOTS - row_width)
    return 0


def raster_image(width_bytes: int, height: int, data: bytes) -> Any:
    """A ``GS v 0`` raster (1 = black dot) as a Pillow mode-"1" image (1 = white)."""
    from PIL import Image

    return Image.frombytes("1", (width_bytes * 8, height), bytes(b ^ 0xFF for b in data))


def read_qr(image: Any) -> str | None:
    """The text of a QR code in a raster image, if pyzbar can read one (else None)."""
    try:
        from PIL import ImageOps
        from pyzbar import pyzbar
    except ImportError:
        return None
    padded = ImageOps.expand(image.convert("L"), border=32, fill=255)
    found = pyzbar.decode(padded, symbols=[pyzbar.ZBarSymbol.QRCODE])
    return found[0].data.decode("latin-1") if found else None


def qr_image(data: bytes, module_dots: int) -> Any:
    """How the printer draws a native ``GS ( k`` QR code."""
    import qrcode

    code = qrcode.QRCode(box_size=max(1, min(module_dots, 16)), border=1,
                         error_correction=qrcode.constants.ERROR_CORRECT_L)
    code.add_data(data)
    code.make(fit=True)
    return code.make_image().get_image().convert("1")
