"""One still of the meter's display (issue 18 point 2): the camera the barcode path uses, asked for
ONE picture, given back as a Pillow image for :func:`drivers.scanner.photo.compress`.

Two sources, chosen by the configured URL (``[devices.camera] url``):

* ``/dev/videoN`` or ``v4l2:///dev/videoN`` — the terminal's own camera over **V4L2**, through
  linuxpy's video API (a well-kept pure-Python binding of the kernel's ioctls).  The format is
  negotiated (:func:`choose_format`): Motion-JPEG if the camera offers it (the frame is a JPEG,
  decoded by Pillow), else packed YUYV 4:2:2 (converted by :func:`yuyv_to_image`); the size is
  the smallest the camera offers with a long side of at least :data:`WANT_LONG_SIDE` (the photo
  is sent at 640 px: more is wasted), else its largest.  The first :data:`WARMUP_FRAMES` frames
  are dropped (a UVC camera's exposure settles over its first frames); each frame is waited for
  at most the timeout.
* ``http://host:port/?action=snapshot`` — a **network camera** speaking mjpg-streamer's HTTP
  interface (``/?action=snapshot``: one JPEG; ``/?action=stream``: multipart/x-mixed-replace of
  JPEGs, of which the first part is taken).  This is also the source a mock can speak over TCP
  (hw_mocks/camera), since a V4L2 device cannot be mocked over a pty.

Errors, in the operator's words (English msgids, translated by the UI): no camera
(:class:`CameraNotFoundError`: nothing at the device or URL), busy (:class:`CameraBusyError`:
another program holds the device), no frame (:class:`CameraTimeoutError`: nothing within the
timeout) and a blank or unreadable frame (:class:`CameraFrameError`: lens covered, dark, broken
picture) — each says what to do, and that the reading can be saved without a photo.

Every input is bounded: a snapshot or a stream part larger than ``MAX_INPUT_BYTES`` (16 MB) is
refused, a picture of more than ``MAX_INPUT_PIXELS`` too.
"""

from __future__ import annotations

import errno
import io
import select
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, cast

from drivers.scanner.photo import MAX_INPUT_BYTES, MAX_INPUT_PIXELS
from terminal_app.errors import DeviceError, DeviceNotFoundError, DeviceTimeoutError

if TYPE_CHECKING:
    from PIL import Image

#: the formats taken, best first (V4L2 fourcc codes)
FORMATS = ("MJPG", "YUYV")
WANT_LONG_SIDE = 640
WARMUP_FRAMES = 3
DEFAULT_TIMEOUT_S = 5.0
#: a frame whose pixels all lie within this many grey levels of each other shows nothing
BLANK_SPREAD = 12
#: the longest header block of a stream part (mjpg-streamer sends ~100 bytes)
MAX_PART_HEADER = 4096


class CameraError(DeviceError):
    default_action = "Take the photo again; if it repeats, save the reading without a photo."


class CameraNotFoundError(CameraError, DeviceNotFoundError):
    default_action = ("Check the camera's cable and [devices.camera] url in the configuration; "
                      "the reading can be saved without a photo.")


class CameraBusyError(CameraError):
    default_action = "Close the program using the camera (or restart the terminal), then take the photo again."


class CameraTimeoutError(CameraError, DeviceTimeoutError):
    default_action = "Take the photo again; if it repeats, save the reading without a photo."


class CameraFrameError(CameraError):
    default_action = "Uncover the lens, light the display and take the photo again, or save the reading without one."


# ---- pure parts: format negotiation, YUYV → RGB, the blank test, the stream's first part ----------

@dataclass(frozen=True, slots=True)
class Offer:
    """One format and size a V4L2 camera offers (VIDIOC_ENUM_FMT × VIDIOC_ENUM_FRAMESIZES)."""

    fourcc: str
    width: int
    height: int


def choose_format(offers: Sequence[Offer]) -> Offer:
    """The format to ask for (module docstring): MJPG before YUYV; the smallest size with a long side
    of at least :data:`WANT_LONG_SIDE`, else the largest.  CameraError when none is usable."""
    for fourcc in FORMATS:
        sizes = [o for o in offers if o.fourcc == fourcc and o.width > 0 and o.height > 0]
        if not sizes:
            continue
        big = [o for o in sizes if max(o.width, o.height) >= WANT_LONG_SIDE]
        if big:
            return min(big, key=lambda o: (o.width * o.height, o.width))
        return max(sizes, key=lambda o: (o.width * o.height, o.width))
    offered = ", ".join(sorted({o.fourcc for o in offers})) or "-"
    raise CameraError("The camera offers none of the picture formats MJPEG or YUYV (it offers {offered}).",
                      "Fit a UVC camera that offers MJPEG or YUYV.", offered=offered)


def yuyv_to_image(data: bytes, width: int, height: int, bytesperline: int = 0) -> Image.Image:
    """An RGB image of a packed YUYV 4:2:2 frame (Y0 U Y1 V per two pixels, BT.601 as JPEG uses it);
    ``bytesperline`` (0: ``2 × width``) drops a driver's row padding.  CameraFrameError for a frame
    of the wrong size."""
    from PIL import Image

    stride = bytesperline or 2 * width
    if width <= 0 or height <= 0 or width % 2 or stride < 2 * width or width * height > MAX_INPUT_PIXELS:
        raise CameraFrameError("The camera's frame format {w}×{h} is not usable.", w=width, h=height)
    if len(data) < stride * (height - 1) + 2 * width:
        raise CameraFrameError("The camera sent a short frame ({got} of {want} bytes).", got=len(data),
                               want=stride * height)
    packed = data if stride == 2 * width else b"".join(
        data[r * stride:r * stride + 2 * width] for r in range(height))
    packed = packed[:2 * width * height]
    y = Image.frombytes("L", (width, height), packed[0::2])
    u = Image.frombytes("L", (width // 2, height), packed[1::4]).resize((width, height), Image.Resampling.NEAREST)
    v = Image.frombytes("L", (width // 2, height), packed[3::4]).resize((width, height), Image.Resampling.NEAREST)
    return Image.merge("YCbCr", (y, u, v)).convert("RGB")


def check_not_blank(img: Image.Image) -> Image.Image:
    """``img``, unless every pixel is within :data:`BLANK_SPREAD` grey levels (a covered lens, a
    dark room, a camera sending an empty frame): CameraFrameError."""
    lo, hi = cast(tuple[int, int], img.convert("L").getextrema())  # one band: (min, max)
    if hi - lo < BLANK_SPREAD:
        raise CameraFrameError("The camera's picture is blank (lens covered, too dark, or no signal).")
    return img


def open_jpeg(data: bytes) -> Image.Image:
    """A JPEG (or any picture Pillow reads) from a camera, loaded and bounded; CameraFrameError else."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise CameraFrameError("The camera sent an empty picture.")
    if len(data) > MAX_INPUT_BYTES:
        raise CameraFrameError("The camera's picture is larger than {max} MB.", max=MAX_INPUT_BYTES // 2**20)
    try:
        with Image.open(io.BytesIO(data)) as opened:
            if opened.width * opened.height > MAX_INPUT_PIXELS:
                raise CameraFrameError("The camera's picture has too many pixels ({w}×{h}).", w=opened.width,
                                       h=opened.height)
            opened.load()
            return opened.copy()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise CameraFrameError("The camera's picture cannot be read ({error}).", error=e) from e


def boundary_of(content_type: str) -> bytes:
    """The boundary of a ``multipart/x-mixed-replace; boundary=…`` stream; CameraFrameError else."""
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/x-mixed-replace":
        raise CameraFrameError("The network camera's stream is not a picture stream ({kind}).", kind=kind.strip()[:40])
    for p in params.split(";"):
        name, _, value = p.strip().partition("=")
        if name.lower() == "boundary" and 0 < len(value.strip('"')) <= 70:
            b = value.strip('"')
            return (b if b.startswith("--") else "--" + b).encode("latin-1", "replace")
    raise CameraFrameError("The network camera's stream names no boundary.")


def first_part(stream: IO[bytes], boundary: bytes) -> bytes:
    """The body of the first part of a multipart stream (mjpg-streamer: ``--boundary``, headers with
    Content-Length, a blank line, the JPEG).  Bounded; CameraFrameError for anything else."""
    line = b""
    for _ in range(8):  # blank lines before the first boundary are allowed
        line = stream.readline(MAX_PART_HEADER)
        if line.strip():
            break
    if line.strip() != boundary:
        raise CameraFrameError("The network camera's stream does not start with its boundary.")
    length = None
    used = 0
    while True:
        line = stream.readline(MAX_PART_HEADER)
        used += len(line)
        if not line or used > MAX_PART_HEADER:
            raise CameraFrameError("The network camera's stream ended inside a picture's header.")
        if not line.strip():
            break
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            try:
                length = int(value.strip())
            except ValueError:
                raise CameraFrameError("The network camera's stream gave a bad picture length.") from None
    if length is None or not 0 < length <= MAX_INPUT_BYTES:
        raise CameraFrameError("The network camera's stream gave no usable picture length.")
    data = stream.read(length)
    if len(data) != length:
        raise CameraFrameError("The network camera's stream ended inside a picture.")
    return data


# ---- the sources ---------------------------------------------------------------------------------

def _v4l2_path(url: str) -> str | None:
    if url.startswith("v4l2://"):
        return url[len("v4l2://"):]
    if url.startswith("/dev/video"):
        return url
    return None


def _os_error(e: OSError, where: str) -> CameraError:
    if e.errno in (errno.EBUSY, errno.EAGAIN):
        return CameraBusyError("The camera {where} is in use by another program.", where=where)
    if e.errno in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
        return CameraNotFoundError("No camera at {where}.", where=where)
    if e.errno in (errno.EACCES, errno.EPERM):
        return CameraNotFoundError("The camera {where} cannot be opened ({error}).",
                                   "Give the terminal's user access to the camera (the video group), then restart the terminal.",
                                   where=where, error=e)
    return CameraError("The camera {where} failed ({error}).", where=where, error=e)


def v4l2_still(path: str, timeout: float = DEFAULT_TIMEOUT_S) -> Image.Image:
    """ONE still from the V4L2 camera at ``path`` (module docstring)."""
    try:
        from linuxpy.video.device import BufferType, Device, PixelFormat, V4L2Error, VideoCapture
    except ImportError as e:  # the Debian package does not ship linuxpy (setup.cfg: the v4l2 extra)
        raise CameraNotFoundError("The V4L2 camera library (linuxpy) is not installed ({error}).",
                                  "Run a camera streamer (ustreamer) for the camera and give its snapshot URL"
                                  " as the camera ([devices.camera] url).", error=e) from e
    deadline = time.monotonic() + timeout
    try:
        with Device(path) as dev:
            info: Any = dev.info
            offers = []
            for fmt in info.formats:
                if fmt.type != BufferType.VIDEO_CAPTURE:
                    continue
                fourcc = int(fmt.pixel_format).to_bytes(4, "little").decode("ascii", "replace")
                for size in info.format_frame_sizes(fmt.pixel_format):
                    s = size.info  # discrete: width/height; stepwise: max_width/max_height
                    offers.append(Offer(fourcc, int(getattr(s, "width", 0) or getattr(s, "max_width", 0)),
                                        int(getattr(s, "height", 0) or getattr(s, "max_height", 0))))
            want = choose_format(offers)
            dev.set_format(BufferType.VIDEO_CAPTURE, want.width, want.height, want.fourcc)
            got = dev.get_format(BufferType.VIDEO_CAPTURE)
            fourcc = PixelFormat(got.pixel_format).name
            with VideoCapture(dev) as capture:
                data = b""
                for _ in range(WARMUP_FRAMES + 1):
                    remaining = deadline - time.monotonic()
                    ready, _w, _x = select.select([dev], [], [], max(0.0, remaining))
                    if not ready:
                        raise CameraTimeoutError("The camera gave no picture within {s} s.", s=timeout)
                    data = bytes(capture.buffer.raw_read())
    except CameraError:
        raise
    except OSError as e:
        raise _os_error(e, path) from e
    except V4L2Error as e:
        raise CameraError("The camera {where} failed ({error}).", where=path, error=e) from e
    if fourcc in ("MJPEG", "JPEG"):
        img = open_jpeg(data)
    elif fourcc == "YUYV":
        img = yuyv_to_image(data, int(got.width), int(got.height), int(getattr(got, "bytes_per_line", 0) or 0))
    else:
        raise CameraError("The camera switched to the picture format {fourcc}.", "Fit a UVC camera that offers MJPEG or YUYV.",
                          fourcc=fourcc)
    return check_not_blank(img)


def http_still(url: str, timeout: float = DEFAULT_TIMEOUT_S) -> Image.Image:
    """ONE still from a network camera speaking mjpg-streamer's HTTP interface (module docstring)."""
    where = urllib.parse.urlsplit(url).netloc or url[:60]
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - http(s) checked by still()
            ctype = resp.headers.get("Content-Type", "")
            if ctype.lower().startswith("multipart/"):
                data = first_part(resp, boundary_of(ctype))
            else:
                data = resp.read(MAX_INPUT_BYTES + 1)
    except urllib.error.HTTPError as e:
        e.close()  # the error answer holds the connection
        if e.code in (404, 503):
            raise CameraNotFoundError("The network camera {where} has no picture source (HTTP {code}).",
                                      where=where, code=e.code) from e
        raise CameraError("The network camera {where} refused the picture (HTTP {code}).", where=where, code=e.code) from e
    except TimeoutError as e:
        raise CameraTimeoutError("The camera gave no picture within {s} s.", s=timeout) from e
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, TimeoutError | socket.timeout):
            raise CameraTimeoutError("The camera gave no picture within {s} s.", s=timeout) from e
        raise CameraNotFoundError("No camera answers at {where}.", where=where) from e
    except OSError as e:  # reset, refused, broken mid-picture
        raise CameraNotFoundError("No camera answers at {where}.", where=where) from e
    return check_not_blank(open_jpeg(data))


def still(url: str, timeout: float = DEFAULT_TIMEOUT_S) -> Image.Image:
    """ONE still from the camera ``url`` names: a V4L2 device or an mjpg-streamer URL."""
    path = _v4l2_path(url)
    if path is not None:
        return v4l2_still(path, timeout)
    if urllib.parse.urlsplit(url).scheme in ("http", "https"):
        return http_still(url, timeout)
    raise CameraNotFoundError("The camera {where} is neither a V4L2 device nor an http URL.",
                              "Set [devices.camera] url to /dev/video0 or http://host:port/?action=snapshot.",
                              where=url[:60])
