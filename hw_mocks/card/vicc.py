"""The virtual card on a PC/SC reader: the card side of vsmartcard's vpcd protocol.

vpcd (Debian ``vsmartcard-vpcd``) is a pcscd reader driver that listens on a TCP port
(``/etc/reader.conf.d/vpcd``: 35963) for a virtual card ("vicc").  A connected vicc is a card in
the reader; closing the connection pulls it.  Every message either way is a 2-byte length in
network byte order and its bytes (vsmartcard ``vpcd.h``); from vpcd a 1-byte message is a
control — 0 power off, 1 power on, 2 reset, 4 "send the ATR" (answered with the ATR) — and
anything longer a command APDU, answered with the response APDU.

:class:`ViccCard` puts a :class:`~hw_mocks.card.virtual.VirtualCard` into that reader, so any
PC/SC application (pyscard, ``opensc-tool``, the product's :mod:`drivers.ic_card.pcsc`) talks to
it through pcscd.
"""

from __future__ import annotations

import select
import socket
import struct
import threading

from hw_mocks.card.virtual import VirtualCard

VPCD_PORT = 35963
CTRL_OFF, CTRL_ON, CTRL_RESET, CTRL_ATR = 0, 1, 2, 4


class ViccCard:
    """A context manager: ``insert(card)`` connects to vpcd (the card enters the reader),
    ``remove()`` disconnects (it leaves).  ``apdus`` counts the command APDUs the card saw."""

    def __init__(self, host: str = "127.0.0.1", port: int = VPCD_PORT) -> None:
        self.host = host
        self.port = port
        self.card: VirtualCard | None = None
        self.apdus = 0
        self.pull_after: int | None = None  # pull the card after this many more APDUs (before answering)
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self.events: list[str] = []  # what vpcd asked for, in order ("on", "atr", "apdu A4" …), for tests

    def __enter__(self) -> ViccCard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def insert(self, card: VirtualCard, timeout: float = 10.0) -> None:
        """Connect to vpcd (which must be listening: pcscd has loaded its driver); ``timeout``
        bounds the connect."""
        self.remove()
        self.card = card
        self._sock = socket.create_connection((self.host, self.port), timeout=timeout)
        self._sock.settimeout(None)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="vicc", daemon=True)
        self._thread.start()

    def remove(self) -> VirtualCard | None:
        self._stop.set()
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
        self._thread = None
        card, self.card = self.card, None
        return card

    def _pull(self, sock: socket.socket) -> None:
        """The card leaves the reader from inside the card's own thread (no join on itself)."""
        if self._sock is sock:
            self._sock = None
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
        self.events.append("pulled")

    # ------------------------------------------------------------------ the wire
    def _recv(self, sock: socket.socket, n: int) -> bytes | None:
        out = b""
        while len(out) < n:
            ready, _, _ = select.select([sock], [], [], 0.1)
            if self._stop.is_set():
                return None
            if not ready:
                continue
            chunk = sock.recv(n - len(out))
            if not chunk:
                return None
            out += chunk
        return out

    def _send(self, sock: socket.socket, data: bytes) -> None:
        sock.sendall(struct.pack("!H", len(data)) + data)

    def _run(self) -> None:
        sock, card = self._sock, self.card
        if sock is None or card is None:
            return
        try:
            while not self._stop.is_set():
                head = self._recv(sock, 2)
                if head is None:
                    return
                (n,) = struct.unpack("!H", head)
                msg = self._recv(sock, n) if n else b""
                if msg is None:
                    return
                if n == 1:
                    self.events.append({CTRL_OFF: "off", CTRL_ON: "on", CTRL_RESET: "reset",
                                        CTRL_ATR: "atr"}.get(msg[0], f"ctrl {msg[0]}"))
                    if msg[0] in (CTRL_OFF, CTRL_ON, CTRL_RESET):
                        card.reset()  # every power change loses the volatile state
                    elif msg[0] == CTRL_ATR:
                        self._send(sock, card.atr)
                    continue
                if self.pull_after is not None:
                    if self.pull_after <= 0:  # pulled: the APDU never reaches the chip
                        self.pull_after = None
                        self._pull(sock)
                        return
                    self.pull_after -= 1
                self.events.append(f"apdu {msg[1]:02X}" if len(msg) > 1 else "apdu ?")
                self.apdus += 1
                self._send(sock, card.process(msg))
        except OSError:
            return
        except BaseException as e:  # surfaced to tests
            self.error = e
