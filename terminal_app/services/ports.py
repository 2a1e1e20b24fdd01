"""What the use cases need of their collaborators (typing.Protocol), and the one context they take.

The use cases never name a concrete journal, printer, station client or meter driver: they take
a :class:`UseCaseContext` whose fields are these protocols, so a test (or the simulator) can hand
in any object that fits, and the type checker (mypy, tests/unit/test_typecheck_core.py) holds
every call to what the protocol says.  The production objects — offline_queue's Journal and
SyncEngine, the StationClient, drivers.printer.ThermalPrinter, the IR head, timeutil.Clock —
satisfy them structurally.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from drivers.printer.protocol import PrinterStatus
    from drivers.printer.ticket import PrintResult, Ticket
    from offline_queue.journal import Entry, EntryState, Settlement
    from offline_queue.sync import SyncReport
    from terminal_app.domain.customer import Meter
    from terminal_app.services.common import Operator, TariffBook
    from terminal_app.services.store import LocalStore
    from terminal_app.station.client import Request, Result


class Clock(Protocol):
    """The time the terminal goes by (the station's, learned at HELLO); injectable for business days."""

    def now(self) -> dt.datetime: ...


class Journal(Protocol):
    """The durable journal: an operation is captured (committed, fsynced) before anything prints
    or is sent; entries are read back by id, in capture order, or the ones still open."""

    @property
    def terminal_id(self) -> str: ...

    def capture(self, kind: str, msg_type: int, body: bytes, depends_on: str | None = None) -> Entry: ...

    def capture_group(self, kind: str, msg_type: int, bodies: Sequence[bytes],
                      depends_on: str | None = None) -> list[Entry]: ...

    def capture_with(self, head_kind: str, head_type: int, head_body: bytes, kind: str, msg_type: int,
                     bodies: Callable[[str], Sequence[bytes]]) -> tuple[Entry, list[Entry]]: ...

    def get(self, txn: str) -> Entry | None: ...

    def entries(self, states: Iterable[EntryState] | None = None) -> list[Entry]: ...

    def open_entries(self, limit: int | None = None) -> list[Entry]: ...

    # a use case that sends its entry itself (a QR payment: the station must answer now)
    def mark_in_flight(self, txns: Sequence[str], seqs_needed: int = 0) -> None: ...

    def settle(self, settlements: Sequence[Settlement], *, success: bool | None = None,
               error: str | None = None) -> None: ...


class Link(Protocol):
    """The link to the master station: one request, its reply body (LinkError when it fails)."""

    def call(self, request: Request) -> dict[str, Any]: ...


class StationLink(Link, Protocol):
    """A link that also sends several requests over one connection (pipelined), each classified."""

    def exchange(self, requests: Sequence[Request]) -> list[Result]: ...


class Scanner(Protocol):
    """The barcode scanner: the next code read within ``timeout`` s (DeviceTimeoutError else)."""

    def read_code(self, timeout: float) -> str: ...

    def close(self) -> None: ...


class Sync(Protocol):
    """Sending the journal: told when something was captured; asked to send now."""

    def notify_captured(self) -> None: ...

    def sync_now(self) -> SyncReport: ...


class Printer(Protocol):
    """The receipt printer: opened on first use (idempotent), prints a ticket once as the original."""

    def open(self) -> object: ...

    def status(self) -> PrinterStatus: ...

    def print_ticket(self, ticket: Ticket, *, already_printed: bool,
                     mark_printed: Callable[[str], None] | None = None) -> PrintResult: ...

    def print_test_page(self, terminal_id: str) -> object: ...


class MeterReader(Protocol):
    """The IR head: the total forward active energy (kWh) of the customer's meter."""

    def read_total(self, meter: Meter) -> Decimal: ...


@dataclass(frozen=True, slots=True)
class UseCaseContext:
    """Everything a use case works with, in one argument: who works, on which journal and store,
    over which link and printer, at what time, and what sends the journal."""

    journal: Journal
    store: LocalStore
    link: Link
    printer: Printer
    clock: Clock
    operator: Operator
    tariffs: TariffBook
    sync: Sync | None = None
