"""The journal entry's lifecycle as ONE table (h11's ``_state.py``): state × event → next state.

Every change of an entry's state goes through this table: :meth:`offline_queue.journal.Journal`
derives its SQL guards from :func:`sources` (the states in which an event is legal) and raises
:class:`IllegalTransitionError` when an entry is not in one of them; :func:`transition` is the
same rule for one entry in memory.  A settled entry (applied, rejected) never moves again.

    capture ─► pending ──SEND──► in_flight ──APPLY──► applied
                 ▲  │               │  └────REJECT──► rejected
                 │  │ REJECT (a reversal whose payment was refused is parked) ─► rejected
      NOT_SENT ──┘  └─RECOVER─┐     └─LOSE / RECOVER─► unknown ──SEND / NOT_SENT / APPLY / REJECT─► …
                              ▼
                           unknown   (a pending entry below the durable send mark, after a crash)

Outcomes arrive from the sync engine in any order relative to the entry's open state (an entry
resolved with TXN_STATUS, a batch answered out of band), so every OPEN state accepts every
outcome event; what the table forbids is moving a settled entry, and RECOVER of an entry that
is already unknown.
"""

from __future__ import annotations

from enum import StrEnum

from terminal_app.errors import N_, LocalProtocolError


class EntryState(StrEnum):
    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    APPLIED = "applied"
    REJECTED = "rejected"
    UNKNOWN = "unknown"


class Event(StrEnum):
    SEND = "send"  # marked in flight before the exchange
    APPLY = "apply"  # the station applied it (OK, or TXN_STATUS says applied and the reply is in)
    REJECT = "reject"  # the station refused it (or parked: its payment was refused)
    NOT_SENT = "not_sent"  # provably had no effect (or TXN_STATUS: resend the identical body)
    LOSE = "lose"  # sent, no verified answer: outcome unknown
    RECOVER = "recover"  # at open: what an earlier run may have sent becomes unknown


#: settling to a state = this event
SETTLE_EVENT: dict[EntryState, Event] = {
    EntryState.APPLIED: Event.APPLY,
    EntryState.REJECTED: Event.REJECT,
    EntryState.PENDING: Event.NOT_SENT,
    EntryState.UNKNOWN: Event.LOSE,
    EntryState.IN_FLIGHT: Event.SEND,
}

_OUTCOMES: dict[Event, EntryState] = {
    Event.SEND: EntryState.IN_FLIGHT,
    Event.APPLY: EntryState.APPLIED,
    Event.REJECT: EntryState.REJECTED,
    Event.NOT_SENT: EntryState.PENDING,
    Event.LOSE: EntryState.UNKNOWN,
}

#: THE table: for each state, the events legal in it and the state each leads to
TRANSITIONS: dict[EntryState, dict[Event, EntryState]] = {
    EntryState.PENDING: {**_OUTCOMES, Event.RECOVER: EntryState.UNKNOWN},
    EntryState.IN_FLIGHT: {**_OUTCOMES, Event.RECOVER: EntryState.UNKNOWN},
    EntryState.UNKNOWN: dict(_OUTCOMES),
    EntryState.APPLIED: {},
    EntryState.REJECTED: {},
}

#: states an entry can still leave (the sync engine's work)
OPEN: tuple[EntryState, ...] = tuple(s for s, events in TRANSITIONS.items() if events)


class IllegalTransitionError(LocalProtocolError):
    """An entry was asked to move in a way the lifecycle table does not allow (a program error)."""

    def __init__(self, what: str, txn: str, state: EntryState | None, event: Event) -> None:
        self.txn = txn
        self.state = state
        self.event = event
        super().__init__(what, txn=txn)


def _sentence(event: Event) -> str:
    return (N_("Journal entry {txn} is not open; it cannot be sent.") if event is Event.SEND
            else N_("Journal entry {txn} is not open; its outcome cannot be recorded."))


def sources(event: Event) -> tuple[EntryState, ...]:
    """The states in which ``event`` is legal (the journal's SQL guard), in table order."""
    return tuple(s for s, events in TRANSITIONS.items() if event in events)


def target(event: Event) -> EntryState:
    """Where ``event`` leads (the same from every state it is legal in)."""
    targets = {events[event] for events in TRANSITIONS.values() if event in events}
    assert len(targets) == 1, (event, targets)
    return targets.pop()


def transition(txn: str, state: EntryState, event: Event) -> EntryState:
    """The next state of entry ``txn`` in ``state`` on ``event``; raises IllegalTransitionError."""
    try:
        return TRANSITIONS[state][event]
    except KeyError:
        raise IllegalTransitionError(_sentence(event), txn, state, event) from None


def illegal(txn: str, state: EntryState | None, event: Event) -> IllegalTransitionError:
    """The error for an entry whose transition the journal's guard refused (``state`` None: no
    such entry)."""
    return IllegalTransitionError(_sentence(event), txn, state, event)
