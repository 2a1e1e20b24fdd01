"""One operator's session on the terminal, as the field UI drives it: each device one user at a time.

The :class:`~terminal_app.services.terminal.Terminal` (journal, local store, station client,
printer, IR head, scanner, card reader) is opened at the first login and kept for the run.  The
UI calls from worker threads and polls the status from another, so two locks keep the devices
one thread at a time (the modem driver and the printer are not shared between threads):
``_link`` around every station exchange, the sync engine's retries and the modem's
registration/signal; ``_printer`` around everything that prints.  The status poll never waits
for them: when a lock is busy it reports the last figures it had.  Sync runs from the status
poll (when its backoff timer is due) and right after anything is captured (a payment, a
reading …), so the status line's queue depth and "sent or waiting" are true as soon as the
screen returns.

Every answer is a record of :mod:`terminal_app.services.views` (the UI re-exports them); every
rule (what a reading needs, when a notice or a cut is allowed, the link state, the day's
figures, searching) lives in the use cases this calls.  They are imported when the first one
runs, not with this module: the UI imports it before its login screen is drawn (startup on a
small ARM board: tests/bench/startup.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, cast

from drivers.power import SYSFS_ROOT, read_battery
from terminal_app.domain.battery import BatteryPolicy, Operation, PowerLevel
from terminal_app.errors import N_, BusinessRuleError, HandheldError, LinkError
from terminal_app.services import pin_reset
from terminal_app.services.views import (
    ArrearsCheck,
    ArrearsLine,
    BillView,
    CardView,
    CustomerView,
    DocumentView,
    DunningView,
    GiveUpOutcome,
    NoticeView,
    PaymentOutcome,
    PaymentView,
    ReadingAnswer,
    ReadingOutcome,
    ReversalView,
    SettlementView,
    TerminalStatus,
)
from terminal_app.timeutil import Clock, now

if TYPE_CHECKING:
    from terminal_app.config import Settings
    from terminal_app.domain.customer import Customer
    from terminal_app.domain.reading import ReadingSource
    from terminal_app.domain.validation import ReadingCheck
    from terminal_app.operators import OperatorStore
    from terminal_app.services.bill_query import BillView as Bill
    from terminal_app.services.link_status import Radio
    from terminal_app.services.terminal import Terminal

log = logging.getLogger(__name__)

#: how long a field action waits for the other user of a device before saying it is busy
BUSY_WAIT_S = 120
#: how long a reading waits for the link (the modem) to ask the modem's GNSS for its place: no longer,
#: the reading is taken without it (a place is a help, never a condition)
PLACE_WAIT_S = 5.0

Progress = Callable[[int, int], None]
#: what Terminal.preview_reading keeps in ReadingOutcome.token for the save
ReadingToken = tuple["Customer", "ReadingCheck", "ReadingSource", str]


class FieldSession:
    """The field actions over the terminal's use cases; every method blocks (run it in a worker)."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.t: Terminal | None = None
        self._link = threading.Lock()
        self._printer = threading.Lock()
        self._open_lock = threading.Lock()
        self._opened = threading.Event()  # set while the terminal is open (a scan waits for it)
        self._last = TerminalStatus()
        self._radio: Radio | None = None  # the last registration/signal read from the modem
        self._fix = ""  # the place source's fix as the status line last showed it (services.place.FixStatus)
        self._bills: dict[str, Bill] = {}
        self._link_seen: tuple[dt.datetime, bool] | None = None  # the UI's own last exchange: when, ok
        self.monotonic: Callable[[], float] = time.monotonic  # the probe timer's time (tests replace it)
        self._probe: Any = None  # link_status.ProbeTimer, made at the first status poll of an open terminal
        #: prints that failed since the start: the UI offers the originals not on paper after each
        self.print_failures = 0
        power = settings.devices.power if settings is not None else None
        self._power_path = power.path if power is not None else SYSFS_ROOT
        self._policy = BatteryPolicy(power.low, power.critical) if power is not None else BatteryPolicy()

    # ---- lifecycle ------------------------------------------------------------------------
    def login(self, operator: str) -> None:
        """Open the terminal's journal, store, link and devices for ``operator`` (first login)."""
        with self._open_lock:
            if self.t is None:
                from terminal_app.services.terminal import Terminal

                self.t = Terminal.from_settings(self.settings, operator=operator, clock=self.clock)
            self.t.switch_operator(operator)
            self._opened.set()

    def fetch_pin_resets(self, operators: OperatorStore, operator: str) -> list[str]:
        """Ask the station for the console's PIN resets (HELLO) and file them in ``operators``;
        returns the operators reset.  Opens the terminal's journal and link as a login does (the
        request's sequence number comes from the journal's durable counter); a link failure raises."""
        with self._open_lock:
            if self.t is None:
                from terminal_app.services.terminal import Terminal

                self.t = Terminal.from_settings(self.settings, operator=operator, clock=self.clock)
        with self._busy(self._link, N_("link")):
            return pin_reset.fetch_pin_resets(self.terminal.client, operators, operator=operator, clock=self.terminal.clock)

    def close(self) -> None:
        with self._open_lock:
            self._opened.clear()
            if self.t is not None:
                with self._link, self._printer:
                    self.t.close()
                self.t = None

    @property
    def logged_in(self) -> bool:
        """The terminal is open (someone logged in since the start)."""
        return self.t is not None

    @property
    def terminal(self) -> Terminal:
        if self.t is None:
            raise BusinessRuleError("Nobody is logged in.", "Log in first.")
        return self.t

    @contextlib.contextmanager
    def _busy(self, lock: threading.Lock, what: str) -> Iterator[None]:
        # bounded: an exchange holding the lock ends within the link's own timeouts
        if not lock.acquire(timeout=BUSY_WAIT_S):
            raise LinkError("The {item} is busy.", "Try again in a moment.", item=what)
        try:
            yield
        except LinkError:
            if lock is self._link:
                self._seen(False)
            raise
        else:
            if lock is self._link:
                self._seen(True)
        finally:
            lock.release()

    def _seen(self, ok: bool) -> None:
        """An exchange with the station ended: the link state's evidence and the probe's timer."""
        self._link_seen = (now(), ok)
        if self._probe is not None:
            if ok:
                self._probe.succeeded()
            else:
                self._probe.failed(self.monotonic())

    def _known_down(self) -> bool:
        """The status line says 无信号 or 离线 (its last poll): an exchange now would only time out."""
        from terminal_app.services.link_status import known_down

        return known_down(self._last.link)

    def _sent_now(self) -> None:
        """After a capture: send at once when the link is free (the status line then shows the
        truth — sent, or waiting — as soon as the screen returns).  Never raises for the link.
        Not while the link is known down: the capture waits for the background re-check."""
        if self.t is not None and not self._known_down() and self._link.acquire(blocking=False):
            try:
                report = self.t.sync_now()
                if report.exchanges:
                    self._seen(report.error is None)
            except HandheldError as e:
                log.warning("sending after a capture: %s", e)
            finally:
                self._link.release()

    # ---- battery ----------------------------------------------------------------------------
    def battery(self) -> tuple[int | None, bool, PowerLevel]:
        """(capacity %, charging, level) now; capacity None when no battery is found."""
        r = read_battery(self._power_path)
        capacity, charging = (r.capacity, r.charging) if r is not None else (None, False)
        return capacity, charging, self._policy.level(capacity, charging)

    def _power_guard(self, op: Operation) -> None:
        """Refuse a card write or a print before it starts (nothing journaled) on a low battery."""
        capacity, charging, level = self.battery()
        if self._policy.allows(op, capacity, charging):
            return
        if level is PowerLevel.CRITICAL:
            raise BusinessRuleError("The battery is almost empty ({level}%).",
                                    "Charge the terminal now, then try again.", level=capacity)
        if op is Operation.CARD_WRITE:
            raise BusinessRuleError("The battery is low ({level}%): no card is written.",
                                    "Charge the terminal or connect it to power, then try again.",
                                    level=capacity)
        raise BusinessRuleError("The battery is low ({level}%): nothing is printed.",
                                "Charge the terminal or connect it to power, then try again.", level=capacity)

    def _with_battery(self, status: TerminalStatus) -> TerminalStatus:
        capacity, charging, level = self.battery()
        return dataclasses.replace(status, battery=capacity, charging=charging, power=level.value)

    # ---- status -----------------------------------------------------------------------------
    def status(self) -> TerminalStatus:
        """The status line: signal, link, queue, printer, battery (never waits for a busy device).
        A link shown down (离线) is probed here in the background (HELLO, on the probe timer's
        backoff): 在线 shows again as soon as the station answers."""
        from terminal_app.services.link_status import LinkState, ProbeTimer, link_state

        t = self.t
        if t is None:
            self._last = self._with_battery(self._last)
            return self._last
        if self._probe is None:
            self._probe = ProbeTimer()
        has_modem = t.modem() is not None
        if self._link.acquire(blocking=False):
            try:
                if has_modem:  # the radio first: no signal is shown as soon as it goes
                    self._radio = t.radio() or self._radio
                    if t.place_source is not None and t.place_source.uses_link:
                        self._fix = t.place_status().value  # the modem's GNSS: only while the link is free
                if not has_modem or (self._radio is not None and self._radio.usable):
                    try:
                        t.poll_sync()
                    except HandheldError as e:
                        log.warning("sync poll: %s", e)
                    state = link_state(self._radio if has_modem else None, syncing=False,
                                       exchanges=self._exchanges(t))
                    if state is LinkState.DOWN and self._probe.due(self.monotonic()):
                        try:
                            t.probe_link()
                        except HandheldError as e:
                            log.info("link probe: %s", e)
                            self._seen(False)
                        else:
                            self._seen(True)
            finally:
                self._link.release()
        if t.place_source is not None and not t.place_source.uses_link:
            self._fix = t.place_status().value  # an NMEA receiver: its reader thread has the fix (no I/O)
        printer = self._last.printer
        if self._printer.acquire(blocking=False):
            try:
                printer = t.printer_state()
            finally:
                self._printer.release()
        q = t.queue_status()
        link = link_state(self._radio if has_modem else None, syncing=q.syncing, exchanges=self._exchanges(t))
        age = int(q.oldest_pending_age.total_seconds()) if q.oldest_pending_age is not None else None
        csq = self._radio.rssi if self._radio is not None else None
        tech = self._radio.technology if self._radio is not None else None
        rsrp = self._radio.rsrp if self._radio is not None else None
        self._last = self._with_battery(TerminalStatus(csq, link, q.depth, age, printer, technology=tech,
                                                         rsrp=rsrp, fix=self._fix))
        return self._last

    def _exchanges(self, t: Terminal) -> list[tuple[dt.datetime, bool]]:
        """(when, succeeded) of the latest exchanges known: the sync engine's and the UI's own."""
        q = t.queue_status()
        seen = [(at, ok) for at, ok in ((q.last_success_at, True), (q.last_error_at, False)) if at is not None]
        if self._link_seen is not None:
            seen.append(self._link_seen)
        return seen

    def pending(self) -> int:
        """Entries not yet at the station (what logging out leaves behind)."""
        return self.terminal.queue_status().depth

    def sync_now(self) -> TerminalStatus:
        with self._busy(self._link, N_("link")):
            self.terminal.sync_now()
        return self.status()

    # ---- 抄表 -----------------------------------------------------------------------------
    def segments(self) -> list[tuple[str, str, int]]:
        with self._busy(self._link, N_("link")):
            return [(s.segment, s.name, s.customers) for s in self.terminal.segments()]

    def download_route(self, segment: str, progress: Progress) -> int:
        with self._busy(self._link, N_("link")):
            summary = self.terminal.download_route(segment, progress=progress)
        return summary.customers

    def _view(self, c: Customer, read: set[str] | None = None) -> CustomerView:
        last = c.last_reading
        # the arrears follow this terminal's payments (today's included), not only the download
        return CustomerView(c.number, c.name, c.address, c.meter.number, c.segment, self.terminal.owed_now(c),
                            str(last) if last is not None else "", bool(read and c.number in read))

    def read_today(self) -> set[str]:
        """The customers read (or registered abnormal) on this terminal today: the route's ✓."""
        return self.terminal.read_today()

    def route(self) -> list[CustomerView]:
        """Every downloaded customer, segment by segment, in walking order, each with today's visit."""
        t = self.terminal
        visits = t.visits_today()
        read = set(visits)
        return [dataclasses.replace(self._view(c, read), skipped=visits.get(c.number) == "skipped")
                for seg in t.downloaded_segments() for c in t.route_customers(seg)]

    def visits_today(self) -> dict[str, str]:
        """Customer → "read" | "skipped" today on this terminal (local, fast)."""
        return self.terminal.visits_today()

    def set_walk_order(self, segment: str, customers: list[str]) -> None:
        self.terminal.set_walk_order(segment, customers)

    def search(self, query: str) -> list[CustomerView]:
        t = self.terminal
        read = t.read_today()
        return [self._view(c, read) for c in t.search(query)]

    def customer(self, number: str) -> CustomerView:
        """The customer as the card shows it now (arrears after today's payments, the premise note)."""
        t = self.terminal
        return dataclasses.replace(self._view(t.customer(number), t.read_today()), note=t.premise_note(number))

    def edit_premise_note(self, customer: str, text: str) -> bool:
        """门牌/注意事项 edited: journaled, then uploaded like a reading (PREMISE_NOTE)."""
        self.terminal.edit_premise_note(customer, text)
        self._sent_now()
        return True

    def customer_by_barcode(self, code: str) -> CustomerView | None:
        try:
            return self._view(self.terminal.find_customer(code), self.terminal.read_today())
        except BusinessRuleError:
            return None

    def scan(self, timeout: float) -> str | None:
        """The next barcode from the terminal's scanner (None: none within ``timeout``, or nobody
        is logged in yet).  Raises the scanner's DeviceError when it is missing or broken."""
        from terminal_app.errors import DeviceTimeoutError

        if self.t is None:
            self._opened.wait(timeout)  # before the first login: nothing to scan for yet
            return None
        try:
            code, _customer = self.t.scan(timeout)
        except DeviceTimeoutError:
            return None
        return code

    def read_meter(self, customer: str) -> ReadingOutcome:
        from terminal_app.domain.reading import ReadingSource

        t = self.terminal
        c = t.customer(customer)
        value = t.read_meter(c)  # the IR head is the terminal's own port: no shared lock
        return t.preview_reading(c, value, ReadingSource.IR)

    @staticmethod
    def _decimal(value: str) -> Decimal:
        try:
            return Decimal(value)
        except InvalidOperation as e:
            raise BusinessRuleError("{value} is not a meter reading.", "Type the digits on the meter.",
                                    value=value[:12]) from e

    def enter_reading(self, customer: str, value: str, reason: str) -> ReadingOutcome:
        from terminal_app.domain.reading import ReadingSource
        from terminal_app.domain.reasons import KEYPAD_REASONS, text_of

        t = self.terminal
        return t.preview_reading(t.customer(customer), self._decimal(value), ReadingSource.KEYPAD,
                                 text_of(KEYPAD_REASONS, reason))

    def reentry_matches(self, outcome: ReadingOutcome, value: str) -> bool:
        """The value typed again equals the reading (the rule a jump needs, checked at once)."""
        try:
            return Decimal(value) == Decimal(outcome.value)
        except InvalidOperation:
            return False

    def take_photo(self) -> bytes:
        """ONE still of the meter's display, compressed (the JPEG sent); the camera's DeviceError else."""
        return self.terminal.take_photo()

    def save_reading(self, outcome: ReadingOutcome, answer: ReadingAnswer | None = None,
                     photo: bytes | None = None) -> bool:
        from terminal_app.domain.abnormal import Abnormal, AbnormalCode
        from terminal_app.domain.reasons import JUMP_REASONS, text_of
        from terminal_app.domain.validation import WarningKind

        a = answer or ReadingAnswer()
        c, check, source, reason = cast(ReadingToken, outcome.token)  # what preview_reading put there
        ab = Abnormal(AbnormalCode(a.abnormal)) if a.abnormal else None
        confirmed = tuple(k for k in check.kinds if k in (WarningKind.ZERO, WarningKind.METER_REPLACED)) \
            if a.confirmed else ()
        where = self._place_for_reading()
        with self._busy(self._printer, N_("printer")):
            result = self.terminal.save_reading(
                c, check, source=source, reason=reason, confirmed=confirmed, abnormal=ab, rollover=a.rollover,
                reentered=self._decimal(a.reentered) if a.reentered else None,
                jump_reason=text_of(JUMP_REASONS, a.jump_reason) if a.jump_reason else "",
                place_found=where, ask_place=False, photo=photo)
        if result.print_error is not None:
            self.print_failures += 1
        self._sent_now()
        return result.print_error is None and result.txn is not None

    def register_abnormal(self, customer: str, code: str) -> bool:
        """抄表异常登记 without a reading (门闭, 表计未找到 …): journaled for ABNORMAL_REGISTER."""
        from terminal_app.domain.abnormal import Abnormal, AbnormalCode

        c = self.terminal.customer(customer)
        where = self._place_for_reading()
        with self._busy(self._printer, N_("printer")):
            self.terminal.save_reading(c, None, abnormal=Abnormal(AbnormalCode(code)), place_found=where,
                                       ask_place=False)
        self._sent_now()
        return True

    def _place_for_reading(self) -> dict[str, object] | None:
        """The place of a reading taken now; the modem's GNSS is asked only while the link is free
        (it is the link's device), waiting at most PLACE_WAIT_S — else the reading has no place."""
        t = self.terminal
        if t.place_source is None or not t.place_source.uses_link:
            return t.place_now()
        if not self._link.acquire(timeout=PLACE_WAIT_S):
            log.info("reading without its place: the modem is busy with the link")
            return None
        try:
            return t.place_now()
        finally:
            self._link.release()

    @staticmethod
    def abnormal_codes(outcome: ReadingOutcome | None = None) -> list[str]:
        """The codes that fit: without a value, the visits without a reading; with a reading below
        the last, the codes that account for it (the likeliest first); else every code that goes
        with a value."""
        from terminal_app.domain.abnormal import NO_VALUE_CODES, AbnormalCode
        from terminal_app.domain.validation import REVERSE_ANSWERS, Need

        if outcome is None:
            return [c.value for c in AbnormalCode if c is not AbnormalCode.OTHER]
        if Need.ABNORMAL_CODE.value in outcome.needs:
            order = (AbnormalCode.RUNNING_BACKWARDS, AbnormalCode.METER_REPLACED, AbnormalCode.ESTIMATED,
                     AbnormalCode.METER_DAMAGED)
            return [c.value for c in order if c in REVERSE_ANSWERS]
        return [c.value for c in AbnormalCode if c not in NO_VALUE_CODES and c is not AbnormalCode.OTHER]

    # ---- 收费 -----------------------------------------------------------------------------
    def bill(self, customer: str) -> BillView:
        if self._known_down():  # 无信号/离线 on the status line: the downloaded data at once (the
            b = self.terminal.offline_bill(customer)  # status poll keeps re-checking the link)
        else:
            with self._busy(self._link, N_("link")):
                b = self.terminal.query_bill(customer)
            if not b.online:  # the use case fell back to the downloaded data: the link failed
                self._seen(False)
        self._bills[customer] = b
        lines = tuple(ArrearsLine(a.period, a.amount, a.penalty, a.from_balance) for a in b.arrears)
        return BillView(b.customer, b.name, lines, b.still_owed, b.balance, offline=not b.online, as_of=b.as_of,
                        estimated=b.estimated, penalty_day=b.penalty_day,
                        balance_used_fen=sum(u.total for u in b.balance_used), collected_fen=b.not_included_fen)

    def reading_estimate(self, customer: str) -> tuple[str, int, tuple[tuple[str, str, str, int], ...]] | None:
        """Today's reading of the customer on this terminal: (kWh, bill fen, tier lines), or None."""
        return self.terminal.reading_estimate(customer)

    def pay(self, customer: str, amount_fen: int, tendered_fen: int) -> PaymentOutcome:
        t = self.terminal
        self._power_guard(Operation.PRINT)
        with self._busy(self._printer, N_("printer")):
            r = t.take_payment(customer, amount_fen, bill=self._bills.get(customer), tendered=tendered_fen)
        if r.print_error is not None:
            self.print_failures += 1
        self._sent_now()
        return PaymentOutcome(r.txn, r.amount, r.change, r.print_error is None, r.print_error, t.waiting(r.txn),
                              r.owed_after, r.reconnection)

    def pay_qr(self, customer: str, amount_fen: int, code_text: str) -> PaymentOutcome:
        """The customer pays ``amount_fen`` from WeChat Pay / Alipay by the scanned code (付款码).

        Blocks until the station answers (up to qr_payment.QR_RESPONSE_TIMEOUT_S: the UI shows
        "顾客支付中…").  Refused offline (QrOfflineError), never queued nor turned into cash."""
        t = self.terminal
        self._power_guard(Operation.PRINT)
        with self._busy(self._link, N_("link")), self._busy(self._printer, N_("printer")):
            r = t.take_qr_payment(customer, amount_fen, code_text, bill=self._bills.get(customer))
        return PaymentOutcome(r.txn, r.amount, 0, r.print_error is None, r.print_error, False, r.owed_after,
                              channel=r.channel.value, code=r.code, acquirer_id=r.acquirer_id)

    def reprint_receipt(self, txn: str) -> bool:
        """The receipt again: the original if it never printed, else a copy marked 重打/副本."""
        self._power_guard(Operation.PRINT)
        with self._busy(self._printer, N_("printer")), self._counting_failures():
            self.terminal.reprint_receipt(txn)
        return True

    @contextlib.contextmanager
    def _counting_failures(self) -> Iterator[None]:
        try:
            yield
        except HandheldError as e:
            if not isinstance(e, BusinessRuleError):  # a device fault, not a refusal
                self.print_failures += 1
            raise

    # ---- 打印记录 (print history) ------------------------------------------------------------
    def documents(self, customer: str = "") -> list[DocumentView]:
        """The print history, newest first; ``customer``: its number or last digits."""
        return self.terminal.documents(customer)

    def unprinted_originals(self) -> list[DocumentView]:
        """Originals that never started printing (journaled, the printer failed or the terminal stopped)."""
        return self.terminal.unprinted_originals()

    def print_document(self, identity: str) -> bool:
        """Print a document of the history: the original if it never started, else a copy (副本)."""
        self._power_guard(Operation.PRINT)
        with self._busy(self._printer, N_("printer")), self._counting_failures():
            self.terminal.print_document(identity)
        return True

    def payments_today(self) -> list[PaymentView]:
        return self.terminal.payments_today()

    def preview_reversal(self, txn: str) -> ReversalView:
        p = self.terminal.preview_reversal(txn)
        return ReversalView(p.orig, p.customer, p.name, p.amount, channel=self._paid_by(p.orig))

    def _paid_by(self, txn: str) -> str:
        """cash, or the wallet (wechat / alipay) of QR payment ``txn`` (its journaled body's method)."""
        entry = self.terminal.journal.get(txn)
        method = entry.body_dict().get("method") if entry is not None else None
        return method if method in ("wechat", "alipay") else "cash"

    def reverse(self, txn: str, reason: str) -> ReversalView:
        from terminal_app.domain.reasons import REVERSAL_REASONS, text_of

        t = self.terminal
        with self._busy(self._printer, N_("printer")):
            r = t.reverse_payment(txn, text_of(REVERSAL_REASONS, reason))
        self._sent_now()
        return ReversalView(r.txn, r.customer, t.customer_name(r.customer), r.amount, r.reason,
                            r.print_error is None, r.print_error, channel=self._paid_by(txn))

    # ---- 催费 -----------------------------------------------------------------------------
    def dunning_tasks(self, segment: str) -> list[DunningView]:
        t = self.terminal
        with self._busy(self._link, N_("link")):
            tasks = t.download_dunning_tasks(segment)
        return [t.dunning_view(task.task, task=task) for task in tasks]

    def dunning_task(self, task: str) -> DunningView:
        return self.terminal.dunning_view(task)

    def print_dunning_notice(self, task: str) -> NoticeView:
        self._power_guard(Operation.PRINT)
        with self._busy(self._link, N_("link")), self._busy(self._printer, N_("printer")), \
                self._counting_failures():
            r = self.terminal.print_dunning_notice(task)
        self._sent_now()
        return NoticeView(r.task, r.action.value, r.owed.total, r.owed.online, r.pay_by)

    def arrears_check(self, customer: str) -> ArrearsCheck:
        """The check at the door before a cut (the lawful-cut rule, in real time)."""
        from terminal_app.services.dunning import CUT_REFUSAL_TEXT, CannotConfirmError

        try:
            with self._busy(self._link, N_("link")):
                r = self.terminal.check_cut(customer)
        except CannotConfirmError:
            return ArrearsCheck(customer, 0, False, online=False)
        notice = r.decision.notice
        pay_by = notice.pay_by.isoformat() if notice else ""
        return ArrearsCheck(r.customer, r.decision.owed, r.allowed, True, r.task,
                            tuple((CUT_REFUSAL_TEXT[x], {"pay_by": pay_by}) for x in r.decision.refusals),
                            notice.pay_by if notice else None)

    def confirm_cut(self, task: str) -> str:
        with self._busy(self._link, N_("link")):
            cut = self.terminal.confirm_disconnection(task)
        self._sent_now()
        return cut.txn

    def record_dunning_result(self, task: str, result: str) -> bool:
        from terminal_app.domain.dunning import DunningResult

        with self._busy(self._link, N_("link")):
            self.terminal.record_dunning_result(task, DunningResult(result))
        self._sent_now()
        return True

    # ---- 购电 -----------------------------------------------------------------------------
    def read_card(self) -> CardView:
        """Read the card in the reader; an interrupted purchase on it is finished first."""
        from drivers.ic_card.model import CardType

        t = self.terminal
        with self._busy(self._link, N_("link")), self._busy(self._printer, N_("printer")):
            info, recovered = t.read_card()
            allowance = t.card_allowance() if info.card_type is not CardType.BLANK else None
        finished = None
        if recovered is not None:
            log.info("card purchase %s finished on reading the card", recovered.auth_txn)
            finished = PaymentOutcome(recovered.auth_txn, recovered.amount, 0, True, channel=recovered.method,
                                      code=recovered.code, acquirer_id=recovered.acquirer_id)
        return CardView(info.cust, t.customer_name(info.cust), info.meter, info.purchase.count, info.remaining,
                        # a re-issue card not yet written (count 0) is for 补卡; once it carries the
                        # meter's purchases it buys like the customer's card
                        info.serial, reissue=info.card_type is CardType.REISSUE and info.purchase.count == 0,
                        max_fen=allowance.most if allowance else None,
                        hoard_limit_fen=allowance.hoard_limit if allowance else None, finished=finished)

    def top_up(self, card: CardView, amount_fen: int, tendered_fen: int) -> PaymentOutcome:
        """购电 onto ``card`` (the card shown): another card in the reader is refused."""
        from terminal_app.domain.money import format_fen
        from terminal_app.services.topup import CardIdentity

        self._power_guard(Operation.CARD_WRITE)
        with self._busy(self._link, N_("link")), self._busy(self._printer, N_("printer")):
            r = self.terminal.top_up(CardIdentity(card.customer, card.meter, card.serial), amount_fen)
        if r.recovered:
            # an earlier purchase on this card was finished instead: no new money is taken
            raise BusinessRuleError("An earlier purchase of {amount} yuan on this card was finished instead.",
                                    "Take no money now; the receipt of that purchase has printed.",
                                    amount=format_fen(r.amount))
        return PaymentOutcome(r.auth_txn, r.amount, tendered_fen - r.amount, True)

    def top_up_qr(self, card: CardView, amount_fen: int, code_text: str) -> PaymentOutcome:
        """购电 onto ``card`` paid by the customer's payment code (付款码).  Blocks until the station
        answers (up to qr_payment.QR_RESPONSE_TIMEOUT_S: the UI shows "顾客支付中…"); refused offline
        (QrOfflineError), never queued nor turned into cash.  A card pulled after the charge: the
        DeviceError says to insert the same card again (a fresh MAC, nothing charged twice)."""
        from terminal_app.domain.money import format_fen
        from terminal_app.services.topup import CardIdentity

        self._power_guard(Operation.CARD_WRITE)
        with self._busy(self._link, N_("link")), self._busy(self._printer, N_("printer")):
            r = self.terminal.top_up_qr(CardIdentity(card.customer, card.meter, card.serial), amount_fen, code_text)
        self._sent_now()
        if r.recovered:  # an earlier purchase on this card was finished instead: the code was not used
            raise BusinessRuleError("An earlier purchase of {amount} yuan on this card was finished instead.",
                                    "The customer's code was not used: nothing was charged now.",
                                    amount=format_fen(r.amount))
        return PaymentOutcome(r.auth_txn, r.amount, 0, True, channel=r.method, code=r.code,
                              acquirer_id=r.acquirer_id)

    def abandon_top_up(self, card: CardView) -> GiveUpOutcome:
        """放弃购电: give up the unfinished purchase of the card in the reader (its write never landed);
        paid by code → the station refunds the wallet once; cash → the operator gives the cash back."""
        from terminal_app.services.topup import CardIdentity

        with self._busy(self._link, N_("link")):
            r = self.terminal.abandon_top_up(CardIdentity(card.customer, card.meter, card.serial))
        return GiveUpOutcome(r.auth_txn, r.amount, r.method, r.refund_id, r.pending, r.confirmed is not None)

    def reissue(self, card: CardView, amount_fen: int, tendered_fen: int) -> PaymentOutcome:
        """补卡 onto the re-issue card in the reader (``card`` as read): without money the meter's
        last purchase again, with ``amount_fen`` one more purchase."""
        self._power_guard(Operation.CARD_WRITE)
        with self._busy(self._link, N_("link")), self._busy(self._printer, N_("printer")):
            r = self.terminal.reissue_card(card.customer, card.meter, amount_fen)
        self._sent_now()
        if r.recovered and r.amount:  # an earlier re-issue with money was finished: that money was taken then
            from terminal_app.domain.money import format_fen

            raise BusinessRuleError("An earlier re-issue of {amount} yuan on this card was finished instead.",
                                    "Take no money now; the receipt of that re-issue has printed.",
                                    amount=format_fen(r.amount))
        return PaymentOutcome(r.auth_txn, r.amount, max(0, tendered_fen - r.amount), True)

    # ---- 日结 -----------------------------------------------------------------------------
    def settlement(self) -> SettlementView:
        from terminal_app.services.settlement import QR_MSGIDS

        self._power_guard(Operation.PRINT)
        with self._busy(self._link, N_("link")), self._busy(self._printer, N_("printer")):
            r = self.terminal.settle_day()
        if r.print_error is not None:
            self.print_failures += 1
        lines = tuple((line.msgid, line.count, line.fen) for line in r.lines())
        return SettlementView(lines, r.slip.reversal_count, r.slip.cash_to_deliver_fen, tuple(r.differences),
                              bool(r.reconciled), printed=r.print_error is None, again=r.again,
                              print_error=r.print_error, notes=r.notes(), readings=r.readings(),
                              qr=tuple((QR_MSGIDS.get(name, name), n, fen) for name, n, fen in r.slip.qr_rows))

    # ---- 设置 -----------------------------------------------------------------------------
    def settings_summary(self) -> list[tuple[str, str]]:
        """(label msgid, value) of the configuration the operator may need to read out."""
        s = self.settings
        return [(N_("Terminal"), s.terminal.id), (N_("APN"), s.devices.modem.apn or "-"),
                (N_("Station"), f"{s.station.host}:{s.station.port}"),
                (N_("Link"), {"modem": N_("GPRS modem"), "socket": N_("network cable")}.get(s.link.transport,
                                                                                           s.link.transport))]

    def printer_test(self) -> None:
        self._power_guard(Operation.PRINT)
        with self._busy(self._printer, N_("printer")):
            self.terminal.print_test_page()

    def modem_status(self) -> dict[str, Any] | None:
        """The modem's status fields; None when the link is a socket (no modem)."""
        if self.t is None or self.t.modem() is None:
            return None
        with self._busy(self._link, N_("link")):
            return self.t.modem_status()
