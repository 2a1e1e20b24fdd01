"""The IR meter's request policy as sans-IO state machines: retries, echo, address, follow-ups.

No serial port and no clock here: the blocking driver (:mod:`drivers.ir_meter.driver`) pumps
these machines — it writes what :attr:`Exchange.request` says when the phase is ``SEND``, reads
until :attr:`Exchange.deadline` when it is ``AWAIT`` and hands over what arrived (``b""`` when
nothing did) with the time it read it at.  So every rule below is unit-tested with made-up
bytes and made-up times (tests/unit/test_ir_policy.py), and the pty tests run the same code.

One request (:class:`Exchange`), in phases (the table :data:`EXCHANGE_TRANSITIONS`)::

    SEND ──sent──► AWAIT ──reply──► DONE (the frame, or AbnormalReplyError: the meter's final word)
                     └──attempt failed──► SEND (tries left) / FAILED (the last failure decides the error)

Within one attempt (DL/T 645 timing): the meter must start its reply within ``reply_timeout_s``
after the request left the line (its own wire time counted), bytes of one frame may be at most
``byte_gap_s`` apart.  The IR head's echo of our request (D7 = 0) restarts the reply window.
A reply to another function is stale and ignored; one from another address is remembered as
"wrong meter" and the window narrows to a short settle; a cut-off or corrupt frame likewise.

A read with follow-up frames (:class:`ReadPlan`) and finding the meter (:class:`IdentifyPlan`:
2007 then 1997, each probe once per attempt) are plans of such exchanges.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

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
    encode_read,
    encode_read_address,
    encode_read_followup,
    split_payload,
)
from terminal_app.errors import DeviceTimeoutError

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


@dataclass(frozen=True, slots=True)
class Timing:
    """The line's and the standard's times, in seconds."""

    baudrate: int = 1200
    reply_timeout_s: float = 0.6
    byte_gap_s: float = 0.5

    @property
    def byte_time(self) -> float:
        return BITS_PER_BYTE / self.baudrate


class Failure(enum.Enum):
    """Why one attempt failed; the last one decides the error raised after the retries."""

    SILENT = "silent"
    TRUNCATED = "truncated"
    CHECKSUM = "checksum"
    WRONG_ADDRESS = "wrong address"


def address_matches(asked: str, answered: str) -> bool:
    """AA bytes of the address we sent are wildcards (13H's AA×6, 1997's AA-padded short addresses)."""
    return all(a == "AA" or a == b for a, b in zip([asked[i:i + 2] for i in range(0, 12, 2)],
                                                  [answered[i:i + 2] for i in range(0, 12, 2)], strict=True))


class Phase(enum.Enum):
    SEND = "send"  # the request is to be written
    AWAIT = "await"  # reading the reply window
    DONE = "done"  # :attr:`Exchange.frame` is the reply
    FAILED = "failed"  # :attr:`Exchange.error` says why (raised by the pump)


class Step(enum.Enum):
    SENT = "sent"
    REPLY = "reply"
    RETRY = "retry"  # an attempt failed, tries are left
    GIVE_UP = "give up"  # an attempt failed, none left; or the meter's abnormal reply


#: THE table of one exchange: phase × step → next phase; anything else is a program error (RuntimeError)
EXCHANGE_TRANSITIONS: dict[Phase, dict[Step, Phase]] = {
    Phase.SEND: {Step.SENT: Phase.AWAIT},
    Phase.AWAIT: {Step.REPLY: Phase.DONE, Step.RETRY: Phase.SEND, Step.GIVE_UP: Phase.FAILED},
    Phase.DONE: {},
    Phase.FAILED: {},
}


class Exchange:
    """One request to one meter with its retries (sans-IO: bytes and times in, decisions out)."""

    def __init__(self, request: bytes, address: str, function: int, *, tries: int, timing: Timing,
                 where: str = "") -> None:
        if tries < 1:
            raise ValueError("an exchange makes at least one attempt")
        self.request = request
        self.address = address
        self.function = function
        self.tries = tries
        self.timing = timing
        self.where = where  # the port, for the log (str of the error)
        self.phase = Phase.SEND
        self.attempts = 0
        self.frame: Frame | None = None
        self.error: Dlt645Error | DeviceTimeoutError | None = None
        self._failure = Failure.SILENT
        self._other = ""
        self._decoder = FrameDecoder()
        self._first_deadline = self._deadline = self._hard_deadline = 0.0

    def _move(self, step: Step) -> None:
        try:
            self.phase = EXCHANGE_TRANSITIONS[self.phase][step]
        except KeyError:
            raise RuntimeError(f"a meter exchange cannot take step {step.value!r} while {self.phase.value}") from None

    @property
    def deadline(self) -> float:
        """Read until this time (monotonic seconds) while AWAIT."""
        return min(self._deadline, self._hard_deadline)

    def sent(self, now: float) -> None:
        """The request was written (and flushed) at ``now``: the reply window opens."""
        self._move(Step.SENT)
        self.attempts += 1
        t = self.timing
        self._decoder = FrameDecoder()
        self._failure, self._other = Failure.SILENT, ""
        # The request may still be on the line after flush() (USB adapters, ptys): allow its
        # wire time before the meter's own reply window starts.
        self._first_deadline = now + len(self.request) * t.byte_time + t.reply_timeout_s
        max_frame_time = (4 + 12 + 255) * t.byte_time
        self._hard_deadline = self._first_deadline + max_frame_time + 2 * t.byte_gap_s
        self._deadline = self._first_deadline

    def received(self, chunk: bytes, now: float) -> None:
        """What arrived by ``now`` (``b""``: nothing before :attr:`deadline`)."""
        if self.phase is not Phase.AWAIT:
            self._move(Step.REPLY)  # raises: nothing is awaited
        t = self.timing
        settle = max(0.02, 4 * t.byte_time)  # after a rejected frame: is more coming?
        decoder = self._decoder
        if chunk:
            events = decoder.feed(chunk)
            self._deadline = now + t.byte_gap_s if decoder.pending else max(self._first_deadline, now + settle)
        else:
            events = decoder.flush()
            if not events:
                self._attempt_failed()
                return
        for ev in events:
            if isinstance(ev, Rejected):
                self._failure = Failure.TRUNCATED if ev.reason is RejectReason.TRUNCATED else Failure.CHECKSUM
                self._other = ""
                if not decoder.pending:
                    self._deadline = min(self._deadline, now + settle)
                continue
            if ev.direction is Direction.REQUEST:
                # the IR head's echo of our request: the meter's reply window starts now
                self._first_deadline = now + t.reply_timeout_s
                self._deadline = max(self._deadline, self._first_deadline)
                continue
            if ev.function != self.function:
                continue  # a stale reply to something else
            if not address_matches(self.address, ev.address):
                self._failure, self._other = Failure.WRONG_ADDRESS, ev.address
                self._deadline = min(self._deadline, now + settle)
                continue
            self._replied(ev)
            return
        if not chunk and not decoder.pending:
            self._attempt_failed()

    def _replied(self, frame: Frame) -> None:
        if frame.abnormal:
            payload = split_payload(frame)
            self.error = AbnormalReplyError("The meter answered with an abnormal reply: {errors}.",
                                            errors=payload.error or ())
            self._move(Step.GIVE_UP)
            return
        self.frame = frame
        self._move(Step.REPLY)

    def _attempt_failed(self) -> None:
        if self.attempts < self.tries:
            self._move(Step.RETRY)
            return
        n = self.tries
        if self._failure is Failure.SILENT:
            self.error = DeviceTimeoutError("The meter did not answer (tried {n} times).", AIM_ACTION,
                                            url=self.where, n=n)
        elif self._failure is Failure.WRONG_ADDRESS:
            self.error = WrongMeterError("Meter {got} answered instead of meter {want}.", got=self._other,
                                         want=self.address)
        elif self._failure is Failure.CHECKSUM:
            self.error = Dlt645Error("The meter's reply failed its checksum (tried {n} times).", AIM_ACTION, n=n)
        else:
            self.error = Dlt645Error("The meter's reply was cut off (tried {n} times).", AIM_ACTION, n=n)
        self._move(Step.GIVE_UP)

    def result(self) -> Frame:
        """The reply frame once DONE; raises the error once FAILED."""
        if self.phase is Phase.DONE and self.frame is not None:
            return self.frame
        if self.phase is Phase.FAILED and self.error is not None:
            raise self.error
        raise RuntimeError(f"the meter exchange has no result yet ({self.phase.value})")


class ReadPlan:
    """One register read: the first request, then follow-up frames while the meter announces more
    (2007 11H/12H with SEQ 1, 2, …; 1997 01H/02H), at most :data:`MAX_FOLLOWUPS`."""

    def __init__(self, ident: MeterIdentity, wire_di: str, preamble: bytes = PREAMBLE) -> None:
        self.ident = ident
        self.wire_di = wire_di
        self.preamble = preamble
        v2007 = ident.standard is Standard.V2007
        self.read_function = Function.READ if v2007 else Function.READ_1997
        self.followup_function = Function.READ_FOLLOWUP if v2007 else Function.READ_FOLLOWUP_1997
        self.data = b""
        self.seq = 0
        self.done = False

    def first(self) -> tuple[bytes, int]:
        """The first request and the function its reply carries."""
        return encode_read(self.ident.address, self.wire_di, self.ident.standard, self.preamble), self.read_function

    def take(self, frame: Frame) -> tuple[bytes, int] | None:
        """Take a reply; returns the follow-up request to send next, or None when the data is whole."""
        payload = split_payload(frame)
        if payload.di != self.wire_di:
            raise Dlt645Error("The meter answered {got} to a read of {di}.", got=payload.di or "no DI",
                              di=self.wire_di)
        self.data += payload.data
        if not frame.more:
            self.done = True
            return None
        self.seq += 1
        if self.seq > MAX_FOLLOWUPS:
            raise Dlt645Error("The meter kept announcing follow-up frames for {di}.", di=self.wire_di)
        return (encode_read_followup(self.ident.address, self.wire_di, self.seq, self.ident.standard,
                                     self.preamble), self.followup_function)


@dataclass(frozen=True, slots=True)
class Probe:
    """One wildcard request any meter of ``standard`` answers (one try: the plan does the retries)."""

    standard: Standard
    request: bytes
    function: int

    def address_of(self, frame: Frame) -> str:
        if self.standard is Standard.V2007:
            payload = split_payload(frame)
            return address_from_wire(payload.data[:6]) if len(payload.data) >= 6 else frame.address
        return frame.address


class IdentifyPlan:
    """Finding the meter: each attempt probes 2007 and then 1997 once (so a 1997 meter is found
    after one 2007 reply window, not after all of 2007's retries).  An abnormal reply is final; a
    protocol error outranks silence in the error raised when no probe succeeds."""

    def __init__(self, standard: Standard | None, retries: int, preamble: bytes = PREAMBLE,
                 where: str = "") -> None:
        self.order = [standard] if standard else [Standard.V2007, Standard.V1997]
        self.attempts = retries + 1
        self.preamble = preamble
        self.where = where
        self._timeout: DeviceTimeoutError | None = None
        self._protocol_error: Dlt645Error | None = None

    def probe(self, standard: Standard) -> Probe:
        if standard is Standard.V2007:
            return Probe(standard, encode_read_address(self.preamble), Function.READ_ADDRESS)
        return Probe(standard, encode_read(WILDCARD, "C032", standard, self.preamble), Function.READ_1997)

    def probes(self) -> list[Probe]:
        """Every probe in order, attempt after attempt (the pump stops at the first success)."""
        return [self.probe(std) for _ in range(self.attempts) for std in self.order]

    def failed(self, error: BaseException) -> None:
        """A probe failed: an abnormal reply is final (raised again); others are remembered."""
        if isinstance(error, AbnormalReplyError):
            raise error
        if isinstance(error, DeviceTimeoutError):
            self._timeout = error
        elif isinstance(error, Dlt645Error):
            self._protocol_error = error
        else:
            raise error

    def give_up(self) -> Exception:
        """The error once every probe failed."""
        if self._protocol_error is not None:
            return self._protocol_error
        # the port and the standards tried are for the log (str): the operator needs only the advice
        err = DeviceTimeoutError("No meter answered (tried {n} times).", AIM_ACTION, url=self.where,
                                 tried=" and ".join(s.value for s in self.order), n=self.attempts)
        err.__cause__ = self._timeout
        return err
