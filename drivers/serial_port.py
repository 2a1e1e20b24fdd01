"""Opening a device's pyserial URL, and the lifecycle every serial driver shares.

Every way an open can fail becomes :class:`DeviceNotFoundError` with the driver's own words:
``serial.SerialException`` (an ``OSError``), a bad URL or setting (``ValueError``), and
``termios.error`` — which is *not* an ``OSError`` and which Linux raises, for instance, when a
pty refuses parity settings (seen with 8E1 on a reopened pseudo-terminal).
"""

from __future__ import annotations

import termios
from types import TracebackType
from typing import Any, Protocol, Self

from terminal_app.errors import DeviceNotFoundError

OPEN_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, termios.error)


class SerialPort(Protocol):
    """What the drivers use of a pyserial port (``serial.SerialBase``; pyserial ships no types)."""

    timeout: float | None

    @property
    def in_waiting(self) -> int: ...

    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes, /) -> int | None: ...

    def flush(self) -> None: ...

    def reset_input_buffer(self) -> None: ...

    def fileno(self) -> int: ...

    def close(self) -> None: ...


def open_serial(url: str, what: str, action: str, **settings: Any) -> SerialPort:
    """``serial.serial_for_url(url, **settings)``; failures raise DeviceNotFoundError(what, action).

    ``what`` may use ``{url}`` and ``{error}``.
    """
    import serial  # imported here: drivers load lazily so the first screen comes up fast

    try:
        port: SerialPort = serial.serial_for_url(url, **settings)
        return port
    except OPEN_ERRORS as e:
        raise DeviceNotFoundError(what, action, url=url, error=e) from e


class SerialDevice:
    """Base of the serial drivers: they implement ``open()``; ``close()`` and ``with`` are shared."""

    _port: SerialPort | None = None

    def open(self) -> Self:
        raise NotImplementedError

    def _live_port(self) -> SerialPort:
        """The open port; calling this before ``open()`` is a program error."""
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} is used before open()")
        return self._port

    def _on_close(self) -> None:
        """Drop whatever state belonged to the open port (subclasses)."""

    def close(self) -> None:
        port, self._port = self._port, None
        try:
            if port is not None:
                port.close()
        except OSError:
            pass  # a device unplugged under us: nothing left to close
        finally:
            self._on_close()

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
