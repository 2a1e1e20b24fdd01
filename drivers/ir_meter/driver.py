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
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import serial

from drivers.ir_meter import di as di_table
from drivers.ir_meter.di import Reading
from drivers.ir_meter.protocol import (
    PREAMBLE,
    WILDCARD,
    Direction,
    Dlt645Error,
    Frame,
    FrameDecoder,
    Function,
    Rejected,
    RejectReason,
    Standard,
    address_from_wire,
    address_to_wire,
    encode_broadcast_time,
    encode_read,
    encode_read_address,
    encode_read_followup,
    encode_write,
    split_payload,
)
from drivers.serial_port import SerialDevice, SerialPort, open_serial
from terminal_app.errors import DeviceNotFoundError, DeviceTimeoutError, LocalProtocolError

BITS_PER_BYTE = 11  # 8E1: start + 8 data + parity + stop
MAX_FOLLOWUPS = 255  # the 2007 SEQ byte
AIM_ACTION = "Aim the IR head at the meter's infrared window, hold it still and read again."


class AbnormalReplyError(Dlt645Error):
    """The meter answered with an abnormal reply (D6 set): it refuses or lacks the data."""

    default_action = "Check the data identifier (and password for writes); this meter will not give it."

    def __init__(self, what: str, action: str | None = None, *, errors: tuple[str, ...] = (),
                 **params: Any) -> None:
        self.errors = errors
        super().__init__(what, action, errors=", ".join(errors) or "no ERR bits set", **params)


class WrongMeterError(Dlt645Error):
    """A meter answered, but with another address than the one asked for."""

    default_action = "Aim the IR head at the right meter, or read without an address to find it."


@dataclass(frozen=True, slots=True)
class MeterIdentity:
    address: str
    standard: Standard


class _Failure:
    """Why one attempt failed; the last one decides the error raised after the retries."""

    SILENT = "silent"
    TRUNCATED = "truncated"
    CHECKSUM = "checksum"
    WRONG_ADDRESS = "wrong address"


def _address_matches(asked: str, answered: str) -> bool:
    """AA bytes of the address we sent are wildcards (13H's AA×6, 1997's AA-padded short addresses)."""
    return all(a == "AA" or a == b for a, b in zip([asked[i:i + 2] for i in range(0, 12, 2)],
                                                  [answered[i:i + 2] for i in range(0, 12, 2)], strict=True))


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
        self._byte_time = BITS_PER_BYTE / baudrate
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

        Each attempt probes 2007 and then 1997 once, so a 1997 meter is found after one 2007
        reply window, not after all of 2007's retries.
        """
        order = [self.standard] if self.standard else [Standard.V2007, Standard.V1997]
        timeout: DeviceTimeoutError | None = None
        protocol_error: Dlt645Error | None = None
        for _attempt in range(self.retries + 1):
            for std in order:
                try:
                    address = self._probe(std)
                except AbnormalReplyError:
                    raise
                except DeviceTimeoutError as e:
                    timeout = e
                    continue
                except Dlt645Error as e:
                    protocol_error = e
                    continue
                self.standard = std
                if self.address is None:
                    self.address = address
                return MeterIdentity(self.address, std)
        if protocol_error is not None:
            raise protocol_error
        # the port and the standards tried are for the log (str): the operator needs only the advice
        raise DeviceTimeoutError("No meter answered (tried {n} times).", AIM_ACTION, url=self.url,
                                 tried=" and ".join(s.value for s in order), n=self.retries + 1) from timeout

    def _probe(self, std: Standard) -> str:
        """One wildcard request that any meter of ``std`` answers; returns its address."""
        if std is Standard.V2007:
            frame = self._transact(encode_read_address(self.preamble), WILDCARD, Function.READ_ADDRESS, retries=0)
            payload = split_payload(frame)
            return address_from_wire(payload.data[:6]) if len(payload.data) >= 6 else frame.address
        frame = self._transact(encode_read(WILDCARD, "C032", std, self.preamble), WILDCARD, Function.READ_1997,
                               retries=0)
        return frame.address

    def read(self, di: str) -> Reading:
        """Read one register; ``di`` in either standard's form is translated for the meter's."""
        ident = self._ensure_identity()
        wire_di = di_table.di_for(di, ident.standard)
        read_fn = Function.READ if ident.standard is Standard.V2007 else Function.READ_1997
        followup_fn = Function.READ_FOLLOWUP if ident.standard is Standard.V2007 else Function.READ_FOLLOWUP_1997
        frame = self._transact(encode_read(ident.address, wire_di, ident.standard, self.preamble),
                               ident.address, read_fn)
        data = self._payload_data(frame, wire_di)
        seq = 0
        while frame.more:
            seq += 1
            if seq > MAX_FOLLOWUPS:
                raise Dlt645Error("The meter kept announcing follow-up frames for {di}.", di=wire_di)
            frame = self._transact(encode_read_followup(ident.address, wire_di, seq, ident.standard, self.preamble),
                                   ident.address, followup_fn)
            data += self._payload_data(frame, wire_di)
        value = di_table.decode_value(wire_di, data, ident.standard)
        return Reading(wire_di, value, di_table.unit_of(wire_di, ident.standard), data)

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

    def _payload_data(self, frame: Frame, di: str) -> bytes:
        payload = split_payload(frame)
        if payload.di != di:
            raise Dlt645Error("The meter answered {got} to a read of {di}.", got=payload.di or "no DI", di=di)
        return payload.data

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
        """Send ``request`` and return the matching reply frame, retrying failed attempts."""
        failure = _Failure.SILENT
        other = ""
        tries = (self.retries if retries is None else retries) + 1
        for _attempt in range(tries):
            self._send(request)
            result = self._await_reply(len(request), address, function)
            if isinstance(result, Frame):
                if result.abnormal:
                    payload = split_payload(result)
                    raise AbnormalReplyError("The meter answered with an abnormal reply: {errors}.",
                                             errors=payload.error or ())
                return result
            failure, other = result
        if failure == _Failure.SILENT:
            raise DeviceTimeoutError("The meter did not answer (tried {n} times).", AIM_ACTION,
                                     url=self.url, n=tries)
        if failure == _Failure.WRONG_ADDRESS:
            raise WrongMeterError("Meter {got} answered instead of meter {want}.", got=other, want=address)
        if failure == _Failure.CHECKSUM:
            raise Dlt645Error("The meter's reply failed its checksum (tried {n} times).", AIM_ACTION,
                              n=tries)
        raise Dlt645Error("The meter's reply was cut off (tried {n} times).", AIM_ACTION, n=tries)

    @staticmethod
    def _read_available(port: Any, wait: float) -> bytes:
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

    def _await_reply(self, request_len: int, address: str, function: int) -> Frame | tuple[str, str]:
        port = self._port
        decoder = FrameDecoder()
        now = time.monotonic()
        # The request may still be on the line after flush() (USB adapters, ptys): allow its
        # wire time before the meter's own reply window starts.
        first_deadline = now + request_len * self._byte_time + self.reply_timeout_s
        max_frame_time = (4 + 12 + 255) * self._byte_time
        hard_deadline = first_deadline + max_frame_time + 2 * self.byte_gap_s
        settle = max(0.02, 4 * self._byte_time)  # after a rejected frame: is more coming?
        deadline = first_deadline
        failure: tuple[str, str] = (_Failure.SILENT, "")
        while True:
            now = time.monotonic()
            wait = min(deadline, hard_deadline) - now
            chunk = b""
            if wait > 0:
                try:
                    chunk = self._read_available(port, wait)
                except (serial.SerialException, OSError) as e:
                    raise DeviceNotFoundError("Reading the IR head on {url} failed: {error}.", url=self.url,
                                              error=e) from e
            if chunk:
                events = decoder.feed(chunk)
                now = time.monotonic()
                deadline = now + self.byte_gap_s if decoder.pending else max(first_deadline, now + settle)
            else:
                events = decoder.flush()
                if not events:
                    return failure
            for ev in events:
                if isinstance(ev, Rejected):
                    failure = (_Failure.TRUNCATED if ev.reason is RejectReason.TRUNCATED else _Failure.CHECKSUM, "")
                    if not decoder.pending:
                        deadline = min(deadline, time.monotonic() + settle)
                    continue
                if ev.direction is Direction.REQUEST:
                    # the IR head's echo of our request: the meter's reply window starts now
                    first_deadline = time.monotonic() + self.reply_timeout_s
                    deadline = max(deadline, first_deadline)
                    continue
                if ev.function != function:
                    continue  # a stale reply to something else
                if not _address_matches(address, ev.address):
                    failure = (_Failure.WRONG_ADDRESS, ev.address)
                    deadline = min(deadline, time.monotonic() + settle)
                    continue
                return ev
            if not chunk and not decoder.pending:
                return failure
