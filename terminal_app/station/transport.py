"""What the station client needs from a byte pipe to the master station.

Two implementations: :class:`SocketTransport` here (operating-system sockets: PPP, Ethernet,
Wi-Fi, tests) and the GPRS modem's own TCP stack (``drivers.modem``).  Both are synchronous
and every call is bounded by a timeout; the UI runs exchanges in a worker thread.

Error contract (see terminal_app.errors):
* ``open`` raises :class:`LinkDownError` when no connection could be made — nothing was sent.
* ``send``/``recv`` raise :class:`LinkBrokenError` when the connection fails after opening.
* ``recv`` raises :class:`DeviceTimeoutError` when nothing arrives within ``timeout``;
  it returns ``b""`` only when the peer closed the connection.
"""

from __future__ import annotations

import socket
from typing import Protocol, runtime_checkable

from terminal_app.errors import DeviceTimeoutError, LinkBrokenError, LinkDownError


@runtime_checkable
class Transport(Protocol):
    bytes_sent: int
    bytes_received: int

    def open(self, host: str, port: int, timeout: float) -> None: ...

    def send(self, data: bytes) -> None: ...

    def recv(self, max_bytes: int, timeout: float) -> bytes: ...

    def close(self) -> None: ...


class SocketTransport:
    """A TCP connection through the operating system's network stack."""

    def __init__(self) -> None:
        self._sock: socket.socket | None = None
        self._send_timeout = 30.0
        self.bytes_sent = 0
        self.bytes_received = 0

    def open(self, host: str, port: int, timeout: float) -> None:
        self.close()
        try:
            # our own connect timeout: Linux would otherwise wait ~127 s on a dead GPRS link
            self._sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as e:
            raise LinkDownError("Cannot connect to the master station at {host}:{port} ({error}).",
                                host=host, port=port, error=e) from e
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._send_timeout = timeout

    def send(self, data: bytes) -> None:
        if self._sock is None:
            raise LinkBrokenError("The connection to the master station is not open.")
        try:
            # recv() leaves its own (possibly tiny) timeout on the socket: sends get the open timeout
            self._sock.settimeout(self._send_timeout)
            self._sock.sendall(data)
        except OSError as e:
            raise LinkBrokenError("The connection to the master station broke while sending ({error}).",
                                  error=e) from e
        self.bytes_sent += len(data)

    def recv(self, max_bytes: int, timeout: float) -> bytes:
        if self._sock is None:
            raise LinkBrokenError("The connection to the master station is not open.")
        # a timeout of 0 would make the socket non-blocking (BlockingIOError, not a timeout)
        self._sock.settimeout(max(timeout, 0.001))
        try:
            data = self._sock.recv(max_bytes)
        except (TimeoutError, BlockingIOError) as e:
            raise DeviceTimeoutError("The master station did not answer within {timeout:.0f} s.",
                                     "The result is unknown; it will be checked with the station.",
                                     timeout=timeout) from e
        except OSError as e:
            raise LinkBrokenError("The connection to the master station broke while receiving ({error}).",
                                  error=e) from e
        self.bytes_received += len(data)
        return data

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def __enter__(self) -> SocketTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SeqCounter(Protocol):
    """GT/1 message counter. ``reserve(n)`` must be durable before it returns (fsynced), so a seq
    is never used twice with one key, even across a crash or a pulled battery."""

    def reserve(self, n: int = 1) -> range: ...

    def move_past(self, last_seq: int) -> None: ...
