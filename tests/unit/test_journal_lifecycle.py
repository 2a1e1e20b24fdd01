"""The journal entry lifecycle table (offline_queue.lifecycle): every legal and every illegal
(state, event) pair, in memory and through the journal's own SQL guards."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from offline_queue.journal import Journal, Settlement
from offline_queue.lifecycle import (
    OPEN,
    SETTLE_EVENT,
    TRANSITIONS,
    EntryState,
    Event,
    IllegalTransitionError,
    sources,
    target,
    transition,
)
from terminal_app.errors import LocalProtocolError
from terminal_app.station.messages import MsgType
from terminal_app.station.protocol import encode_body_fast
from terminal_app.timeutil import SHANGHAI, FixedClock

TID = "12345678"
S, E = EntryState, Event
LEGAL = {
    (S.PENDING, E.SEND): S.IN_FLIGHT, (S.PENDING, E.APPLY): S.APPLIED, (S.PENDING, E.REJECT): S.REJECTED,
    (S.PENDING, E.NOT_SENT): S.PENDING, (S.PENDING, E.LOSE): S.UNKNOWN, (S.PENDING, E.RECOVER): S.UNKNOWN,
    (S.IN_FLIGHT, E.SEND): S.IN_FLIGHT, (S.IN_FLIGHT, E.APPLY): S.APPLIED, (S.IN_FLIGHT, E.REJECT): S.REJECTED,
    (S.IN_FLIGHT, E.NOT_SENT): S.PENDING, (S.IN_FLIGHT, E.LOSE): S.UNKNOWN, (S.IN_FLIGHT, E.RECOVER): S.UNKNOWN,
    (S.UNKNOWN, E.SEND): S.IN_FLIGHT, (S.UNKNOWN, E.APPLY): S.APPLIED, (S.UNKNOWN, E.REJECT): S.REJECTED,
    (S.UNKNOWN, E.NOT_SENT): S.PENDING, (S.UNKNOWN, E.LOSE): S.UNKNOWN,
}
ALL_PAIRS = list(itertools.product(EntryState, Event))
ILLEGAL = [p for p in ALL_PAIRS if p not in LEGAL]


def test_the_table_is_exactly_the_documented_lifecycle():
    assert {(s, e): t for s, events in TRANSITIONS.items() for e, t in events.items()} == LEGAL
    assert set(TRANSITIONS) == set(EntryState)
    assert OPEN == (S.PENDING, S.IN_FLIGHT, S.UNKNOWN)
    assert len(ILLEGAL) == 13


@pytest.mark.parametrize("state, event", sorted(LEGAL), ids=lambda v: v.value)
def test_every_legal_pair_moves_to_its_state(state, event):
    assert transition("t-1", state, event) is LEGAL[(state, event)]
    assert state in sources(event)
    assert target(event) is LEGAL[(state, event)]


@pytest.mark.parametrize("state, event", ILLEGAL, ids=lambda v: v.value)
def test_every_illegal_pair_raises_the_typed_error(state, event):
    with pytest.raises(IllegalTransitionError) as caught:
        transition("12345678-7", state, event)
    assert isinstance(caught.value, LocalProtocolError)
    assert (caught.value.txn, caught.value.state, caught.value.event) == ("12345678-7", state, event)
    assert "12345678-7" in str(caught.value)
    assert state not in sources(event)


@pytest.fixture
def journal(tmp_path):
    clock = FixedClock(at=dt.datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI))
    with Journal.open(tmp_path / "j.sqlite", TID, clock=clock) as j:
        yield j


def _capture(j: Journal) -> str:
    return j.capture("payment", MsgType.PAYMENT, encode_body_fast({"cust": "0100000001", "amount": 1})).txn


def _bring_to(j: Journal, txn: str, state: EntryState) -> None:
    if state is S.PENDING:
        return
    if state is S.IN_FLIGHT:
        j.mark_in_flight([txn])
    else:
        j.settle([Settlement(txn, state)])
    assert j.get(txn).state is state


def _fire(j: Journal, txn: str, event: Event) -> None:
    if event is E.SEND:
        j.mark_in_flight([txn])
    elif event is E.RECOVER:
        j.recover_in_flight()
    else:
        state = next(s for s, ev in SETTLE_EVENT.items() if ev is event)
        j.settle([Settlement(txn, state)])


@pytest.mark.parametrize("state, event", [p for p in ALL_PAIRS if p[1] is not E.RECOVER], ids=lambda v: v.value)
def test_the_journal_checks_the_table_on_every_transition(journal, state, event):
    txn = _capture(journal)
    _bring_to(journal, txn, state)
    if (state, event) in LEGAL:
        _fire(journal, txn, event)
        assert journal.get(txn).state is LEGAL[(state, event)]
    else:
        with pytest.raises(IllegalTransitionError) as caught:
            _fire(journal, txn, event)
        assert (caught.value.state, caught.value.event) == (state, event)
        assert journal.get(txn).state is state  # nothing moved


@pytest.mark.parametrize("state", list(EntryState), ids=lambda v: v.value)
def test_recovery_moves_only_what_the_table_lets_it(journal, state):
    txn = _capture(journal)
    journal.mark_in_flight([txn])  # moves the durable send mark past it: pending below it is doubtful
    journal.settle([Settlement(txn, S.PENDING)])
    _bring_to(journal, txn, state)
    journal.recover_in_flight()  # what runs at open after a crash
    assert journal.get(txn).state is LEGAL.get((state, E.RECOVER), state)


def test_a_missing_entry_is_an_illegal_transition_too(journal):
    with pytest.raises(IllegalTransitionError) as caught:
        journal.settle([Settlement(f"{TID}-99", S.APPLIED)])
    assert caught.value.state is None


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(st.sampled_from([e for e in Event if e is not E.RECOVER]), max_size=12))
def test_any_sequence_through_the_journal_follows_the_table(tmp_path_factory, events):
    clock = FixedClock(at=dt.datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI))
    with Journal.open(tmp_path_factory.mktemp("j") / "j.sqlite", TID, clock=clock) as j:
        txn = _capture(j)
        model = S.PENDING
        for event in events:
            try:
                expected = transition(txn, model, event)
            except IllegalTransitionError:
                with pytest.raises(IllegalTransitionError):
                    _fire(j, txn, event)
            else:
                _fire(j, txn, event)
                model = expected
            assert j.get(txn).state is model
