"""A virtual 58 mm ESC/POS printer on a pty: it prints what it is sent and answers DLE EOT.

It decodes the host's stream with the same sans-IO decoder the driver's tests pin
(``drivers.printer.protocol``), keeps what lands on paper, and at each cut saves the ticket
as text and as a PNG.  Faults come from a :class:`PrinterScenario` and can be changed while it
runs (``load_paper()``, ``set_cover_open()``…), as an operator would.

While the printer cannot print (paper end, cover open, offline) it still answers status
queries — real-time commands work offline — but the data it is sent is lost.  (A real printer
keeps it in its receive buffer and may print it after recovery; the driver never sends a job
to a printer that is not ready, so the difference does not matter to it.)

    with MockPrinter(link="/tmp/ttyPrinter", out_dir=Path("receipts")) as printer:
        ...                      # the driver opens /tmp/ttyPrinter
        printer.wait_for_tickets(1)
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from drivers.printer import protocol as p
from hw_mocks.link import DeviceThread, PtyLink
from hw_mocks.printer.paper import BlankRow, ImageRow, PrintedTicket, TextRow, qr_image, raster_image, read_qr
from hw_mocks.printer.scenario import PrinterScenario

log = logging.getLogger(__name__)

FEED_DOTS = 30  # one line of ESC d feed


class MockPrinter:
    """The device side of a printer; a context manager (starts and stops its thread)."""

    def __init__(self, link: str | Path | None = None, out_dir: str | Path | None = None,
                 scenario: PrinterScenario | None = None) -> None:
        self._link_path = link
        self.out_dir = Path(out_dir) if out_dir is not None else None
        scenario = scenario or PrinterScenario()
        self._lock = threading.Condition()
        self.paper_end = scenario.paper_out
        self.cover_open = scenario.cover_open
        self.offline = scenario.offline
        self.silent = scenario.silent
        self._lines_left = scenario.paper_runs_out_after_lines
        self.tickets: list[PrintedTicket] = []
        self.errors: list[p.PrinterProtocolError] = []
        self.status_queries = 0  # DLE EOT questions answered (or ignored, when silent)
        self.bytes_received = 0
        self._decoder = p.EscPosDecoder()
        self._reset_style()
        self._line: list[tuple[str, bool, int, int]] = []
        self._current = PrintedTicket(1)
        self._qr_module = 3
        self._qr_data: bytes | None = None
        self.link: PtyLink | None = None
        self._thread: DeviceThread | None = None

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def path(self) -> str:
        if self.link is None:
            raise RuntimeError("the mock printer is not started")
        return self.link.path

    def start(self) -> MockPrinter:
        self.link = PtyLink(self._link_path)
        self._thread = DeviceThread("mock-printer", self._step, on_close=self.link.close).start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            thread, self._thread = self._thread, None
            thread.stop()

    def __enter__(self) -> MockPrinter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- operator actions (thread-safe) -----------------------------------------------------
    def load_paper(self, lines: int | None = None) -> None:
        """Put in a new roll; ``lines`` makes it run out again after that many lines."""
        with self._lock:
            self.paper_end = False
            self._lines_left = lines

    def set_cover_open(self, is_open: bool) -> None:
        with self._lock:
            self.cover_open = is_open

    def set_offline(self, offline: bool) -> None:
        with self._lock:
            self.offline = offline

    def wait_for_tickets(self, count: int, timeout: float = 5.0) -> list[PrintedTicket]:
        """Block until ``count`` tickets have been cut (the ones so far are returned)."""
        with self._lock:
            self._lock.wait_for(lambda: len(self.tickets) >= count, timeout)
            if len(self.tickets) < count:
                raise TimeoutError(f"the mock printer cut {len(self.tickets)} tickets, not {count}")
            return list(self.tickets)

    @property
    def printing(self) -> bool:
        return not (self.paper_end or self.cover_open or self.offline)

    # -- device loop ------------------------------------------------------------------------
    def _step(self, stop: threading.Event) -> None:
        assert self.link is not None
        data = self.link.read(4096, timeout=0.05)
        if data:
            self.feed(data)

    def feed(self, data: bytes) -> None:
        """Process bytes from the host (the device loop calls this; tests may too)."""
        self.bytes_received += len(data)
        while True:
            try:
                events = self._decoder.feed(data)
            except p.PrinterProtocolError as e:
                log.warning("mock printer: %s", e)
                self._handle_all(getattr(e, "events", []))
                with self._lock:
                    self.errors.append(e)
                data = b""
                continue
            self._handle_all(events)
            return

    def _handle_all(self, events: list[p.Event]) -> None:
        with self._lock:
            for event in events:
                self._handle(event)
            self._lock.notify_all()

    def _handle(self, event: p.Event) -> None:
        if isinstance(event, p.StatusRequest):
            self.status_queries += 1
            if not self.silent and self.link is not None:
                status = p.PrinterStatus(offline=self.offline or self.paper_end or self.cover_open,
                                         cover_open=self.cover_open, paper_end=self.paper_end,
                                         paper_near_end=False, error=self.offline)
                self.link.write(bytes((p.encode_status(status)[event.query],)))
            return
        if isinstance(event, p.SequencedStatusRequest):
            # answered in turn, after what came before it has printed; a stopped printer keeps it
            # waiting in its buffer (here: it never answers)
            if self.printing and not self.silent and self.link is not None and event.n == 1:
                self.link.write(bytes((p.sequenced_paper_reply(False, False),)))
            return
        if isinstance(event, p.Initialize):
            self._reset_style()
            self._line = []  # ESC @ clears the print buffer
            return
        if isinstance(event, p.Bold):
            self._bold = event.on
        elif isinstance(event, p.CharacterSize):
            self._size = (event.width, event.height)
        elif isinstance(event, p.PrintMode):
            self._bold = bool(event.value & 0x08)
            self._size = (2 if event.value & 0x20 else 1, 2 if event.value & 0x10 else 1)
        elif isinstance(event, p.Align):
            self._align = int(event.alignment)
        elif isinstance(event, p.Text):
            if self.printing:
                for ch in event.text:
                    self._line.append((ch, self._bold, *self._size))
        elif isinstance(event, p.Tab):
            if self.printing:
                col = sum(1 if " " <= c[0] <= "~" else 2 for c in self._line)
                self._line.extend([(" ", False, 1, 1)] * (8 - col % 8))
        elif isinstance(event, p.LineFeed):
            self._print_line(force=True)
        elif isinstance(event, p.PrintAndFeed):
            self._print_line(force=False)
            if self.printing and event.lines:
                self._current.rows.append(BlankRow(FEED_DOTS * event.lines))
        elif isinstance(event, p.RasterImage):
            self._print_line(force=False)
            if self.printing:
                image = raster_image(event.width_bytes, event.height, event.data)
                code = read_qr(image)
                if code is not None:
                    self._current.qr_codes.append(code)
                label = f"[QR] {code}" if code is not None else f"[IMAGE {image.width}x{image.height}]"
                self._current.rows.append(ImageRow(image, self._align, label))
        elif isinstance(event, p.QrSetting):
            if event.function == 67:
                self._qr_module = event.value
        elif isinstance(event, p.QrStore):
            self._qr_data = event.data
        elif isinstance(event, p.QrPrint):
            self._print_line(force=False)
            if self.printing and self._qr_data:
                code = self._qr_data.decode("latin-1")
                self._current.qr_codes.append(code)
                self._current.rows.append(ImageRow(qr_image(self._qr_data, self._qr_module), self._align,
                                                   f"[QR] {code}"))
        elif isinstance(event, p.Cut):
            self._cut()
        # ChineseMode is tracked by the decoder; Setting/CarriageReturn change nothing drawn

    def _reset_style(self) -> None:
        self._bold = False
        self._size = (1, 1)
        self._align = 0

    def _print_line(self, force: bool) -> None:
        if not self.printing:
            self._line = []
            return
        if not self._line and not force:
            return
        self._current.rows.append(TextRow(self._line, self._align))
        self._line = []
        if self._lines_left is not None:
            self._lines_left -= 1
            if self._lines_left <= 0:
                self.paper_end = True
                self._current.paper_ran_out = True
                self._lines_left = None

    def _cut(self) -> None:
        self._line = []
        ticket = self._current
        if not ticket.rows:
            return  # nothing printed since the last cut (e.g. the whole job hit a fault)
        self._current = PrintedTicket(ticket.number + 1)
        if self.out_dir is not None:
            ticket.save(self.out_dir)
            log.info("mock printer: saved %s", ticket.png_path)
        self.tickets.append(ticket)
