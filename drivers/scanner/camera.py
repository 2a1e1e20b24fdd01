"""Barcodes in camera images (Code 128 meter labels, QR codes) through zbar (pyzbar).

pyzbar needs the system library ``libzbar0``; without it the import fails with "Unable to find
zbar shared library", reported here as a configuration error saying what to install.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import os

    from PIL import Image

from drivers.scanner.protocol import DEFAULT_MAX_LENGTH, ScannerProtocolError, check_code
from terminal_app.errors import ConfigurationError

SYMBOLOGIES = ("CODE128", "QRCODE")


@dataclass(frozen=True, slots=True)
class Barcode:
    data: str
    symbology: str  # "CODE128" | "QRCODE"


def _pyzbar() -> Any:
    try:
        from pyzbar import pyzbar
    except (ImportError, OSError) as e:
        raise ConfigurationError("The barcode image decoder (zbar) is not installed ({error}).",
                                 "Install the Debian package libzbar0.", error=e) from e
    return pyzbar


def decode_image(image: Image.Image | str | os.PathLike[str] | IO[bytes], symbologies: tuple[str, ...] = SYMBOLOGIES,
                 max_length: int = DEFAULT_MAX_LENGTH) -> list[Barcode]:
    """All codes found in ``image`` (a Pillow image, or a path / file object Pillow opens).

    A code that is not valid text (control characters, too long, not UTF-8) raises
    ``ScannerProtocolError``; an image without a code gives ``[]``.
    """
    from PIL import Image

    pyzbar = _pyzbar()
    if not isinstance(image, Image.Image):
        with Image.open(image) as opened:
            opened.load()
            image = opened.copy()
    symbols = [getattr(pyzbar.ZBarSymbol, s) for s in symbologies]
    found = []
    for result in pyzbar.decode(image.convert("L"), symbols=symbols):
        try:
            text = result.data.decode("utf-8")
        except UnicodeDecodeError:
            raise ScannerProtocolError("A barcode in the image holds bytes that are not text.") from None
        found.append(Barcode(check_code(text, max_length), result.type))
    return found
