"""How the station asks an acquirer for a customer's money, as a table (sans-IO: no sockets, no clock).

The published advice both acquirers give for a payment code (docs/acquirer.md cites it):

- the pay call answers at once: paid, failed, or "the customer is typing a password"
  (WeChat ``USERPAYING``, Alipay ``10003``) — then query at intervals up to a limit;
- a system error, or no answer at all, means the outcome is unknown: wait a little, then query
  (the pay may have arrived); never pay again;
- when the queries end without a definite answer, reverse (撤销 / cancel) the order: an unpaid one is
  closed for good, a paid one is given back; a reversal without answer or with an error is retried;
- a same-day 冲正 of a completed payment is a refund, retried under the same refund number
  (idempotent at the acquirer) until it is answered.

:func:`step` maps (state, event) to (next state, actions) by looking the pair up in :data:`TABLE`;
every pair not in it raises :class:`PolicyError` (:data:`ACCEPTS` says which events each phase
takes).  A run that starts with :attr:`Event.RESUME` (the station finds its own record of the txn
without an outcome: it crashed mid-flight) never sends a pay: it queries first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum

from terminal_app.errors import LocalProtocolError


class Phase(StrEnum):
    START = "START"
    PAYING = "PAYING"                # pay sent, answer awaited
    WAIT_QUERY = "WAIT_QUERY"        # waiting before the next query
    QUERYING = "QUERYING"            # query sent
    REVERSING = "REVERSING"          # reverse / cancel sent
    WAIT_REVERSE = "WAIT_REVERSE"    # waiting before retrying the reversal
    REFUNDING = "REFUNDING"          # refund sent
    WAIT_REFUND = "WAIT_REFUND"
    DONE = "DONE"                    # an outcome was given (FINISH)


class Event(StrEnum):
    NEW = "NEW"                      # begin: the station has no record of this txn
    RESUME = "RESUME"                # begin: a record without an outcome — ask before anything else
    RESUME_REVERSE = "RESUME_REVERSE"  # begin: a reversal left unanswered earlier — go on reversing
    REFUND = "REFUND"                # begin: give a completed payment back (same-day 冲正)
    PAID = "PAID"                    # the money moved (pay or query says so, with the acquirer's id)
    USERPAYING = "USERPAYING"        # the customer is still typing a password / has not paid yet
    FAILED = "FAILED"                # definite: not paid and cannot be (no funds, cancelled, bad code, closed)
    UNKNOWN = "UNKNOWN"              # system error, unreadable or unsigned answer, order not (yet) found
    NO_ANSWER = "NO_ANSWER"          # timed out or the connection broke: the request may have arrived
    TICK = "TICK"                    # the wait asked for is over
    REVERSED = "REVERSED"            # the order is closed, or its money given back
    REVERSE_FAILED = "REVERSE_FAILED"  # the reversal was refused for now (recall / retry_flag Y): retry
    REVERSE_REFUSED = "REVERSE_REFUSED"  # the reversal was refused for good: a person must look
    REFUNDED = "REFUNDED"


class Outcome(StrEnum):
    PAID = "PAID"                    # charged once; the acquirer's id is on record
    NOT_PAID = "NOT_PAID"            # definitely not charged (the acquirer said so)
    REVERSED = "REVERSED"            # the outcome was unknown, the order was reversed: not charged
    UNRESOLVED = "UNRESOLVED"        # reversal unanswered after every retry: resume later, tell nobody "paid"
    REFUNDED = "REFUNDED"
    REFUND_REFUSED = "REFUND_REFUSED"
    REFUND_UNRESOLVED = "REFUND_UNRESOLVED"


class ActionKind(StrEnum):
    SEND_PAY = "SEND_PAY"
    SEND_QUERY = "SEND_QUERY"
    SEND_REVERSE = "SEND_REVERSE"
    SEND_REFUND = "SEND_REFUND"
    WAIT = "WAIT"
    FINISH = "FINISH"


@dataclass(frozen=True, slots=True)
class Action:
    kind: ActionKind
    seconds: float = 0.0
    outcome: Outcome | None = None


@dataclass(frozen=True, slots=True)
class Params:
    """The intervals and limits (defaults: the acquirers' advice — query every 10 s, about 45 s in all;
    first query 5 s after a system error; reversal retried)."""

    query_interval: float = 10.0
    query_limit: int = 5
    unknown_wait: float = 5.0
    reverse_interval: float = 5.0
    reverse_limit: int = 6
    refund_interval: float = 5.0
    refund_limit: int = 6

    def __post_init__(self) -> None:
        if min(self.query_limit, self.reverse_limit, self.refund_limit) < 1:
            raise ValueError("every limit must allow at least one call")
        if min(self.query_interval, self.unknown_wait, self.reverse_interval, self.refund_interval) < 0:
            raise ValueError("waits cannot be negative")


@dataclass(frozen=True, slots=True)
class State:
    phase: Phase = Phase.START
    queries: int = 0
    reverses: int = 0
    refunds: int = 0
    outcome: Outcome | None = None


class PolicyError(LocalProtocolError):
    """An event the payment policy cannot take in its phase (a program error in the driver)."""


Guard = Callable[[State, Params], bool]
Effect = Callable[[State, Params], tuple[State, tuple[Action, ...]]]


def _queries_left(s: State, p: Params) -> bool:
    return s.queries < p.query_limit


def _reverses_left(s: State, p: Params) -> bool:
    return s.reverses < p.reverse_limit


def _refunds_left(s: State, p: Params) -> bool:
    return s.refunds < p.refund_limit


def _always(s: State, p: Params) -> bool:
    return True


def _pay(s: State, p: Params):
    return replace(s, phase=Phase.PAYING), (Action(ActionKind.SEND_PAY),)


def _query(s: State, p: Params):
    return replace(s, phase=Phase.QUERYING, queries=s.queries + 1), (Action(ActionKind.SEND_QUERY),)


def _reverse(s: State, p: Params):
    return replace(s, phase=Phase.REVERSING, reverses=s.reverses + 1), (Action(ActionKind.SEND_REVERSE),)


def _refund(s: State, p: Params):
    return replace(s, phase=Phase.REFUNDING, refunds=s.refunds + 1), (Action(ActionKind.SEND_REFUND),)


def _wait(phase: Phase, seconds: Callable[[Params], float]) -> Effect:
    return lambda s, p: (replace(s, phase=phase), (Action(ActionKind.WAIT, seconds=seconds(p)),))


def _finish(outcome: Outcome) -> Effect:
    return lambda s, p: (replace(s, phase=Phase.DONE, outcome=outcome), (Action(ActionKind.FINISH, outcome=outcome),))


_wait_query = _wait(Phase.WAIT_QUERY, lambda p: p.query_interval)
_wait_unknown = _wait(Phase.WAIT_QUERY, lambda p: p.unknown_wait)
_wait_reverse = _wait(Phase.WAIT_REVERSE, lambda p: p.reverse_interval)
_wait_refund = _wait(Phase.WAIT_REFUND, lambda p: p.refund_interval)

#: (phase, event) → [(guard, effect)…], the first guard that holds wins; docs/acquirer.md prints it
TABLE: dict[tuple[Phase, Event], tuple[tuple[Guard, Effect], ...]] = {
    (Phase.START, Event.NEW): ((_always, _pay),),
    (Phase.START, Event.RESUME): ((_always, _query),),
    (Phase.START, Event.RESUME_REVERSE): ((_always, _reverse),),
    (Phase.START, Event.REFUND): ((_always, _refund),),

    (Phase.PAYING, Event.PAID): ((_always, _finish(Outcome.PAID)),),
    (Phase.PAYING, Event.FAILED): ((_always, _finish(Outcome.NOT_PAID)),),
    (Phase.PAYING, Event.USERPAYING): ((_always, _wait_query),),
    (Phase.PAYING, Event.UNKNOWN): ((_always, _wait_unknown),),
    (Phase.PAYING, Event.NO_ANSWER): ((_always, _wait_unknown),),

    (Phase.WAIT_QUERY, Event.TICK): ((_queries_left, _query), (_always, _reverse)),

    (Phase.QUERYING, Event.PAID): ((_always, _finish(Outcome.PAID)),),
    (Phase.QUERYING, Event.FAILED): ((_always, _finish(Outcome.NOT_PAID)),),
    (Phase.QUERYING, Event.USERPAYING): ((_queries_left, _wait_query), (_always, _reverse)),
    (Phase.QUERYING, Event.UNKNOWN): ((_queries_left, _wait_query), (_always, _reverse)),
    (Phase.QUERYING, Event.NO_ANSWER): ((_queries_left, _wait_query), (_always, _reverse)),

    (Phase.REVERSING, Event.REVERSED): ((_always, _finish(Outcome.REVERSED)),),
    (Phase.REVERSING, Event.REVERSE_FAILED): ((_reverses_left, _wait_reverse),
                                              (_always, _finish(Outcome.UNRESOLVED))),
    (Phase.REVERSING, Event.UNKNOWN): ((_reverses_left, _wait_reverse), (_always, _finish(Outcome.UNRESOLVED))),
    (Phase.REVERSING, Event.NO_ANSWER): ((_reverses_left, _wait_reverse), (_always, _finish(Outcome.UNRESOLVED))),
    (Phase.REVERSING, Event.REVERSE_REFUSED): ((_always, _finish(Outcome.UNRESOLVED)),),

    (Phase.WAIT_REVERSE, Event.TICK): ((_always, _reverse),),

    (Phase.REFUNDING, Event.REFUNDED): ((_always, _finish(Outcome.REFUNDED)),),
    (Phase.REFUNDING, Event.FAILED): ((_always, _finish(Outcome.REFUND_REFUSED)),),
    (Phase.REFUNDING, Event.UNKNOWN): ((_refunds_left, _wait_refund), (_always, _finish(Outcome.REFUND_UNRESOLVED))),
    (Phase.REFUNDING, Event.NO_ANSWER): ((_refunds_left, _wait_refund),
                                         (_always, _finish(Outcome.REFUND_UNRESOLVED))),

    (Phase.WAIT_REFUND, Event.TICK): ((_always, _refund),),
}

#: the events each phase takes (every other pair is a PolicyError)
ACCEPTS: dict[Phase, frozenset[Event]] = {
    phase: frozenset(e for (ph, e) in TABLE if ph is phase) for phase in Phase
}
#: what each sent request may be answered with (the IO wrapper maps the acquirer's answer onto these)
ANSWERS: dict[ActionKind, frozenset[Event]] = {
    ActionKind.SEND_PAY: ACCEPTS[Phase.PAYING],
    ActionKind.SEND_QUERY: ACCEPTS[Phase.QUERYING],
    ActionKind.SEND_REVERSE: ACCEPTS[Phase.REVERSING],
    ActionKind.SEND_REFUND: ACCEPTS[Phase.REFUNDING],
}


def step(state: State, event: Event, params: Params = Params()) -> tuple[State, tuple[Action, ...]]:
    """The next state and what to do, by the table; :class:`PolicyError` for a pair it does not have."""
    rows = TABLE.get((state.phase, event))
    if rows is None:
        raise PolicyError("The payment policy cannot take {event} in phase {phase}.", "This is a program error: report it.",
                          event=event.value, phase=state.phase.value)
    for guard, effect in rows:
        if guard(state, params):
            return effect(state, params)
    raise AssertionError("every row list ends with an unguarded row")  # pragma: no cover


def table_rows(params: Params = Params()) -> list[tuple[str, str, str, str]]:
    """The table as text rows (phase, event, condition, what happens) for docs/acquirer.md."""
    names = {_queries_left: "queries left", _reverses_left: "reversals left", _refunds_left: "refunds left",
             _always: ""}
    out = []
    for (phase, event), rows in TABLE.items():
        for i, (guard, effect) in enumerate(rows):
            cond = names[guard] if guard is not _always else ("otherwise" if i else "")
            probe = State(phase=phase)
            nxt, actions = effect(probe, params)
            what = ", ".join(a.kind.value + (f"({a.outcome.value})" if a.outcome else "")
                             + (f"({a.seconds:g} s)" if a.kind is ActionKind.WAIT else "") for a in actions)
            out.append((phase.value, event.value, cond, f"→ {nxt.phase.value}: {what}"))
    return out
