"""The modem's bring-up as a sans-IO state machine: which AT step comes next, and what each
answer means — SIM, registration (polled against its own deadline), GPRS attach, a dropped or
stuck PDP context shut and redone, the data context opened, the local IP read.

No port and no clock here: :meth:`drivers.modem.driver.ModemDriver.ensure_context` pumps it —
it performs the step :attr:`BringUp.stage` names, then tells the machine what it saw (with the
time, where time matters).  The rules and the errors the operator reads are decided here and
unit-tested without a pty (tests/unit/test_modem_bringup.py).

The table :data:`TRANSITIONS` (h11 ``_state.py`` style): stage × what was seen → next stage::

    START ─unsynced─► SYNC ─┬─ok──────► CHECK_CONTEXT ─active (IP known)─► UP
      │ synced              └─pdp lost─┐      └─not active─┐
      └─pdp lost──────────────────────► CHECK_SIM ◄────────┘
    CHECK_SIM ─ready─► REGISTRATION ─registered─► ATTACHED? ─yes─► CONTEXT_STATE
                          │ ▲  └─time up─► SIGNAL (→ NoCoverageError)   └─no─► ATTACH ─► ATTACHED_AFTER? ─yes─┘
                     searching└─ REGISTRATION_WAIT
    CONTEXT_STATE ─active─► LOCAL_IP ─► UP;  ─initial─► ACTIVATE ─► LOCAL_IP;  ─stuck / pdp lost─► SHUT ─► ACTIVATE

Anything not in the table is a refusal with the operator's advice (no SIM, SIM locked,
registration denied, no coverage, attach refused), raised by the method that saw it.
"""

from __future__ import annotations

import enum
from collections.abc import Collection

from drivers.modem.protocol import csq_to_dbm
from terminal_app.errors import LinkDownError


class NoSimError(LinkDownError):
    default_action = "Switch off, insert the SIM card (contacts down), switch on and try again."


class SimLockedError(LinkDownError):
    default_action = "The SIM card asks for a PIN or PUK: use an unlocked SIM or call the technician."


class NoCoverageError(LinkDownError):
    default_action = "Move to a place with better signal (higher ground, outdoors) and try again; nothing is lost."


class RegistrationDeniedError(LinkDownError):
    default_action = "The network refuses this SIM: call the technician to check the SIM's service."


class AttachRefusedError(LinkDownError):
    default_action = "GPRS is refused: check that the SIM has a data plan, or try again later."


class Stage(enum.Enum):
    START = "start"
    SYNC = "sync"  # attention, echo off, numeric errors, the dialect's session settings
    CHECK_CONTEXT = "check context"  # one status command: is the data context still up?
    CHECK_SIM = "check sim"
    REGISTRATION = "registration"  # AT+CREG?
    REGISTRATION_WAIT = "registration wait"  # the network, not us, decides when the modem registers
    SIGNAL = "signal"  # AT+CSQ, to say why registration failed
    ATTACHED = "attached"  # AT+CGATT?
    ATTACH = "attach"  # AT+CGATT=1
    ATTACHED_AFTER = "attached after attach"  # AT+CGATT? again
    CONTEXT_STATE = "context state"  # AT+CIPSTATUS / AT+QISTATE
    SHUT = "shut"  # AT+CIPSHUT / AT+QIDEACT
    ACTIVATE = "activate"  # APN, CIICR / QIREGAPP + QIACT
    LOCAL_IP = "local ip"  # AT+CIFSR / AT+QILOCIP
    UP = "up"


class Seen(enum.Enum):
    """What the driver saw at a stage (the machine turns the answers into these)."""

    UNSYNCED = "unsynced"
    SYNCED = "synced"
    PDP_LOST = "pdp lost"
    DONE = "done"
    ACTIVE = "active"
    NOT_ACTIVE = "not active"
    INITIAL = "initial"
    STUCK = "stuck"
    READY = "ready"
    REGISTERED = "registered"
    SEARCHING = "searching"
    TIME_UP = "time up"
    YES = "yes"
    NO = "no"


#: THE table: stage → what was seen → next stage
TRANSITIONS: dict[Stage, dict[Seen, Stage]] = {
    Stage.START: {Seen.UNSYNCED: Stage.SYNC, Seen.SYNCED: Stage.CHECK_CONTEXT, Seen.PDP_LOST: Stage.CHECK_SIM},
    Stage.SYNC: {Seen.DONE: Stage.CHECK_CONTEXT, Seen.PDP_LOST: Stage.CHECK_SIM},
    Stage.CHECK_CONTEXT: {Seen.ACTIVE: Stage.UP, Seen.NOT_ACTIVE: Stage.CHECK_SIM},
    Stage.CHECK_SIM: {Seen.READY: Stage.REGISTRATION},
    Stage.REGISTRATION: {Seen.REGISTERED: Stage.ATTACHED, Seen.SEARCHING: Stage.REGISTRATION_WAIT,
                         Seen.TIME_UP: Stage.SIGNAL},
    Stage.REGISTRATION_WAIT: {Seen.DONE: Stage.REGISTRATION},
    Stage.SIGNAL: {},
    Stage.ATTACHED: {Seen.YES: Stage.CONTEXT_STATE, Seen.NO: Stage.ATTACH},
    Stage.ATTACH: {Seen.DONE: Stage.ATTACHED_AFTER},
    Stage.ATTACHED_AFTER: {Seen.YES: Stage.CONTEXT_STATE},
    Stage.CONTEXT_STATE: {Seen.ACTIVE: Stage.LOCAL_IP, Seen.INITIAL: Stage.ACTIVATE, Seen.STUCK: Stage.SHUT},
    Stage.SHUT: {Seen.DONE: Stage.ACTIVATE},
    Stage.ACTIVATE: {Seen.DONE: Stage.LOCAL_IP},
    Stage.LOCAL_IP: {Seen.DONE: Stage.UP},
    Stage.UP: {},
}


class BringUp:
    """One bring-up (or the cheap check that all is still up).

    ``active_states`` / ``initial_state``: the dialect's context states; ``synced``: the session
    was configured since the port opened; ``pdp_lost``: the modem reported the context dropped
    (or a close failed); ``local_ip``: known from the last bring-up.
    """

    def __init__(self, *, active_states: Collection[str], initial_state: str, synced: bool, pdp_lost: bool,
                 local_ip: str | None, registration_timeout_s: float) -> None:
        self.active_states = frozenset(active_states)
        self.initial_state = initial_state
        self.pdp_lost = pdp_lost
        self.local_ip = local_ip
        self.registration_timeout_s = registration_timeout_s
        self.poll_s = min(1.0, max(0.05, registration_timeout_s / 10))
        self._registration_deadline: float | None = None
        self._last_registration = "unknown"
        self.stage = Stage.START
        self.history: list[Stage] = []
        self._go(Seen.UNSYNCED if not synced else Seen.PDP_LOST if pdp_lost else Seen.SYNCED)

    def _go(self, seen: Seen) -> None:
        try:
            nxt = TRANSITIONS[self.stage][seen]
        except KeyError:
            raise RuntimeError(f"bring-up: {seen.value!r} is not expected at {self.stage.value!r}") from None
        self.history.append(self.stage)
        self.stage = nxt

    def _at(self, *stages: Stage) -> None:
        if self.stage not in stages:
            raise RuntimeError(f"bring-up is at {self.stage.value!r}, not {' / '.join(s.value for s in stages)!r}")

    # --- what the driver saw ------------------------------------------------------------------

    def synced(self, pdp_lost: bool) -> None:
        self._at(Stage.SYNC)
        self.pdp_lost = pdp_lost
        self._go(Seen.PDP_LOST if pdp_lost else Seen.DONE)

    def context_checked(self, state: str, local_ip: str | None) -> None:
        """The status command's state, the IP known so far (cheap path: still up → done)."""
        self._at(Stage.CHECK_CONTEXT)
        self.local_ip = local_ip
        self._go(Seen.ACTIVE if state in self.active_states and local_ip else Seen.NOT_ACTIVE)

    def sim(self, sim_state: str) -> None:
        """``ready`` / ``absent`` / ``locked`` / ``error`` (the driver's reading of AT+CPIN?)."""
        self._at(Stage.CHECK_SIM)
        if sim_state == "absent":
            raise NoSimError("The modem finds no SIM card.")
        if sim_state == "locked":
            raise SimLockedError("The SIM card is locked.")
        if sim_state != "ready":
            raise NoSimError("The SIM card does not work.")
        self._go(Seen.READY)

    def registration(self, registered: bool, denied: bool, name: str, *, asked_at: float,
                     answered_at: float) -> None:
        """One AT+CREG? answer (``name``: the stat's name): registered, denied, or still not —
        polled until the registration timeout, counted from the first question."""
        self._at(Stage.REGISTRATION)
        if self._registration_deadline is None:
            self._registration_deadline = asked_at + self.registration_timeout_s
        self._last_registration = name
        if registered:
            self._go(Seen.REGISTERED)
            return
        if denied:
            raise RegistrationDeniedError("The mobile network denied registration.")
        self._go(Seen.TIME_UP if answered_at + self.poll_s > self._registration_deadline else Seen.SEARCHING)

    def waited(self) -> None:
        """The driver waited :attr:`poll_s` before asking again."""
        self._at(Stage.REGISTRATION_WAIT)
        self._go(Seen.DONE)

    def no_coverage(self, rssi: int | None) -> NoCoverageError:
        """Registration timed out; ``rssi`` from AT+CSQ (None: no signal) says which error."""
        self._at(Stage.SIGNAL)
        timeout = self.registration_timeout_s
        if rssi is None:
            return NoCoverageError("No mobile network here (no signal) after {timeout:.0f} s.", timeout=timeout)
        if self._last_registration == "not_registered":
            return NoCoverageError("No mobile network here (signal {dbm} dBm) after {timeout:.0f} s.",
                                   dbm=csq_to_dbm(rssi), timeout=timeout)
        return NoCoverageError("The modem is still searching for the network after {timeout:.0f} s "
                               "(signal {dbm} dBm).", timeout=timeout, dbm=csq_to_dbm(rssi))

    def attached(self, yes: bool) -> None:
        """An AT+CGATT? answer (before or after AT+CGATT=1)."""
        self._at(Stage.ATTACHED, Stage.ATTACHED_AFTER)
        if not yes and self.stage is Stage.ATTACHED_AFTER:
            raise AttachRefusedError("The modem is not attached to GPRS after AT+CGATT=1.")
        self._go(Seen.YES if yes else Seen.NO)

    def attach_refused(self, detail: str) -> AttachRefusedError:
        """AT+CGATT=1 answered with an error."""
        self._at(Stage.ATTACH)
        return AttachRefusedError("The network refused the GPRS attach ({detail}).", detail=detail)

    def attach_timed_out(self, timeout: float) -> AttachRefusedError:
        """AT+CGATT=1 did not finish within its bound."""
        self._at(Stage.ATTACH)
        return AttachRefusedError("The GPRS attach did not finish within {timeout:.0f} s.", timeout=timeout)

    def context_state(self, state: str) -> None:
        """The context's state before opening it: up, initial, or dropped/stuck (shut first)."""
        self._at(Stage.CONTEXT_STATE)
        if self.pdp_lost or state not in self.active_states | {self.initial_state}:
            seen = Seen.STUCK  # PDP DEACT or a stuck intermediate state: only a shut leads back to initial
        elif state == self.initial_state:
            seen = Seen.INITIAL
        else:
            seen = Seen.ACTIVE
        self.pdp_lost = False
        self._go(seen)

    def done(self, local_ip: str | None = None) -> None:
        """The step at ATTACH, SHUT, ACTIVATE or LOCAL_IP (with the address read) succeeded."""
        self._at(Stage.ATTACH, Stage.SHUT, Stage.ACTIVATE, Stage.LOCAL_IP)
        if self.stage is Stage.LOCAL_IP:
            if not local_ip:
                raise RuntimeError("bring-up: the local IP step reported no address")
            self.local_ip = local_ip
        self._go(Seen.DONE)
