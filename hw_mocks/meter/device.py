"""A virtual DL/T 645 meter (2007 or 1997) answering on a pty or TCP, from the meter's side.

Timing is the wire's: a request is "heard" only when its last byte would have arrived at the
profile's baud rate (11 bits per byte), the meter then waits its reply delay, and its reply is
paced by :class:`~hw_mocks.link.WirePacer`.  Misbehaviour comes from a
:class:`~hw_mocks.meter.profile.Scenario` (data, not code).

Python API (tests, ``handheld --simulate``)::

    with MockMeter.on_pty(load_profile(), path="/tmp/ttyIR0") as meter:
        ...  # open meter.url with any serial client
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from drivers.ir_meter import di as di_table
from drivers.ir_meter.protocol import (
    BROADCAST,
    FUNCTIONS_1997,
    FUNCTIONS_2007,
    Direction,
    Dlt645Error,
    ErrBit1997,
    ErrBit2007,
    Frame,
    FrameDecoder,
    Function,
    Standard,
    address_to_wire,
    bcd_digits,
    reply_control,
    split_payload,
)
from hw_mocks.link import DeviceThread, Link, PtyLink, TcpLink, WirePacer
from hw_mocks.meter.profile import MeterProfile, Scenario

TZ = ZoneInfo("Asia/Shanghai")


class MockMeter:
    """The meter; a context manager (``start``/``stop``) running in a :class:`DeviceThread`."""

    def __init__(self, profile: MeterProfile, link: Link, scenario: Scenario | None = None) -> None:
        self.profile = profile
        self.scenario = scenario or Scenario()
        self.link = link
        self.registers = dict(profile.registers)
        self.requests: list[Frame] = []  # every request heard, for tests
        self.clock_offset = timedelta()
        self._decoder = FrameDecoder()
        self._pacer = WirePacer(link, profile.baudrate)
        self._byte_time = 11 / profile.baudrate if profile.baudrate else 0.0
        self._line_free_at = 0.0
        self._pending: dict[str, bytes] = {}  # DI → value bytes still to send as follow-ups
        self._lock = threading.Lock()
        self._thread = DeviceThread(f"mock-meter-{profile.address}", self._step, on_close=link.close)

    def use_profile(self, profile: MeterProfile) -> None:
        """Become another meter (address, standard, registers) between two requests — the
        simulator pointing the IR head at the next customer's meter."""
        with self._lock:
            self.profile = profile
            self.registers = dict(profile.registers)

    @classmethod
    def on_pty(cls, profile: MeterProfile, path: str | Path | None = None,
               scenario: Scenario | None = None) -> MockMeter:
        return cls(profile, PtyLink(path), scenario)

    @classmethod
    def on_tcp(cls, profile: MeterProfile, port: int = 0, scenario: Scenario | None = None) -> MockMeter:
        return cls(profile, TcpLink(port), scenario)

    @property
    def url(self) -> str:
        """What a client opens: the pty path or ``socket://127.0.0.1:PORT``."""
        return self.link.path

    def start(self) -> MockMeter:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._thread.stop()

    def __enter__(self) -> MockMeter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the device loop ---------------------------------------------------------------------------

    def _step(self, stop: threading.Event) -> None:
        data = self.link.read(4096, timeout=0.05)
        if not data:
            return
        # the bytes a client wrote arrive at once on a pty; on a real line they would still be
        # arriving: the line is busy until every byte received so far has had its 11 bits
        self._line_free_at = max(time.monotonic(), self._line_free_at) + len(data) * self._byte_time
        for ev in self._decoder.feed(data):
            if not isinstance(ev, Frame) or ev.direction is not Direction.REQUEST:
                continue
            heard_at = self._line_free_at
            with self._lock:
                self.requests.append(ev)
            self._answer(ev, heard_at, stop)

    def _misbehave(self) -> Scenario:
        sc = self.scenario
        if sc.times and len(self.requests) > sc.times:
            return Scenario()
        return sc

    def _answer(self, request: Frame, heard_at: float, stop: threading.Event) -> None:
        sc = self._misbehave()
        raw_request = request.encode()
        if sc.echo:
            self.link.write(raw_request)  # the IR head hears itself
        reply = self._reply_frame(request, sc)
        if reply is None or sc.silent:
            return
        wire = self._wire(reply, sc)
        delay = heard_at + self.profile.reply_delay_s - time.monotonic()
        if delay > 0 and stop.wait(delay):
            return
        self._pacer.write(wire, stop)

    def _wire(self, reply: Frame, sc: Scenario) -> bytes:
        body = reply.encode(b"\xFE" * self.profile.reply_preamble)
        if sc.corrupt_checksum:
            body = body[:-2] + bytes([(body[-2] + 1) & 0xFF]) + body[-1:]
        if sc.truncate:
            body = body[:max(0, len(body) - sc.truncate)]
        return sc.garbage_before + body

    # --- DL/T 645 semantics ------------------------------------------------------------------------

    def _addressed_to_me(self, frame: Frame) -> bool:
        if frame.address == BROADCAST:
            return frame.function == Function.BROADCAST_TIME
        mine = self.profile.address
        # AA bytes are wildcards (2007 13H uses AA×6; 1997 pads short addresses with AA)
        return all(theirs in ("AA", own) for theirs, own in
                   zip([frame.address[i:i + 2] for i in range(0, 12, 2)],
                       [mine[i:i + 2] for i in range(0, 12, 2)], strict=True))

    def _reply_frame(self, req: Frame, sc: Scenario) -> Frame | None:
        std = self.profile.standard
        functions = FUNCTIONS_2007 if std is Standard.V2007 else FUNCTIONS_1997
        if req.function not in functions or not self._addressed_to_me(req):
            return None  # another standard's frame, or another meter's: stay quiet
        if req.function == Function.BROADCAST_TIME:
            self._set_clock(req.data)
            return None
        address = sc.reply_address or self.profile.address
        if sc.abnormal is not None:
            return Frame(address, reply_control(req.function, abnormal=True), bytes([sc.abnormal]))
        try:
            payload = split_payload(req)
        except Dlt645Error:
            return self._refuse(req, address, ErrBit2007.OTHER_ERROR, ErrBit1997.ILLEGAL_DATA)
        chunk = sc.max_frame_data or self.profile.max_frame_data
        di_bytes = req.data[:std.di_len]
        fn = req.function
        if fn == Function.READ_ADDRESS:
            return Frame(address, reply_control(fn), address_to_wire(self.profile.address))
        if fn in (Function.READ, Function.READ_1997):
            value = self._value(payload.di or "")
            if value is None:
                return self._refuse(req, address, ErrBit2007.NO_REQUESTED_DATA, ErrBit1997.DI_ERROR)
            head, rest = value[:chunk], value[chunk:]
            if rest:
                self._pending[payload.di or ""] = rest
            return Frame(address, reply_control(fn, more=bool(rest)), di_bytes + head)
        if fn in (Function.READ_FOLLOWUP, Function.READ_FOLLOWUP_1997):
            rest = self._pending.pop(payload.di or "", None)
            if rest is None:
                return self._refuse(req, address, ErrBit2007.NO_REQUESTED_DATA, ErrBit1997.DI_ERROR)
            head, rest = rest[:chunk], rest[chunk:]
            if rest:
                self._pending[payload.di or ""] = rest
            seq = bytes([payload.seq]) if payload.seq is not None else b""
            return Frame(address, reply_control(fn, more=bool(rest)), di_bytes + head + seq)
        if fn in (Function.WRITE, Function.WRITE_1997):
            return self._write(req, payload.data, address)
        return self._refuse(req, address, ErrBit2007.OTHER_ERROR, ErrBit1997.ILLEGAL_DATA)

    def _refuse(self, req: Frame, address: str, err2007: int, err1997: int) -> Frame:
        err = err2007 if self.profile.standard is Standard.V2007 else err1997
        return Frame(address, reply_control(req.function, abnormal=True), bytes([err]))

    def _write(self, req: Frame, data: bytes, address: str) -> Frame:
        std = self.profile.standard
        pw_len, op_len = 4, (4 if std is Standard.V2007 else 0)
        if len(data) < pw_len + op_len:
            return self._refuse(req, address, ErrBit2007.OTHER_ERROR, ErrBit1997.ILLEGAL_DATA)
        pw = bytes.fromhex(self.profile.password)
        if data[:4] != pw[:1] + pw[1:][::-1]:
            return self._refuse(req, address, ErrBit2007.PASSWORD_ERROR, ErrBit1997.PASSWORD_ERROR)
        di = split_payload(req).di or ""
        with self._lock:
            self.registers[di] = data[pw_len + op_len:]
        return Frame(address, reply_control(req.function), b"")

    def _now(self) -> datetime:
        return datetime.now(TZ) + self.clock_offset

    def _value(self, di: str) -> bytes | None:
        with self._lock:
            if di in self.registers:
                return self.registers[di]
        reg = di_table.lookup(di, self.profile.standard)
        if reg is not None and reg.kind is di_table.Kind.DATE:
            now = self._now()
            # WW: 0 = Sunday … 6 = Saturday
            return bytes.fromhex(now.strftime("%y%m%d") + f"{(now.weekday() + 1) % 7:02d}")[::-1]
        if reg is not None and reg.kind is di_table.Kind.TIME:
            return bytes.fromhex(self._now().strftime("%H%M%S"))[::-1]
        return None

    def _set_clock(self, data: bytes) -> None:
        try:
            ss, mm, hh, dd, mo, yy = (int(bcd_digits(data[i:i + 1])) for i in range(6))
            when = datetime(2000 + yy, mo, dd, hh, mm, ss, tzinfo=TZ)
        except (Dlt645Error, ValueError):
            return  # a meter ignores a broadcast it cannot parse
        self.clock_offset = when - datetime.now(TZ)

