"""Barcode pictures for the camera path: Code 128, Code 39, EAN-13 (python-barcode) and QR
(qrcode), as PNG."""

from __future__ import annotations

import io


def code128_png(code: str) -> bytes:
    """A Code 128 label like a meter's asset-number sticker."""
    import barcode
    from barcode.writer import ImageWriter

    out = io.BytesIO()
    barcode.get("code128", code, writer=ImageWriter()).write(out, options={"write_text": True})
    return out.getvalue()


def code39_png(code: str) -> bytes:
    """A Code 39 label (upper-case letters, digits, ``-. $/+%``), without the optional check
    character (zbar, like most scanners, does not strip one)."""
    import barcode
    from barcode.writer import ImageWriter

    out = io.BytesIO()
    barcode.get("code39", code, writer=ImageWriter(), options={"add_checksum": False}).write(out)
    return out.getvalue()


def ean13_png(code: str) -> bytes:
    """An EAN-13 symbol of ``code`` (13 digits with a correct check digit, or 12 and it is added)."""
    import barcode
    from barcode.writer import ImageWriter

    symbol = barcode.get("ean13", code, writer=ImageWriter())
    if len(code) == 13 and symbol.get_fullcode() != code:
        raise ValueError(f"{code} has a wrong EAN-13 check digit (should end {symbol.get_fullcode()[-1]})")
    out = io.BytesIO()
    symbol.write(out)
    return out.getvalue()


def qr_png(code: str) -> bytes:
    import qrcode

    out = io.BytesIO()
    qrcode.make(code).save(out, format="PNG")
    return out.getvalue()
