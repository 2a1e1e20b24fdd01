"""Blocking DL/T 645 meter driver over a pyserial URL (the handheld's infrared head).

Timing follows the standard, with no fixed sleeps: after the request has left the line the
meter must start its reply within ``reply_timeout_s`` (DL/T 645: 20–500 ms), and the bytes of
one frame may be at most ``byte_gap_s`` apart (500 ms).  Every read is event-driven — a
blocking ``read(1)`` bounded by the time left, then whatever is already waiting — so a read
returns the moment the last byte of the reply lands.

The IR head is half duplex and often echoes our own request: request frames (D7 = 0) that
come back are dropped.  Failed attempts (silence, bad checksum, cut-off reply, another
meter's address) are retried ``retries`` times; an abnormal reply is the meter's final word
and is raised at once as :class:`AbnormalReplyError` naming the ERR bits.

Finding the meter when address or standard is not configured (:meth:`IrMeter.identify`):
2007 first, 13H to the wildcard ``AA×6``; then 1997, which has no read-address function: a
01H read of C032 (meter number) to ``AA×6``, taking the address from the reply's address
field (1997 meters answer the AA-padded wildcard on a point-to-point link, and the address
field of a reply is always the meter's own; the meter number itself may differ from it).
"""

from __future__ import annotations

import select
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

import serial

from drivers.ir_meter import di as di_table
from drivers.ir_meter.di import Reading
from drivers.ir_meter.policy import (
    AbnormalReplyError,
    Exchange,
    IdentifyPlan,
    MeterIdentity,
    Phase,
    ReadPlan,
    Timing,
    WrongMeterError,
)
from drivers.ir_meter.protocol import (
    PREAMBLE,
    WILDCARD,
    Dlt645Error,
    Frame,
    Function,
    Standard,
    address_to_wire,
    encode_broadcast_time,
    encode_write,
)
from drivers.serial_port import SerialDevice, SerialPort, open_serial
from terminal_app.errors import DeviceNotFoundError, DeviceTimeoutError, LocalProtocolError

# the errors and the identity are the policy's (drivers.ir_meter.policy); the driver's callers know them from here
__all__ = ["AbnormalReplyError", "IrMeter", "IrMeterConfig", "MeterIdentity", "WrongMeterError"]


class IrMeterConfig(Protocol):
    """What :meth:`IrMeter.from_settings` reads (the core's ``[devices.ir_meter]`` is one)."""

    @property
    def url(self) -> str: ...
    @property
    def baudrate(self) -> int: ...
    @property
    def parity(self) -> str: ...
    @property
    def address(self) -> str | None: ...
    @property
    def standard(self) -> str | None: ...
    @property
    def retries(self) -> int: ...
    @property
    def reply_timeout_s(self) -> float: ...
    @property
    def byte_gap_s(self) -> float: ...


class IrMeter(SerialDevice):
    """One meter behind the IR head; a context manager that closes its port."""

    def __init__(self, url: str, *, baudrate: int = 1200, parity: str = "E", address: str | None = None,
                 standard: Standard | str | None = None, retries: int = 2, reply_timeout_s: float = 0.6,
                 byte_gap_s: float = 0.5, preamble: bytes = PREAMBLE) -> None:
        if address is not None:
            address_to_wire(address)  # validate early: a typo is the operator's to fix
        if retries < 0 or reply_timeout_s <= 0 or byte_gap_s <= 0 or baudrate <= 0:
            raise LocalProtocolError("Meter timing settings must be positive (retries ≥ 0).")
        self.url = url
        self.baudrate = baudrate
        self.parity = parity
        self.address = address.upper() if address else None
        self.standard = Standard(standard) if isinstance(standard, str) else standard
        self.retries = retries
        self.reply_timeout_s = reply_timeout_s
        self.byte_gap_s = byte_gap_s
        self.preamble = preamble
        self._timing = Timing(baudrate, reply_timeout_s, byte_gap_s)
        self._port: SerialPort | None = None

    @classmethod
    def from_settings(cls, settings: IrMeterConfig) -> IrMeter:
        """Build from :class:`terminal_app.config.IrMeterSettings`."""
        return cls(settings.url, baudrate=settings.baudrate, parity=settings.parity, address=settings.address,
                   standard=settings.standard, retries=settings.retries,
                   reply_timeout_s=settings.reply_timeout_s, byte_gap_s=settings.byte_gap_s)

    # --- lifecycle -------------------------------------------------------------------------------

    def open(self) -> IrMeter:
        if self._port is None:
            self._port = open_serial(
                self.url, "The IR head port {url} cannot be opened: {error}.",
                "Check that the IR head is plugged in and the port in the configuration.",
                # exclusive: the head is half duplex, a second program's frames would mix with ours
                baudrate=self.baudrate, parity=self.parity, bytesize=8, stopbits=1, timeout=0, exclusive=True)
        return self

    # --- public operations --------------------------------------------------------------------------

    def identify(self) -> MeterIdentity:
        """Find the meter's address and standard (2007 first, then 1997); remember them.

        The plan (:class:`drivers.ir_meter.policy.IdentifyPlan`) decides the probes and the error;
        this pumps it.
        """
        plan = IdentifyPlan(self.standard, self.retries, self.preamble, where=self.url)
        for probe in plan.probes():
            try:
                frame = self._transact(probe.request, WILDCARD, probe.function, retries=0)
                address = probe.address_of(frame)
            except (Dlt645Error, DeviceTimeoutError) as e:
                plan.failed(e)
                continue
            self.standard = probe.standard
            if self.address is None:
                self.address = address
            return MeterIdentity(self.address, probe.standard)
        raise plan.give_up()

    def read(self, di: str) -> Reading:
        """Read one register; ``di`` in either standard's form is translated for the meter's."""
        ident = self._ensure_identity()
        wire_di = di_table.di_for(di, ident.standard)
        plan = ReadPlan(ident, wire_di, self.preamble)
        step: tuple[bytes, int] | None = plan.first()
        while step is not None:
            request, function = step
            step = plan.take(self._transact(request, ident.address, function))
        value = di_table.decode_value(wire_di, plan.data, ident.standard)
        return Reading(wire_di, value, di_table.unit_of(wire_di, ident.standard), plan.data)

    def read_many(self, dis: Iterable[str]) -> dict[str, Reading]:
        """Read several registers; keys are the DIs as asked for."""
        return {d: self.read(d) for d in dis}

    def read_address(self) -> str:
        return self.identify().address

    def broadcast_time(self, when: datetime) -> None:
        """08H time sync to 99×6; meters do not answer a broadcast."""
        self._open_port()
        self._send(encode_broadcast_time(when, self.preamble))

    def write(self, di: str, value: bytes, password: str, operator: str = "00000000") -> None:
        """Write raw value bytes (14H / 04H); the meter acknowledges or raises AbnormalReplyError."""
        ident = self._ensure_identity()
        wire_di = di_table.di_for(di, ident.standard)
        fn = Function.WRITE if ident.standard is Standard.V2007 else Function.WRITE_1997
        self._transact(encode_write(ident.address, wire_di, value, password, operator, ident.standard,
                                    self.preamble), ident.address, fn)

    # --- internals ----------------------------------------------------------------------------------

    def _ensure_identity(self) -> MeterIdentity:
        if self.address is None or self.standard is None:
            return self.identify()
        return MeterIdentity(self.address, self.standard)

    def _open_port(self) -> SerialPort:
        if self._port is None:
            self.open()
        assert self._port is not None  # open() sets it or raises
        return self._port

    def _send(self, request: bytes) -> None:
        port = self._open_port()
        try:
            port.reset_input_buffer()  # stale bytes from an earlier exchange are not this reply
            port.write(request)
            port.flush()
        except (serial.SerialException, OSError) as e:
            raise DeviceNotFoundError("Writing to the IR head on {url} failed: {error}.", url=self.url,
                                      error=e) from e

    def _transact(self, request: bytes, address: str, function: int, retries: int | None = None) -> Frame:
        """Send ``request`` and return the matching reply frame: pumps a
        :class:`drivers.ir_meter.policy.Exchange`, which decides retries, echo and address."""
        ex = Exchange(request, address, function, tries=(self.retries if retries is None else retries) + 1,
                      timing=self._timing, where=self.url)
        port = self._open_port()
        while True:
            if ex.phase is Phase.SEND:
                self._send(request)
                ex.sent(time.monotonic())
            elif ex.phase is Phase.AWAIT:
                wait = ex.deadline - time.monotonic()
                chunk = b""
                if wait > 0:
                    try:
                        chunk = self._read_available(port, wait)
                    except (serial.SerialException, OSError) as e:
                        raise DeviceNotFoundError("Reading the IR head on {url} failed: {error}.", url=self.url,
                                                  error=e) from e
                ex.received(chunk, time.monotonic())
            else:
                return ex.result()

    @staticmethod
    def _read_available(port: SerialPort, wait: float) -> bytes:
        """Block until at least one byte arrives or ``wait`` passes; return what is there.

        select() on the port's descriptor wakes the moment a byte lands; the port itself stays
        non-blocking (timeout 0), so no per-read termios reconfiguration and no polling.
        """
        try:
            fd = port.fileno()
        except (AttributeError, NotImplementedError, OSError, ValueError):
            fd = None
        if fd is None:  # loop:// and other URL handlers without a descriptor
            port.timeout = wait
            chunk: bytes = port.read(1)
            port.timeout = 0
            return chunk + (port.read(port.in_waiting) if chunk and port.in_waiting else b"")
        readable, _, _ = select.select([fd], [], [], wait)
        if not readable:
            return b""
        # timeout 0: returns at once with whatever has arrived (socket:// reports in_waiting 0/1)
        data: bytes = port.read(max(1024, port.in_waiting))
        return data
