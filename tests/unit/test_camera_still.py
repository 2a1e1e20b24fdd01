"""The pure parts of the camera driver (drivers.scanner.still): format negotiation, YUYV → RGB,
the blank test, the mjpg-streamer stream's first part (any bytes: a picture or CameraFrameError)."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from drivers.scanner.still import (
    CameraError,
    CameraFrameError,
    CameraNotFoundError,
    Offer,
    boundary_of,
    check_not_blank,
    choose_format,
    first_part,
    open_jpeg,
    still,
    yuyv_to_image,
)


def test_mjpeg_is_preferred_and_the_smallest_size_of_640_or_more():
    offers = [Offer("YUYV", 640, 480), Offer("MJPG", 320, 240), Offer("MJPG", 1280, 720), Offer("MJPG", 800, 600),
              Offer("MJPG", 1920, 1080)]
    assert choose_format(offers) == Offer("MJPG", 800, 600)


def test_yuyv_when_no_mjpeg_and_the_largest_when_all_are_small():
    assert choose_format([Offer("YUYV", 160, 120), Offer("YUYV", 320, 240), Offer("GREY", 1280, 720)]) == \
        Offer("YUYV", 320, 240)


def test_a_camera_without_mjpeg_or_yuyv_is_refused_naming_what_it_offers():
    with pytest.raises(CameraError) as e:
        choose_format([Offer("H264", 1920, 1080), Offer("GREY", 640, 480)])
    assert e.value.params["offered"] == "GREY, H264"
    with pytest.raises(CameraError):
        choose_format([])


def _yuyv(pixels: list[tuple[int, int, int]]) -> bytes:
    """Pack Y values with U/V per pixel pair (the first pixel's U/V) as YUYV."""
    out = bytearray()
    for i in range(0, len(pixels), 2):
        (y0, u, v), (y1, _u, _v) = pixels[i], pixels[i + 1]
        out += bytes((y0, u, y1, v))
    return bytes(out)


def test_yuyv_to_rgb_matches_bt601_as_jpeg_uses_it():
    # white, black, pure red-ish (Y 76 U 85 V 255), mid grey: 2×2 pixels
    frame = _yuyv([(255, 128, 128), (0, 128, 128), (76, 85, 255), (76, 85, 255)])
    img = yuyv_to_image(frame, 2, 2)
    assert img.mode == "RGB" and img.size == (2, 2)
    assert img.getpixel((0, 0)) == (255, 255, 255) and img.getpixel((1, 0)) == (0, 0, 0)
    r, g, b = img.getpixel((0, 1))
    assert r >= 250 and g <= 5 and b <= 5


def test_yuyv_row_padding_is_dropped_and_short_frames_refused():
    row = _yuyv([(200, 128, 128), (200, 128, 128)])
    padded = (row + b"\x00" * 4) * 3  # bytesperline 8 for a 2-pixel row
    img = yuyv_to_image(padded, 2, 3, bytesperline=8)
    assert all(img.getpixel((x, y)) == (200, 200, 200) for x in range(2) for y in range(3))
    with pytest.raises(CameraFrameError):
        yuyv_to_image(row * 2, 2, 3)
    with pytest.raises(CameraFrameError):
        yuyv_to_image(row, 3, 1)  # odd width: YUYV pairs pixels


def test_a_flat_picture_is_blank_and_a_display_is_not():
    with pytest.raises(CameraFrameError):
        check_not_blank(Image.new("RGB", (64, 48), (20, 22, 21)))
    img = Image.new("L", (64, 48), 160)
    img.paste(30, (10, 10, 30, 40))
    assert check_not_blank(img) is img


def _jpeg(color: int = 100) -> bytes:
    img = Image.new("L", (32, 24), color)
    img.paste(250, (0, 0, 8, 8))
    out = io.BytesIO()
    img.save(out, "JPEG")
    return out.getvalue()


def test_the_first_part_of_an_mjpg_streamer_stream():
    jpeg = _jpeg()
    boundary = boundary_of("multipart/x-mixed-replace;boundary=boundarydonotcross")
    assert boundary == b"--boundarydonotcross"
    stream = (b"--boundarydonotcross\r\nContent-Type: image/jpeg\r\nContent-Length: " + str(len(jpeg)).encode()
              + b"\r\nX-Timestamp: 1.0\r\n\r\n" + jpeg + b"\r\n--boundarydonotcross\r\n")
    assert first_part(io.BytesIO(stream), boundary) == jpeg
    assert open_jpeg(jpeg).size == (32, 24)


@pytest.mark.parametrize("ctype", ["image/jpeg", "multipart/x-mixed-replace", "multipart/x-mixed-replace; x=1",
                                   "multipart/x-mixed-replace; boundary=" + "b" * 80])
def test_a_stream_without_a_usable_boundary_is_refused(ctype):
    with pytest.raises(CameraFrameError):
        boundary_of(ctype)


@settings(deadline=None)  # a shared, loaded machine: no per-example time limit
@given(st.binary(max_size=400))
def test_any_stream_bytes_give_a_part_or_camera_frame_error(data):
    try:
        part = first_part(io.BytesIO(data), b"--b")
    except CameraFrameError:
        return
    assert 0 < len(part)


@settings(deadline=None)  # a shared, loaded machine: no per-example time limit
@given(st.binary(max_size=300))
def test_any_picture_bytes_open_or_raise_camera_frame_error(data):
    try:
        open_jpeg(data)
    except CameraFrameError:
        pass


def test_an_unknown_camera_url_is_a_configuration_mistake_said_as_such():
    with pytest.raises(CameraNotFoundError) as e:
        still("ftp://camera/snap.jpg")
    assert "[devices.camera]" in e.value.action


@settings(deadline=None)  # a shared, loaded machine: no per-example time limit
@given(st.binary(max_size=200), st.integers(-2, 12), st.integers(-2, 12), st.integers(0, 40))
def test_any_yuyv_frame_gives_an_rgb_picture_or_camera_frame_error(data, width, height, stride):
    try:
        img = yuyv_to_image(data, width, height, stride)
    except CameraFrameError:
        return
    assert img.mode == "RGB" and img.size == (width, height)
