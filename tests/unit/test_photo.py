"""The photo of a meter display made fit for GPRS (issue 18): within 30 000 bytes, decodable, no
camera metadata, the worst case (noise) included; unreadable input refused clearly."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image, ImageDraw

from drivers.scanner.photo import MAX_SIDE, MIN_SIDE, PHOTO_BUDGET, PhotoError, compress


def display(w: int = 1920, h: int = 1080) -> Image.Image:
    """A stand-in for a meter's LCD: a grey panel, dark digits, some sensor noise."""
    rng = random.Random(7)
    img = Image.new("RGB", (w, h), (150, 160, 140))
    d = ImageDraw.Draw(img)
    for i, _ch in enumerate("001234.56"):
        x = 200 + i * 170
        d.rectangle((x, 400, x + 120, 640), outline=(20, 20, 20), width=18)
    px = img.load()
    for _ in range(w * h // 20):
        x, y = rng.randrange(w), rng.randrange(h)
        px[x, y] = tuple(min(255, c + rng.randrange(-40, 40)) for c in px[x, y])
    return img


def decoded(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        assert img.format == "JPEG"
        return img.copy()


def test_a_full_hd_still_becomes_a_decodable_jpeg_within_the_budget():
    data = compress(display())
    img = decoded(data)
    assert len(data) <= PHOTO_BUDGET and max(img.size) == MAX_SIDE and img.size == (640, 360)
    assert "exif" not in img.info


def test_pure_noise_is_scaled_down_until_it_fits_but_not_below_legibility():
    rng = random.Random(1)
    noise = Image.frombytes("RGB", (1600, 1200), rng.randbytes(1600 * 1200 * 3))
    assert len(compress(noise)) <= PHOTO_BUDGET
    data = compress(noise, budget=12_000)  # 640 px of noise does not fit in that at any quality
    img = decoded(data)
    assert len(data) <= 12_000 and MIN_SIDE <= max(img.size) < MAX_SIDE
    with pytest.raises(PhotoError, match="does not fit"):
        compress(noise, budget=500)  # not even a small picture fits in that


def test_camera_metadata_is_dropped_and_orientation_applied():
    src = display(800, 600)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to view
    exif[0x010F] = "CameraMaker"
    out = io.BytesIO()
    src.save(out, "JPEG", exif=exif.tobytes(), quality=95)
    img = decoded(compress(out.getvalue()))
    assert img.size == (480, 640)  # upright: portrait
    assert "exif" not in img.info and not img.getexif()


@pytest.mark.parametrize("raw", [b"", b"not a picture", b"\xff\xd8\xff\xe0" + b"\x00" * 100])
def test_an_unreadable_picture_is_a_photo_error(raw):
    with pytest.raises(PhotoError, match="cannot be read"):
        compress(raw)


def test_grayscale_stays_grayscale_and_a_small_picture_is_not_enlarged():
    img = decoded(compress(display(320, 240).convert("L")))
    assert img.mode == "L" and img.size == (320, 240)
