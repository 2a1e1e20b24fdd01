"""The mock card-reader module: the reader framing (drivers/ic_card/protocol.py) on a pty or TCP.

The production :class:`drivers.ic_card.reader.SerialCardReader` opens :attr:`MockCardReader.url`
exactly as it opens the real module.  A test (or the CLI) inserts and removes
:class:`~hw_mocks.card.virtual.VirtualCard` objects; :meth:`MockCardReader.pull_after` arms the
fault "the card is pulled out during a write": the next ``n`` APDUs are answered, the one after
is not — the card leaves the slot either before the chip saw it or right after the chip executed
it (the terminal then never learns the answer).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from drivers.ic_card.protocol import (
    CardPresence,
    FrameDecoder,
    ReaderCommand,
    ReaderProtocolError,
    ReaderStatus,
    encode_reply,
)
from hw_mocks.card.virtual import VirtualCard
from hw_mocks.link import DeviceThread, Link, PtyLink, TcpLink

#: like the real module: a frame whose bytes stop arriving for this long is dropped
INTER_BYTE_TIMEOUT = 0.1


@dataclass
class PullFault:
    after: int  # APDUs answered normally before the pull
    executed: bool  # True: the chip runs the next APDU, then the card leaves (answer lost)
    at_write: bool = False  # True: ``after`` counts nothing; the card leaves at the first write (UPDATE BINARY)


class MockCardReader:
    """A card reader with one slot; a context manager running its device thread."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self._decoder = FrameDecoder()
        self._lock = threading.Lock()
        self.card: VirtualCard | None = None
        self._powered = False
        self._broken_session = False  # the card left while powered: APDUs get CARD_REMOVED
        self._fault: PullFault | None = None
        self.pulled = threading.Event()  # set when a PullFault fired
        self.apdus = 0  # APDU frames received in total
        self._last_byte = 0.0
        self._thread = DeviceThread("mock-card-reader", self._step, on_close=self.link.close)

    @classmethod
    def on_pty(cls, path: str | None = None) -> MockCardReader:
        return cls(PtyLink(path))

    @classmethod
    def on_tcp(cls, port: int = 0) -> MockCardReader:
        return cls(TcpLink(port))

    @property
    def url(self) -> str:
        return self.link.path

    def start(self) -> MockCardReader:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._thread.stop()

    def __enter__(self) -> MockCardReader:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ the slot
    def insert(self, card: VirtualCard) -> None:
        with self._lock:
            if self.card is not None:
                raise RuntimeError("the slot already holds a card")
            self.card = card
            self._powered = False
            self._broken_session = False

    def remove(self) -> VirtualCard | None:
        with self._lock:
            return self._remove()

    def _remove(self) -> VirtualCard | None:
        card, self.card = self.card, None
        if self._powered:
            self._broken_session = True
        self._powered = False
        return card

    def pull_after(self, apdus: int, *, executed: bool = False) -> None:
        """Arm the fault: answer ``apdus`` more APDUs, then pull the card on the next one."""
        with self._lock:
            self._fault = PullFault(apdus, executed)
            self.pulled.clear()

    def pull_at_write(self, *, executed: bool = False) -> None:
        """Arm the fault: the card leaves at the next write (UPDATE BINARY) — a customer who pulls
        the card while the terminal writes the purchase onto it — whatever is read before."""
        with self._lock:
            self._fault = PullFault(0, executed, at_write=True)
            self.pulled.clear()

    def disarm(self) -> None:
        with self._lock:
            self._fault = None

    # ------------------------------------------------------------------ the wire
    def _step(self, stop: threading.Event) -> None:
        data = self.link.read(4096, timeout=0.05)
        now = time.monotonic()
        if self._decoder.pending and now - self._last_byte > INTER_BYTE_TIMEOUT:
            self._decoder.reset()  # the rest of that frame never came (the host died mid-frame)
        if not data:
            return
        self._last_byte = now
        try:
            frames = self._decoder.feed(data)
        except ReaderProtocolError:
            self._decoder.reset()
            self.link.write(encode_reply(0, ReaderStatus.BAD_FRAME))
            return
        for f in frames:
            self.link.write(self._answer(f.cmd, f.data))

    def _answer(self, cmd: int, data: bytes) -> bytes:
        with self._lock:
            if cmd == ReaderCommand.STATUS:
                presence = CardPresence.ABSENT if self.card is None else (
                    CardPresence.POWERED if self._powered else CardPresence.PRESENT)
                return encode_reply(cmd, ReaderStatus.OK, bytes((presence,)))
            if cmd == ReaderCommand.POWER_ON:
                if self.card is None:
                    return encode_reply(cmd, ReaderStatus.NO_CARD)
                self._powered = True
                self._broken_session = False
                return encode_reply(cmd, ReaderStatus.OK, self.card.reset())
            if cmd == ReaderCommand.POWER_OFF:
                self._powered = False
                return encode_reply(cmd, ReaderStatus.OK)
            if cmd == ReaderCommand.APDU:
                return self._apdu(data)
            return encode_reply(cmd, ReaderStatus.UNKNOWN_COMMAND)

    def _apdu(self, data: bytes) -> bytes:
        cmd = ReaderCommand.APDU
        self.apdus += 1
        if self.card is None:
            return encode_reply(cmd, ReaderStatus.CARD_REMOVED if self._broken_session else ReaderStatus.NO_CARD)
        if not self._powered:
            return encode_reply(cmd, ReaderStatus.NOT_POWERED)
        fault = self._fault
        if fault is not None and fault.at_write and (len(data) < 2 or data[1] != 0xD6):
            pass  # not the write yet: answered normally
        elif fault is not None:
            if fault.after > 0:
                fault.after -= 1
            else:
                self._fault = None
                if fault.executed:
                    self.card.process(data)
                self._remove()
                self.pulled.set()
                return encode_reply(cmd, ReaderStatus.CARD_REMOVED)
        return encode_reply(cmd, ReaderStatus.OK, self.card.process(data))
