"""A meter's LCD as a camera sees it, drawn with Pillow: the reading's digits in seven segments
(dark segments on the grey-green glass, the faint "ghost" of unlit segments, a decimal point),
"kWh" beside it, inside the meter's grey bezel, slightly lit from one side — what the photo of a
reading shows.  Deterministic: the same text gives the same picture (tests compare with it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

SIZE = (800, 600)
#: the segments of each digit (a top, b upper right, c lower right, d bottom, e lower left,
#: f upper left, g middle)
SEGMENTS = {"0": "abcdef", "1": "bc", "2": "abdeg", "3": "abcdg", "4": "bcfg", "5": "acdfg", "6": "acdefg",
            "7": "abc", "8": "abcdefg", "9": "abcdfg", "-": "g", " ": ""}
DIGITS = 8  # the register's places (6 whole, 2 decimal on a DL/T 645 meter)
GLASS = (168, 182, 150)
INK = (28, 34, 30)
GHOST = (156, 170, 140)


def display_text(value: str) -> str:
    """The register as the LCD shows it: 8 places, 2 decimals, leading blanks (``"  1234.56"``)."""
    whole, _, frac = value.partition(".")
    frac = (frac + "00")[:2]
    whole = whole.lstrip("0") or "0"
    return whole[-(DIGITS - 2):].rjust(DIGITS - 2) + "." + frac


def _segment_polys(x: int, y: int, w: int, h: int, t: int) -> dict[str, list[tuple[int, int]]]:
    """The seven segments of a digit cell at (x, y), w × h, stroke t: slanted hexagons."""
    def hbar(x0: int, y0: int) -> list[tuple[int, int]]:
        return [(x0 + t // 2, y0), (x0 + w - t // 2, y0), (x0 + w, y0 + t // 2), (x0 + w - t // 2, y0 + t),
                (x0 + t // 2, y0 + t), (x0, y0 + t // 2)]

    def vbar(x0: int, y0: int, length: int) -> list[tuple[int, int]]:
        return [(x0 + t // 2, y0), (x0 + t, y0 + t // 2), (x0 + t, y0 + length - t // 2), (x0 + t // 2, y0 + length),
                (x0, y0 + length - t // 2), (x0, y0 + t // 2)]

    half = h // 2
    return {"a": hbar(x, y), "g": hbar(x, y + half - t // 2), "d": hbar(x, y + h - t),
            "f": vbar(x - t // 2, y + t // 2, half), "b": vbar(x + w - t // 2, y + t // 2, half),
            "e": vbar(x - t // 2, y + half, half), "c": vbar(x + w - t // 2, y + half, half)}


def draw(value: str, size: tuple[int, int] = SIZE) -> Image.Image:
    """The picture of the meter's display showing ``value`` (a register reading like ``"1234.56"``)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, (96, 98, 100))
    d = ImageDraw.Draw(img)
    w, h = size
    for i in range(0, w, 4):  # light from the left: the bezel darkens to the right
        shade = 120 - i * 40 // w
        d.line([(i, 0), (i, h)], fill=(shade, shade + 2, shade + 4), width=4)
    gx0, gy0, gx1, gy1 = w // 16, h // 4, w - w // 16, h * 3 // 4
    d.rounded_rectangle((gx0 - 10, gy0 - 10, gx1 + 10, gy1 + 10), radius=14, fill=(60, 62, 64))
    d.rectangle((gx0, gy0, gx1, gy1), fill=GLASS)
    text = display_text(value)
    cell_w = (gx1 - gx0 - 140) // DIGITS
    seg_w, seg_h, t = cell_w * 3 // 5, (gy1 - gy0) * 3 // 5, max(4, cell_w // 8)
    top = gy0 + (gy1 - gy0 - seg_h) // 2
    x = gx0 + cell_w // 4
    for ch in text:
        if ch == ".":
            d.rectangle((x - cell_w // 5, top + seg_h - t, x - cell_w // 5 + t, top + seg_h), fill=INK)
            continue
        lit = SEGMENTS.get(ch, "")
        for name, poly in _segment_polys(x, top, seg_w, seg_h, t).items():
            d.polygon(poly, fill=INK if name in lit else GHOST)
        x += cell_w
    kx = gx1 - 120
    for i, ch in enumerate("kWh"):  # small block letters: no font file needed
        d.text((kx + i * 30, top + seg_h - 24), ch, fill=INK)
    d.text((gx0, gy1 + 24), "DDZY-1234  220V 5(60)A  1600imp/kWh", fill=(210, 210, 210))
    return img
