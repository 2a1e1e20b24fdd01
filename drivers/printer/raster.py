"""Text the printer's font cannot draw, drawn here as a 1-bit raster line (``GS v 0``).

58 mm printers for handhelds carry a GBK (GB2312 + GBK extension) font: a 4-byte GB18030
sequence (CJK extension B, e.g. 𠮷 or 𠀀) or a GB18030-only 2-byte code (e.g. 䶮 FE9F) comes
out as junk.  A line holding such a character is drawn with a CJK TrueType font on the host
into the printer's own cells — 12 × 24 dots per ASCII character, 24 × 24 for anything else,
doubled for double-size lines — and sent as a raster image, so the line looks like its
neighbours.  Printers with a GB18030 font take the text as is (``printer.gb18030_font``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from drivers.printer import layout
from terminal_app.errors import ConfigurationError

if TYPE_CHECKING:
    from PIL import Image, ImageFont

CELL_W = 12
CELL_H = 24
LINE_GAP = 6  # the printer's default line spacing is 30 dots: 24-dot characters + 6
#: CJK TrueType fonts, in order: each character is drawn with the first that has a glyph for it.
#: WenQuanYi Zen Hei (fonts-wqy-zenhei) covers GBK and CJK extension A; HanaMin A/B
#: (fonts-hanazono) cover extension A and extension B (U+20000–U+2A6DF, e.g. 𠀀 𠮷).
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/hanazono/HanaMinA.ttf",
    "/usr/share/fonts/truetype/hanazono/HanaMinB.ttf",
)


def printable_by_gbk_font(text: str) -> bool:
    """True when every character of ``text`` has a GBK code (what a GBK printer font draws)."""
    try:
        text.encode("gbk")
    except UnicodeEncodeError:
        return False
    return True


_NO_GLYPH = "\U0010FFFD"  # a private-use code point no CJK font draws: its mask is the .notdef box


def _has_glyph(face: ImageFont.FreeTypeFont, ch: str) -> bool:
    mask, missing = face.getmask(ch), face.getmask(_NO_GLYPH)
    return mask.size != missing.size or bytes(mask) != bytes(missing)


def _faces(size: int, candidates: tuple[str, ...]) -> list[ImageFont.FreeTypeFont]:
    from PIL import ImageFont

    return [ImageFont.truetype(path, size) for path in candidates if Path(path).is_file()]


def _face_for(ch: str, faces: list[ImageFont.FreeTypeFont], candidates: tuple[str, ...]) -> ImageFont.FreeTypeFont:
    for face in faces:
        if _has_glyph(face, ch):
            return face
    raise ConfigurationError("No font here has a glyph for U+{code:04X} (looked in {paths}).",
                             "Install the Debian packages fonts-wqy-zenhei and fonts-hanazono, or set "
                             "printer.gb18030_font = true for a printer with a GB18030 font.",
                             code=ord(ch), paths=", ".join(candidates))


def line_image(text: str, *, columns: int = layout.COLUMNS_58MM, align: str = "left", bold: bool = False,
               double: bool = False, fonts: tuple[str, ...] = FONT_CANDIDATES) -> Image.Image:
    """``text`` drawn as one printed line: ``columns`` × 12 dots wide, 24 dots high (cells
    doubled when ``double``) plus the line gap; mode "1", black glyphs on white."""
    from PIL import Image, ImageDraw

    scale = 2 if double else 1
    cell_w, cell_h = CELL_W * scale, CELL_H * scale
    width_dots = columns * CELL_W
    used = layout.width(text) * cell_w
    if used > width_dots:
        raise ConfigurationError("The line {text!r} is wider than the paper.", "Lay it out with drivers.printer.layout.",
                                 text=text)
    x = {"left": 0, "center": (width_dots - used) // 2, "right": width_dots - used}[align]
    faces = _faces(cell_h - 2 * scale, fonts)
    img = Image.new("1", (width_dots, cell_h + LINE_GAP), 1)  # white
    draw = ImageDraw.Draw(img)
    for ch in text:
        w = layout.char_width(ch) * cell_w
        if ch == " ":
            x += w
            continue
        face = _face_for(ch, faces, fonts)
        # centre the glyph in its cell(s)
        left, top, right, bottom = draw.textbbox((0, 0), ch, font=face)
        gx = x + (w - (right - left)) // 2 - left
        gy = (cell_h - (bottom - top)) // 2 - top
        draw.text((gx, gy), ch, font=face, fill=0, stroke_width=1 if bold else 0, stroke_fill=0)
        x += w
    return img
