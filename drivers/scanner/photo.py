"""A photo of the meter's display as proof of a reading (issue 18): a still from the camera path the
barcode decoder uses (a Pillow image), made into a JPEG small enough for GPRS.

The budget: **at most 30 000 bytes** per photo (:data:`PHOTO_BUDGET`).  Why: M2M plans bill per
session in 1 KB steps and a GPRS slot carries ≈10 kbit/s (docs field-facts, "The GPRS link itself"),
so 30 KB is ~25 s of one slot — sent in its own lane after money and readings, never before them.
A display's digits stay legible at 640 px on the long side, which 30 KB holds at a JPEG quality
of 40–85 for a real scene.

How: the image is turned upright from its EXIF orientation, reduced to RGB (or kept grayscale),
scaled down to :data:`MAX_SIDE` and encoded with the highest quality that fits (binary search over
quality 30–85); if even quality 30 does not fit (a very busy picture), the picture is scaled down
by steps of 4/5 until it does, but never below :data:`MIN_SIDE`.  Nothing of the camera's metadata
(EXIF: maker, serial number, GPS of the camera itself) is kept: the place of a reading comes from
the terminal's GNSS with its fix age, not from whatever the camera wrote.
"""

from __future__ import annotations

import io
from typing import IO, TYPE_CHECKING

from terminal_app.errors import DeviceError

if TYPE_CHECKING:
    from PIL import Image

PHOTO_BUDGET = 30_000  # bytes per photo, JPEG as sent
MAX_SIDE = 640  # pixels on the long side
MIN_SIDE = 160  # below this a display's digits are no longer legible: refuse rather than send mush
QUALITY_RANGE = (30, 85)
#: the largest input accepted (a still of a phone-class sensor is a few MB)
MAX_INPUT_BYTES = 16 * 1024 * 1024
MAX_INPUT_PIXELS = 40_000_000


class PhotoError(DeviceError):
    default_action = "Take the photo again; if it repeats, take the reading without a photo and note why."


def _jpeg(img: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality, optimize=True, progressive=False)  # no exif= : no metadata
    return out.getvalue()


def _best_fit(img: Image.Image, budget: int) -> bytes | None:
    lo, hi = QUALITY_RANGE
    best = None
    while lo <= hi:
        q = (lo + hi) // 2
        data = _jpeg(img, q)
        if len(data) <= budget:
            best, lo = data, q + 1
        else:
            hi = q - 1
    return best


def compress(source: Image.Image | bytes | IO[bytes], budget: int = PHOTO_BUDGET) -> bytes:
    """A JPEG of ``source`` within ``budget`` bytes (module docstring); raises PhotoError for a
    picture that cannot be read or cannot be made to fit."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if isinstance(source, Image.Image):
        img = source.copy()
    else:
        raw = source if isinstance(source, bytes) else source.read(MAX_INPUT_BYTES + 1)
        if len(raw) > MAX_INPUT_BYTES:
            raise PhotoError("The camera's picture is larger than {max} MB.", max=MAX_INPUT_BYTES // 2**20)
        try:
            with Image.open(io.BytesIO(raw)) as opened:
                if opened.width * opened.height > MAX_INPUT_PIXELS:
                    raise PhotoError("The camera's picture has too many pixels ({w}×{h}).", w=opened.width,
                                     h=opened.height)
                opened.load()
                img = opened.copy()
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
            raise PhotoError("The camera's picture cannot be read ({error}).", error=e) from e
    img = ImageOps.exif_transpose(img)
    img = img.convert("L" if img.mode in ("1", "L", "I;16", "I", "F") else "RGB")
    img.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    while True:
        data = _best_fit(img, budget)
        if data is not None:
            return data
        w, h = img.width * 4 // 5, img.height * 4 // 5
        if max(w, h) < MIN_SIDE:
            raise PhotoError("The photo does not fit in {budget} bytes even small.", budget=budget)
        img = img.resize((w, h), Image.Resampling.LANCZOS)
