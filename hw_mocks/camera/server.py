"""The mock network camera: mjpg-streamer's HTTP output over loopback TCP, showing a meter's LCD.

    GET /?action=snapshot   one JPEG (Content-Type image/jpeg)
    GET /?action=stream     multipart/x-mixed-replace; boundary=boundarydonotcross — a JPEG part
                            (Content-Type, Content-Length, X-Timestamp) every 1/fps s until the
                            client goes or the camera stops
    anything else           404, as mjpg-streamer answers a file its www folder lacks

What it shows is :attr:`MockCamera.display` (a register reading, drawn by :mod:`hw_mocks.camera.lcd`);
the simulator sets it to the reading of the meter the IR head points at.  Faults come from a
:class:`~hw_mocks.camera.scenario.CameraScenario`, replaceable while it runs (:attr:`scenario`).
Every request is counted (:attr:`requests`) for tests.
"""

from __future__ import annotations

import io
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from hw_mocks.camera import lcd
from hw_mocks.camera.scenario import CameraScenario

BOUNDARY = "boundarydonotcross"  # mjpg-streamer's own


class MockCamera:
    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, display: str = "0.00",
                 scenario: CameraScenario | None = None, fps: float = 5.0) -> None:
        self.host, self._port = host, port
        self.display = display
        self.scenario = scenario or CameraScenario()
        self.fps = fps
        self.requests = 0
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._cache: tuple[str, bool, bytes] | None = None
        self._lock = threading.Lock()

    # ---- what it shows --------------------------------------------------------------------
    def show(self, value: str) -> None:
        """Put ``value`` (a register reading) on the display the camera looks at."""
        self.display = value

    def jpeg(self) -> bytes:
        """The picture now, as the camera encodes it (a quality-90 JPEG, as mjpg-streamer's input)."""
        from PIL import Image

        key = (self.display, self.scenario.blank)
        with self._lock:
            if self._cache is not None and self._cache[:2] == key:
                return self._cache[2]
            img = Image.new("RGB", lcd.SIZE, (22, 22, 22)) if self.scenario.blank else lcd.draw(self.display)
            out = io.BytesIO()
            img.save(out, "JPEG", quality=90)
            self._cache = (key[0], key[1], out.getvalue())
            return self._cache[2]

    # ---- lifecycle --------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._server.server_address[1] if self._server is not None else self._port

    @property
    def url(self) -> str:
        """The snapshot URL the terminal's [devices.camera] url names."""
        return f"http://{self.host}:{self.port}/?action=snapshot"

    def start(self) -> MockCamera:
        camera = self

        class Handler(_Handler):
            cam = camera

        self._server = ThreadingHTTPServer((self.host, self._port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="mock-camera", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> MockCamera:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    cam: MockCamera
    server_version = "MJPG-Streamer/0.2"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        cam = self.cam
        cam.requests += 1
        action = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).get("action", [""])[0]
        if action not in ("snapshot", "stream"):
            self.send_error(404, "Not Found")
            return
        sc = cam.scenario
        if sc.delay_s and cam._stopping.wait(sc.delay_s):
            return
        if sc.no_camera:
            self.send_error(503, "Service Unavailable", "no input plugin delivers pictures")
            return
        if action == "snapshot":
            data = cam.jpeg()
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace;boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        try:
            while not cam._stopping.is_set():
                data = cam.jpeg()
                self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n"
                                 f"X-Timestamp: {time.time():.6f}\r\n\r\n".encode("ascii") + data + b"\r\n")
                self.wfile.flush()
                if cam._stopping.wait(1 / cam.fps):
                    break
        except (BrokenPipeError, ConnectionResetError):
            return
