"""python-escpos, imported lazily and kept quiet, plus its output over a pyserial URL.

python-escpos 3.1 misbehaves for a full-screen terminal application:
* it calls ``logging.basicConfig()`` at import, which would put a stderr handler on the root
  logger and let every later log record scribble over the urwid screen — so the import runs
  with a placeholder handler on the root logger (``basicConfig`` does nothing when the root
  already has one), removed afterwards;
* it pickles its capability table into a fresh ``mkdtemp()`` directory per process unless
  ``ESCPOS_CAPABILITIES_PICKLE_DIR`` is set — we point it at a private per-user directory
  (a pickle loaded from a directory others can write to would run their code);
* it has bare ``print()`` calls (e.g. in ``image()`` when the profile lacks a paper width) —
  calls into it go through :func:`quiet`, which sends stdout to the debug log.

Import this module only when a printer is actually used (``handheld --help`` stays fast).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

#: the python-escpos profile of the 58 mm GB18030 printers (384-dot head, 32 columns)
PROFILE = "POS-5890"


def _private_dir() -> str:
    candidates = [Path(tempfile.gettempdir()) / f"handheld-escpos-{os.getuid()}"]
    try:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        candidates.insert(0, Path(base) / "handheld" / "escpos")
    except RuntimeError:  # no home directory (a system service)
        pass
    for candidate in candidates:
        try:
            candidate.mkdir(parents=True, exist_ok=True, mode=0o700)
            st = candidate.stat()
            if st.st_uid == os.getuid() and not st.st_mode & 0o022:
                return str(candidate)
        except OSError:
            continue
    return tempfile.mkdtemp(prefix="handheld-escpos-")


def _import_escpos() -> None:
    os.environ.setdefault("ESCPOS_CAPABILITIES_PICKLE_DIR", _private_dir())
    root = logging.getLogger()
    placeholder = logging.NullHandler()
    root.addHandler(placeholder)
    try:
        with contextlib.redirect_stdout(io.StringIO()) as out:
            import escpos.escpos  # noqa: F401
            import escpos.printer  # noqa: F401
    finally:
        root.removeHandler(placeholder)
    if out.getvalue():
        log.debug("python-escpos said at import: %s", out.getvalue().strip())


_import_escpos()

import serial  # noqa: E402
from escpos.escpos import Escpos  # noqa: E402
from escpos.printer import Dummy  # noqa: E402

__all__ = ["Dummy", "Escpos", "SerialUrlEscpos", "quiet", "PROFILE"]


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Run python-escpos calls with their ``print()`` output going to the debug log."""
    with contextlib.redirect_stdout(io.StringIO()) as out:
        yield
    if out.getvalue():
        log.debug("python-escpos: %s", out.getvalue().strip())


class SerialUrlEscpos(Escpos):
    """An ESC/POS printer whose bytes go to an open pyserial port (any URL pyserial takes).

    ``escpos.printer.Serial`` opens ``serial.Serial(port=…)`` itself and cannot take a URL
    (``socket://``, ``spy://``), so the driver opens the port and hands it over.
    """

    def __init__(self, port: serial.SerialBase, profile: str = PROFILE) -> None:
        super().__init__(profile=profile)
        self.port = port
        self.device = port

    def open(self) -> None:  # the driver owns the port
        pass

    def close(self) -> None:
        pass

    def _raw(self, msg: bytes) -> None:
        self.port.write(msg)

    def _read(self) -> bytes:
        data: bytes = self.port.read(1)
        return data
