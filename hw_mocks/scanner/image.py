"""Barcode pictures for the camera path: Code 128 (python-barcode) and QR (qrcode), as PNG."""

from __future__ import annotations

import io


def code128_png(code: str) -> bytes:
    """A Code 128 label like a meter's asset-number sticker."""
    import barcode
    from barcode.writer import ImageWriter

    out = io.BytesIO()
    barcode.get("code128", code, writer=ImageWriter()).write(out, options={"write_text": True})
    return out.getvalue()


def qr_png(code: str) -> bytes:
    import qrcode

    out = io.BytesIO()
    qrcode.make(code).save(out, format="PNG")
    return out.getvalue()
