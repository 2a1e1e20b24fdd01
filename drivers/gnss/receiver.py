"""A serial NMEA 0183 GNSS receiver (Quectel L76 / u-blox NEO class on a UART, 9600 8N1): the
latest position fix, kept current by a reader thread around the sans-IO core (drivers.gnss.protocol).

    with NmeaReceiver("/dev/ttyGNSS") as gnss:       # any pyserial URL: socket://, spy://, a pty
        fix = gnss.fix()                             # GnssFix (its age says how old) or None
        gnss.wait(lambda r: r.state is FixState.FIXED, timeout=30)
        gnss.command("PMTK220,1000")                 # an MTK module's command: its PMTK001 flag

The receiver talks by itself (one epoch a second); the thread reads and decodes everything, so
the fix is there at once when a reading asks, and nothing piles up in the UART's buffer.
Malformed lines are skipped and counted (``skipped``), never raised.  A port that fails while
running is reopened at the next :meth:`fix` (a receiver unplugged and plugged back).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import serial

from drivers.gnss.protocol import (
    ACK_FLAGS,
    FixState,
    FixTracker,
    MtkPacket,
    NmeaDecoder,
    Skipped,
    sentence,
)
from drivers.modem.gnss import GnssFix
from terminal_app.errors import DeviceError, DeviceNotFoundError, DeviceTimeoutError

log = logging.getLogger(__name__)

DEFAULT_BAUDRATE = 9600  # L76, NEO-6/7/8 factory default: 9600 8N1
#: no byte for this long from a receiver that sends every second: it is off or unplugged
SILENT_AFTER_S = 3.0


class NmeaReceiver:
    """The receiver on ``url``; a context manager whose reader thread stops at close."""

    def __init__(self, url: str, baudrate: int = DEFAULT_BAUDRATE, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self.baudrate = baudrate
        self._clock = clock
        self._port: serial.SerialBase | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._decoder = NmeaDecoder()
        self.tracker = FixTracker()
        self.skipped = 0  # lines skipped (garbage, partial, bad checksum …) since open
        self.sentences = 0
        self._last_byte: float | None = None
        self.error: str | None = None  # why the port stopped, while it is down
        self._acks_total = 0  # PMTK001 acknowledgements seen since open, numbered
        self._ack_log: list[tuple[int, str, int]] = []  # (number, command, flag), the latest 32
        self.packets: list[MtkPacket] = []  # the module's latest 32 MTK packets (answers to queries …)

    # ---- lifecycle ---------------------------------------------------------------------------
    def open(self) -> NmeaReceiver:
        if self._thread is not None:
            return self
        try:
            self._port = serial.serial_for_url(self.url, baudrate=self.baudrate, bytesize=8, parity="N",
                                               stopbits=1, timeout=0.2)
        except (serial.SerialException, OSError, ValueError) as e:
            raise DeviceNotFoundError("The GNSS receiver at {url} cannot be opened: {error}.",
                                      "Check the receiver's cable and [devices.gnss] place; the reading is "
                                      "taken without its place meanwhile.", url=self.url, error=e) from e
        self._stop.clear()
        self.error = None
        self._last_byte = None
        self._thread = threading.Thread(target=self._run, name=f"gnss-{self.url}", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        thread, self._thread = self._thread, None
        self._stop.set()
        if thread is not None:
            thread.join(timeout=5)
        port, self._port = self._port, None
        if port is not None:
            port.close()

    def __enter__(self) -> NmeaReceiver:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- what the terminal asks --------------------------------------------------------------
    def fix(self) -> GnssFix | None:
        """The latest fix (the last one when the sky is lost: its age grows), None before any."""
        self._reopen_if_dead()
        with self._cond:
            return self.tracker.fix

    @property
    def state(self) -> FixState:
        with self._cond:
            return self.tracker.state

    @property
    def receiving(self) -> bool:
        """Bytes came in within the last :data:`SILENT_AFTER_S` seconds."""
        with self._cond:
            return self._last_byte is not None and self._clock() - self._last_byte <= SILENT_AFTER_S

    def wait(self, predicate: Callable[[NmeaReceiver], bool], timeout: float) -> bool:
        """Wait until ``predicate(self)`` holds (checked after every line decoded); its last value."""
        deadline = self._clock() + timeout
        with self._cond:
            while not predicate(self):
                left = deadline - self._clock()
                if left <= 0 or self._thread is None:
                    return predicate(self)
                self._cond.wait(min(left, 0.5))
            return True

    def command(self, body: str, timeout: float = 2.0) -> str:
        """Send an MTK packet (``PMTK220,1000``: the checksum and line end are added) and wait for
        its PMTK001 acknowledgement: "succeeded" (anything else raises DeviceError; no answer in
        ``timeout`` raises DeviceTimeoutError — a module that is not MTK-based stays silent)."""
        if not body.startswith("PMTK") or not body[4:7].isdigit():
            raise ValueError(f"not a PMTK packet: {body!r}")
        cmd = body[4:7]
        port = self._port
        if port is None or self._thread is None:
            raise DeviceError("The GNSS receiver is not open.", "Open it first.")
        with self._cond:
            start_total = self._acks_total
        port.write(sentence(body))
        port.flush()
        if not self.wait(lambda r: r._ack_for(cmd, start_total) is not None, timeout):
            raise DeviceTimeoutError("The GNSS receiver did not acknowledge {cmd}.",
                                     "Check that the receiver is an MTK-based module (L76) at {baud} baud.",
                                     cmd=body[:7], baud=self.baudrate)
        with self._cond:
            flag = self._ack_for(cmd, start_total)
        assert flag is not None
        if flag != 3:
            raise DeviceError("The GNSS receiver refused {cmd}: {flag}.", "Check the command against the "
                              "module's protocol specification.", cmd=body[:7], flag=ACK_FLAGS.get(flag, str(flag)))
        return ACK_FLAGS[flag]

    RESTARTS = {"hot": "PMTK101", "warm": "PMTK102", "cold": "PMTK103", "full": "PMTK104"}

    def restart(self, kind: str = "hot", timeout: float = 5.0) -> None:
        """Hot / warm / cold / full cold restart (PMTK101–104): no PMTK001 answers these (the
        manual's list), the module's start-up message (PMTK010,001) does.  The last fix is kept,
        aging, until the new one comes."""
        port = self._port
        if port is None or self._thread is None:
            raise DeviceError("The GNSS receiver is not open.", "Open it first.")
        body = self.RESTARTS[kind]
        with self._cond:
            before = self.tracker.startups
        port.write(sentence(body))
        port.flush()
        if not self.wait(lambda r: r.tracker.startups > before, timeout):
            raise DeviceTimeoutError("The GNSS receiver did not restart after {cmd}.",
                                     "Check that the receiver is an MTK-based module (L76) at {baud} baud.",
                                     cmd=body, baud=self.baudrate)

    def query(self, body: str, answer: str, timeout: float = 2.0) -> tuple[str, ...]:
        """Send a query packet (``PMTK414``) and wait for its answer type (``"514"``): its fields."""
        if not body.startswith("PMTK") or len(answer) != 3 or not answer.isdigit():
            raise ValueError(f"not a PMTK query: {body!r} → {answer!r}")
        port = self._port
        if port is None or self._thread is None:
            raise DeviceError("The GNSS receiver is not open.", "Open it first.")
        with self._cond:
            self.packets = [p for p in self.packets if p.command != answer]
        port.write(sentence(body))
        port.flush()

        def answered(r: NmeaReceiver) -> bool:
            return any(p.command == answer for p in r.packets)

        if not self.wait(answered, timeout):
            raise DeviceTimeoutError("The GNSS receiver did not answer {cmd}.",
                                     "Check that the receiver is an MTK-based module (L76) at {baud} baud.",
                                     cmd=body[:7], baud=self.baudrate)
        with self._cond:
            return next(p.args for p in reversed(self.packets) if p.command == answer)

    # ---- internals ---------------------------------------------------------------------------
    def _ack_for(self, cmd: str, after: int) -> int | None:
        """The flag of the first PMTK001 for ``cmd`` numbered above ``after`` (call holding the lock)."""
        for n, c, flag in self._ack_log:
            # the ack names the type as a number: PMTK000 is acknowledged as "PMTK001,0,3"
            if n > after and c.isdigit() and int(c) == int(cmd):
                return flag
        return None

    def _reopen_if_dead(self) -> None:
        if self._thread is not None and not self._thread.is_alive():
            self.close()
            try:
                self.open()
            except DeviceError as e:
                log.info("GNSS receiver: %s", e)

    def _run(self) -> None:
        port = self._port
        assert port is not None
        while not self._stop.is_set():
            try:
                data = port.read(port.in_waiting or 1)
            except (serial.SerialException, OSError, TypeError) as e:  # unplugged / pty closed
                with self._cond:
                    self.error = str(e)
                    self._cond.notify_all()
                log.warning("GNSS receiver %s: %s", self.url, e)
                return
            if not data:
                continue
            events = self._decoder.feed(data)
            with self._cond:
                self._last_byte = self._clock()
                for ev in events:
                    if isinstance(ev, Skipped):
                        self.skipped += 1
                        log.debug("GNSS: skipped %s: %r", ev.reason, ev.line)
                        continue
                    self.sentences += 1
                    self.tracker.feed([ev])
                    if isinstance(ev, MtkPacket):
                        self.packets = [*self.packets[-31:], ev]
                    if isinstance(ev, MtkPacket) and ev.command == "001" and self.tracker.acks:
                        c, flag = self.tracker.acks[-1]
                        self._acks_total += 1
                        self._ack_log = [*self._ack_log[-31:], (self._acks_total, c, flag)]
                self._cond.notify_all()
