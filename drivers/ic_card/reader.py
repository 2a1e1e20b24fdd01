"""Blocking driver of the serial card-reader module (framing in drivers/ic_card/protocol.py).

One request frame, one reply frame, every wait bounded by ``timeout_s``.  The port is any
pyserial URL (``/dev/ttyCard``, ``spy://…`` for a wire log, the mock's pty).  APDUs go through
the T=0 rules of :class:`drivers.ic_card.apdu.T0Exchange` (61xx, 6Cxx) here, so callers see one
final response per command.
"""

from __future__ import annotations

import select
import time
from typing import Protocol

import serial

from drivers.ic_card.apdu import CommandApdu, ResponseApdu, T0Exchange
from drivers.ic_card.protocol import (
    CardPresence,
    FrameDecoder,
    ReaderCommand,
    ReaderFrame,
    ReaderProtocolError,
    ReaderReply,
    ReaderStatus,
    encode_frame,
)
from drivers.serial_port import SerialDevice, SerialPort, open_serial
from terminal_app.errors import N_, DeviceError, DeviceTimeoutError, LocalProtocolError


class NoCardError(DeviceError):
    default_action = "Insert the customer's card into the reader (chip up, contacts first)."


class CardRemovedError(DeviceError):
    """The card left the reader during or before a command: what it did last is unknown."""

    default_action = "Insert the same card again; the terminal will check what the card holds and finish."


class CardMuteError(DeviceError):
    default_action = "Take the card out, check it is inserted the right way round, and try again."


_STATUS_ERRORS: dict[ReaderStatus, tuple[type[DeviceError], str]] = {
    ReaderStatus.NO_CARD: (NoCardError, N_("There is no card in the reader.")),
    ReaderStatus.CARD_REMOVED: (CardRemovedError, N_("The card was taken out of the reader.")),
    ReaderStatus.CARD_MUTE: (CardMuteError, N_("The card does not answer.")),
    ReaderStatus.NOT_POWERED: (CardRemovedError, N_("The card is not powered (it was taken out and put back).")),
}


class CardReaderConfig(Protocol):
    """What :meth:`SerialCardReader.from_settings` reads (the core's ``[devices.card_reader]`` is one)."""

    @property
    def url(self) -> str: ...
    @property
    def baudrate(self) -> int: ...
    @property
    def timeout_s(self) -> float: ...


class SerialCardReader(SerialDevice):
    """The card reader on a serial port; a context manager."""

    def __init__(self, url: str, *, baudrate: int = 9600, timeout_s: float = 2.0) -> None:
        if timeout_s <= 0 or baudrate <= 0:
            raise LocalProtocolError("Card reader timeout and baud rate must be positive.")
        self.url = url
        self.baudrate = baudrate
        self.timeout_s = timeout_s
        self._port: SerialPort | None = None
        self._decoder = FrameDecoder()
        self.atr: bytes | None = None
        self.apdus = 0  # APDU frames sent (GET RESPONSE and re-sends included)

    @classmethod
    def from_settings(cls, settings: CardReaderConfig) -> SerialCardReader:
        """From :class:`terminal_app.config.CardReaderSettings`."""
        return cls(settings.url, baudrate=settings.baudrate, timeout_s=settings.timeout_s)

    def open(self) -> SerialCardReader:
        if self._port is None:
            self._port = open_serial(self.url, "The card reader port {url} cannot be opened: {error}.",
                                     "Check that the card reader is plugged in and its port in the configuration.",
                                     baudrate=self.baudrate, timeout=0)
        return self

    def _on_close(self) -> None:
        self.atr = None

    # ------------------------------------------------------------------ commands
    def presence(self) -> CardPresence:
        reply = self._request(ReaderCommand.STATUS)
        if len(reply.payload) != 1 or reply.payload[0] not in tuple(CardPresence):
            raise ReaderProtocolError("The card reader's presence byte is invalid.")
        return CardPresence(reply.payload[0])

    def power_on(self) -> bytes:
        """Cold-reset the card; returns its ATR."""
        reply = self._request(ReaderCommand.POWER_ON)
        if not 2 <= len(reply.payload) <= 33:  # ISO 7816-3: TS T0 … at most 32 bytes after TS
            raise ReaderProtocolError("The card's ATR of {n} bytes is not valid.", n=len(reply.payload))
        self.atr = reply.payload
        return reply.payload

    def transmit_raw(self, apdu: bytes) -> ResponseApdu:
        self.apdus += 1
        reply = self._request(ReaderCommand.APDU, apdu)
        return ResponseApdu.decode(reply.payload)

    def transmit(self, command: CommandApdu) -> ResponseApdu:
        """One command through the T=0 rules; returns the card's final response."""
        ex = T0Exchange(command)
        step: CommandApdu | ResponseApdu = ex.first()
        while isinstance(step, CommandApdu):
            step = ex.feed(self.transmit_raw(step.encode()))
        return step

    # ------------------------------------------------------------------ one frame each way
    def _request(self, cmd: ReaderCommand, data: bytes = b"", *, check: bool = True) -> ReaderReply:
        if self._port is None:
            raise LocalProtocolError("The card reader is not open.")
        try:
            port = self._port
            port.reset_input_buffer()  # a late reply to an abandoned request must not pair with this one
            port.write(encode_frame(cmd, data))
            port.flush()
        except (serial.SerialException, OSError) as e:
            raise DeviceError("Writing to the card reader failed ({error}).", error=e) from e
        self._decoder.reset()
        frame = self._read_frame()
        reply = ReaderReply.from_frame(frame)
        if reply.cmd is not cmd:
            raise ReaderProtocolError("The card reader answered {got} to {sent}.", got=reply.cmd.name, sent=cmd.name)
        if reply.status is ReaderStatus.OK or not check:
            return reply
        if reply.status in _STATUS_ERRORS:
            cls, what = _STATUS_ERRORS[reply.status]
            if reply.status in (ReaderStatus.CARD_REMOVED, ReaderStatus.NOT_POWERED, ReaderStatus.NO_CARD):
                self.atr = None
            raise cls(what)
        raise ReaderProtocolError("The card reader refused the command ({status}).", status=reply.status.name)

    def _read_frame(self) -> ReaderFrame:
        deadline = time.monotonic() + self.timeout_s
        port = self._live_port()
        fd = port.fileno() if hasattr(port, "fileno") else None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DeviceTimeoutError("The card reader did not answer within {t} s.", t=self.timeout_s)
            try:
                if fd is not None:
                    select.select([fd], [], [], min(left, 0.5))
                    data = port.read(port.in_waiting or 1)
                else:  # URL handlers without a file descriptor (loop://, socket:// polls)
                    port.timeout = min(left, 0.05)
                    data = port.read(max(1, port.in_waiting))
            except (serial.SerialException, OSError) as e:
                raise DeviceError("Reading from the card reader failed ({error}).", error=e) from e
            if data:
                frames = self._decoder.feed(data)
                if frames:
                    return frames[0]
