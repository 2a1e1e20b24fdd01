"""The 58 mm thermal printer: status, and printing a ticket so that no second original exists.

The no-second-original contract (the caller journals; this driver keeps no journal):

* ``print_ticket(ticket, already_printed=…, mark_printed=…)``.  The caller passes
  ``already_printed=True`` when its journal says the ticket was printed before *or* its print
  outcome is unknown (a crash or a fault mid-job).  Such a ticket prints only as a copy,
  marked ``重打/副本`` at the top and the bottom.
* For an original, ``mark_printed(identity)`` is called after the printer said it is ready and
  *before the first byte of the job goes out*.  The caller must record it durably there: from
  that moment the original may be on paper.  If ``mark_printed`` raises, nothing is printed.
* The returned :class:`PrintResult` says whether the original or a copy went out and the
  printer was fine afterwards.  A fault found after the job started raises with
  ``during_job=True``: the ticket counts as printed, and the retry prints a copy.
* Belt and braces: the driver also remembers the identities it sent originals for since it
  was opened, so even a caller that forgets to journal cannot get a second original from it.

Real-time status (``DLE EOT``) is queried before each job and while and after it prints.  The
printer answers it at once, even while offline — so it cannot say when a job is finished: for
that the driver sends ``GS r 1`` after the job, which the printer answers only once everything
before it has been printed.  A real-time check that finds the printer stopped meanwhile (paper
ran out, cover opened) ends the wait with the fault, ``during_job=True``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from contextlib import ExitStack
from typing import TYPE_CHECKING, Protocol

from drivers.printer import protocol
from drivers.printer.errors import CoverOpenError, PaperOutError, PrinterOfflineError
from drivers.printer.protocol import PrinterStatus, StatusQuery
from drivers.printer.render import job_bytes
from drivers.printer.ticket import PrintOutcome, PrintResult, Ticket
from drivers.serial_port import SerialDevice, SerialPort, open_serial
from terminal_app.errors import DeviceError, DeviceTimeoutError

if TYPE_CHECKING:
    from drivers.printer._escpos import SerialUrlEscpos

log = logging.getLogger(__name__)

#: identities of originals remembered per open driver (a day's receipts fit many times over)
REMEMBERED_ORIGINALS = 4096
#: how often the printer's real-time status is checked while a job prints
JOB_POLL_S = 0.25


class PrinterConfig(Protocol):
    """What :meth:`ThermalPrinter.from_settings` reads (the core's ``[devices.printer]`` is one)."""

    @property
    def url(self) -> str: ...
    @property
    def baudrate(self) -> int: ...
    @property
    def columns(self) -> int: ...
    @property
    def qr_native(self) -> bool: ...
    @property
    def status_timeout_s(self) -> float: ...


class ThermalPrinter(SerialDevice):
    """An ESC/POS printer at a pyserial URL; a context manager.

    ``url`` is anything ``serial.serial_for_url`` opens: ``/dev/ttyPrinter``,
    ``spy:///dev/ttyPrinter?file=/tmp/printer.log``, ``socket://127.0.0.1:9100``.
    """

    def __init__(self, url: str, baudrate: int = 9600, *, columns: int = 32, qr_native: bool = False,
                 status_timeout: float = 1.0, write_timeout: float = 20.0, job_timeout: float = 60.0) -> None:
        self.url = url
        self.baudrate = baudrate
        self.columns = columns
        self.qr_native = qr_native
        self.status_timeout = status_timeout
        self.write_timeout = write_timeout
        self.job_timeout = job_timeout
        self._lock = threading.RLock()  # one job or status query at a time (UI worker threads)
        self._job_done = False
        self._port: SerialPort | None = None
        self._esc: SerialUrlEscpos | None = None
        self._originals: OrderedDict[str, None] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: PrinterConfig) -> ThermalPrinter:
        """From a :class:`terminal_app.config.PrinterSettings`."""
        return cls(settings.url, settings.baudrate, columns=settings.columns, qr_native=settings.qr_native,
                   status_timeout=settings.status_timeout_s)

    # -- lifecycle ------------------------------------------------------------------------
    def open(self) -> ThermalPrinter:
        from drivers.printer._escpos import SerialUrlEscpos

        if self._port is not None:
            return self
        with ExitStack() as undo:  # a port whose printer object cannot be made is closed again
            port = open_serial(self.url, "Cannot open the printer at {url} ({error}).",
                               "Check that the printer is plugged in and its port in the configuration.",
                               baudrate=self.baudrate, timeout=self.status_timeout,
                               write_timeout=self.write_timeout)
            undo.callback(port.close)
            self._esc = SerialUrlEscpos(port)
            undo.pop_all()
        self._port = port
        return self

    def _on_close(self) -> None:
        self._esc = None

    # -- status -----------------------------------------------------------------------------
    def status(self) -> PrinterStatus:
        """Ask ``DLE EOT`` 1–4 and decode the answers."""
        with self._lock:
            self._require_open()
            self._live_port().reset_input_buffer()  # drop stale bytes so each answer matches its question
            return self._status()

    def check_ready(self) -> PrinterStatus:
        """The status, or the fault that stops printing (paper, cover, error) raised."""
        status = self.status()
        _raise_for(status, during_job=False, identity="")
        return status

    def _status(self) -> PrinterStatus:
        import serial

        replies: dict[StatusQuery, int] = {}
        try:
            for query in StatusQuery:
                replies[query] = self._ask(query)
        except serial.SerialException as e:
            raise DeviceError("The printer's port failed ({error}).",
                              "Check the printer's cable, then press retry.", error=e) from e
        return protocol.decode_status(replies[StatusQuery.PRINTER], replies[StatusQuery.OFFLINE_CAUSE],
                                      replies[StatusQuery.ERROR_CAUSE], replies[StatusQuery.PAPER_SENSOR])

    def _ask(self, query: StatusQuery) -> int:
        self._require_open()._raw(protocol.status_request(query))
        for _ in range(4):  # a late GS r answer may come first; it is told apart by its bits
            answer: bytes = self._live_port().read(1)
            if not answer:
                raise DeviceTimeoutError(
                    "The printer did not answer the status query within {timeout:.1f} s.",
                    "Check that the printer is switched on and its cable is plugged in, then press retry.",
                    timeout=self.status_timeout)
            if protocol.is_sequenced_reply(answer[0]):
                self._job_done = True
                continue
            return answer[0]
        raise protocol.PrinterProtocolError("The printer answered a status query with unexpected bytes.",
                                            "Check the printer's baud rate in the configuration.")

    # -- printing ---------------------------------------------------------------------------
    def print_ticket(self, ticket: Ticket, *, already_printed: bool,
                     mark_printed: Callable[[str], None] | None = None) -> PrintResult:
        """Print ``ticket`` — the original once, a marked copy otherwise (see module docstring)."""
        import serial

        with self._lock:
            copy = already_printed or ticket.identity in self._originals
            data = job_bytes(ticket, copy=copy, columns=self.columns, qr_native=self.qr_native)
            self.check_ready()
            if not copy:
                if mark_printed is not None:
                    mark_printed(ticket.identity)  # durable before any byte of the original leaves
                self._remember(ticket.identity)
            log.info("printing %s %s (%s)", ticket.kind.name, ticket.identity, "copy" if copy else "original")
            try:
                self._require_open()._raw(data)
                self._live_port().flush()  # wait until the bytes are on the wire
                self._await_job(ticket.identity)
            except serial.SerialTimeoutException as e:
                after = self._status_or_none()
                if after is not None:
                    _raise_for(after, during_job=True, identity=ticket.identity)
                raise DeviceTimeoutError(
                    "The printer stopped taking data while printing {identity}.",
                    "Check the printer, then press retry; the reprint will be marked as a copy.",
                    identity=ticket.identity) from e
            except serial.SerialException as e:
                raise DeviceError("The printer's port failed while printing {identity} ({error}).",
                                  "Check the cable, then press retry; the reprint will be marked as a copy.",
                                  identity=ticket.identity, error=e) from e
            return PrintResult(ticket.identity,
                               PrintOutcome.COPY_PRINTED if copy else PrintOutcome.ORIGINAL_PRINTED)

    def _await_job(self, identity: str) -> None:
        """Wait until the printer has printed everything sent, watching for faults meanwhile.

        ``GS r 1`` is answered only after the data before it is processed; while it is pending,
        real-time status shows whether the printer stopped (paper ran out, cover opened).
        """
        self._job_done = False
        self._require_open()._raw(protocol.PAPER_STATUS_IN_SEQUENCE)
        deadline = time.monotonic() + self.job_timeout
        while not self._job_done:
            self._live_port().timeout = min(self.status_timeout, JOB_POLL_S)
            try:
                answer = self._live_port().read(1)
            finally:
                self._live_port().timeout = self.status_timeout
            if answer and protocol.is_sequenced_reply(answer[0]):
                break
            if answer:
                continue  # a stray byte: keep waiting
            try:
                status = self._status()
            except DeviceTimeoutError as e:
                raise DeviceTimeoutError(
                    "The printer stopped answering while printing {identity}; it may not have printed.",
                    "Check the printer, then press retry; the reprint will be marked as a copy.",
                    identity=identity) from e
            _raise_for(status, during_job=True, identity=identity)
            if time.monotonic() > deadline:
                raise DeviceTimeoutError(
                    "The printer did not finish printing {identity} within {timeout:.0f} s.",
                    "Check the printer, then press retry; the reprint will be marked as a copy.",
                    identity=identity, timeout=self.job_timeout)
        _raise_for(self._status(), during_job=True, identity=identity)

    def print_test_page(self, terminal_id: str) -> PrintResult:
        from drivers.printer.testpage import test_page
        from terminal_app.timeutil import now

        return self.print_ticket(test_page(terminal_id, now(), self.columns), already_printed=False)

    # -- internals --------------------------------------------------------------------------
    def _require_open(self) -> SerialUrlEscpos:
        if self._esc is None:
            raise DeviceError("The printer is not open.", "This is a program error: open the printer first.")
        return self._esc

    def _remember(self, identity: str) -> None:
        self._originals[identity] = None
        while len(self._originals) > REMEMBERED_ORIGINALS:
            self._originals.popitem(last=False)

    def _status_or_none(self) -> PrinterStatus | None:
        try:
            return self._status()
        except DeviceError:
            return None


def _raise_for(status: PrinterStatus, *, during_job: bool, identity: str) -> None:
    # every sentence written out whole: each is a msgid the operator reads translated
    if status.ready:
        return
    if status.paper_end:
        if during_job:
            raise PaperOutError("The printer ran out of paper while printing {identity}.",
                                "Load paper, then press retry. The reprint will be marked as a copy.", during_job=during_job, identity=identity)
        raise PaperOutError("The printer ran out of paper before printing.",
                            "Load paper, then press retry.", during_job=during_job, identity=identity)
    if status.cover_open:
        if during_job:
            raise CoverOpenError("The printer cover is open (while printing {identity}).",
                                 "Close the printer cover, then press retry. The reprint will be marked as a copy.",
                                 during_job=during_job, identity=identity)
        raise CoverOpenError("The printer cover is open (before printing).",
                             "Close the printer cover, then press retry.", during_job=during_job, identity=identity)
    if during_job:
        raise PrinterOfflineError("The printer is offline (while printing {identity}).",
                                  "Switch the printer off and on, then press retry. The reprint will be marked "
                                  "as a copy.", during_job=during_job, identity=identity)
    raise PrinterOfflineError("The printer is offline (before printing).",
                              "Switch the printer off and on, then press retry.", during_job=during_job, identity=identity)
