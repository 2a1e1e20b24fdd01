"""The station's request policy towards an acquirer: every phase × event, and properties of whole runs."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hw_mocks.station.acquirer_policy import (
    ACCEPTS,
    ANSWERS,
    TABLE,
    ActionKind,
    Event,
    Outcome,
    Params,
    Phase,
    PolicyError,
    State,
    step,
    table_rows,
)

P = Params(query_interval=10, query_limit=3, unknown_wait=5, reverse_interval=5, reverse_limit=2, refund_limit=2)
BEGIN = (Event.NEW, Event.RESUME, Event.RESUME_REVERSE, Event.REFUND)


@pytest.mark.parametrize("phase, event", list(itertools.product(Phase, Event)))
def test_every_phase_and_event_is_in_the_table_or_refused(phase, event):
    for counters in ((0, 0, 0), (P.query_limit, P.reverse_limit, P.refund_limit)):
        s = State(phase, *counters)
        if (phase, event) in TABLE:
            nxt, actions = step(s, event, P)
            assert len(actions) == 1
            a = actions[0]
            assert (nxt.phase is Phase.DONE) == (a.kind is ActionKind.FINISH)
            assert (nxt.outcome is not None) == (a.kind is ActionKind.FINISH)
            if a.kind is ActionKind.WAIT:
                assert nxt.phase in (Phase.WAIT_QUERY, Phase.WAIT_REVERSE, Phase.WAIT_REFUND) and a.seconds >= 0
            if a.kind in ANSWERS:  # a request sent: the next phase awaits exactly its answers
                assert ACCEPTS[nxt.phase] == ANSWERS[a.kind]
        else:
            with pytest.raises(PolicyError):
                step(s, event, P)


def test_done_takes_nothing_and_only_start_takes_a_beginning():
    assert ACCEPTS[Phase.DONE] == frozenset()
    for phase in Phase:
        assert bool(ACCEPTS[phase] & set(BEGIN)) == (phase is Phase.START)


def test_the_published_flow_user_paying_then_paid():
    s, a = step(State(), Event.NEW, P)
    assert a[0].kind is ActionKind.SEND_PAY
    s, a = step(s, Event.USERPAYING, P)
    assert a[0].kind is ActionKind.WAIT and a[0].seconds == P.query_interval
    s, a = step(s, Event.TICK, P)
    assert a[0].kind is ActionKind.SEND_QUERY
    s, a = step(s, Event.PAID, P)
    assert a[0].outcome is Outcome.PAID


def test_a_system_error_waits_the_short_wait_then_queries_never_pays_again():
    s, _ = step(State(), Event.NEW, P)
    s, a = step(s, Event.UNKNOWN, P)
    assert a[0].seconds == P.unknown_wait
    s, a = step(s, Event.TICK, P)
    assert a[0].kind is ActionKind.SEND_QUERY


def test_queries_end_in_a_reversal_at_the_limit():
    s, _ = step(State(), Event.NEW, P)
    s, _ = step(s, Event.NO_ANSWER, P)
    kinds = []
    for _ in range(P.query_limit):
        s, a = step(s, Event.TICK, P)
        kinds.append(a[0].kind)
        s, a = step(s, Event.USERPAYING, P)
    assert kinds == [ActionKind.SEND_QUERY] * P.query_limit
    assert a[0].kind is ActionKind.SEND_REVERSE
    s, a = step(s, Event.REVERSE_FAILED, P)
    s, a = step(s, Event.TICK, P)
    assert a[0].kind is ActionKind.SEND_REVERSE
    s, a = step(s, Event.NO_ANSWER, P)
    assert a[0].outcome is Outcome.UNRESOLVED  # reverse_limit 2 used up


def test_resume_queries_first_and_a_refund_retries_under_the_same_number():
    s, a = step(State(), Event.RESUME, P)
    assert a[0].kind is ActionKind.SEND_QUERY and s.queries == 1
    s, a = step(State(), Event.REFUND, P)
    s, a = step(s, Event.NO_ANSWER, P)
    s, a = step(s, Event.TICK, P)
    assert a[0].kind is ActionKind.SEND_REFUND
    s, a = step(s, Event.REFUNDED, P)
    assert a[0].outcome is Outcome.REFUNDED


def test_params_are_checked():
    with pytest.raises(ValueError):
        Params(query_limit=0)
    with pytest.raises(ValueError):
        Params(query_interval=-1)


def test_the_table_prints_for_the_docs():
    rows = table_rows(P)
    assert len(rows) == sum(len(v) for v in TABLE.values())
    assert ("WAIT_QUERY", "TICK", "otherwise", "→ REVERSING: SEND_REVERSE") in rows


#: the answers an acquirer may give to each request (what the IO wrapper can produce)
def run(begin: Event, choose, params: Params = P):
    """Drive one run to its end, answering each request with ``choose(request kind, allowed answers)``."""
    s, actions = step(State(), begin, params)
    trace = [(begin, actions[0])]
    while actions[0].kind is not ActionKind.FINISH:
        a = actions[0]
        event = Event.TICK if a.kind is ActionKind.WAIT else choose(a.kind, sorted(ANSWERS[a.kind]))
        s, actions = step(s, event, params)
        trace.append((event, actions[0]))
        assert len(trace) < 100, "a run must end"
    return s, trace


@settings(max_examples=500)
@given(begin=st.sampled_from(BEGIN), data=st.data(),
       params=st.builds(Params, query_limit=st.integers(1, 6), reverse_limit=st.integers(1, 4),
                        refund_limit=st.integers(1, 4)))
def test_any_run_ends_and_never_charges_twice_or_claims_without_a_word_from_the_acquirer(begin, data, params):
    s, trace = run(begin, lambda kind, allowed: data.draw(st.sampled_from(allowed)), params)
    sent = [a.kind for _, a in trace]
    events = [e for e, _ in trace]
    outcome = s.outcome
    # ends, within its limits
    assert s.phase is Phase.DONE and outcome is not None
    assert sent.count(ActionKind.SEND_QUERY) <= params.query_limit
    assert sent.count(ActionKind.SEND_REVERSE) <= params.reverse_limit
    assert sent.count(ActionKind.SEND_REFUND) <= params.refund_limit
    # at most one pay, and none when resuming, reversing or refunding
    assert sent.count(ActionKind.SEND_PAY) == (1 if begin is Event.NEW else 0)
    # "paid" only on the acquirer's word, "not paid" only on its definite word
    if outcome is Outcome.PAID:
        assert events[-1] is Event.PAID
    if outcome is Outcome.NOT_PAID:
        assert events[-1] is Event.FAILED
    if outcome is Outcome.REVERSED:
        assert events[-1] is Event.REVERSED
    # a run that never heard a definite answer about the payment reverses it (or says it could not)
    if begin is not Event.REFUND and not {Event.PAID, Event.FAILED} & set(events):
        assert outcome in (Outcome.REVERSED, Outcome.UNRESOLVED)
        assert ActionKind.SEND_REVERSE in sent
    # refunds and payments never mix
    if begin is Event.REFUND:
        assert set(sent) <= {ActionKind.SEND_REFUND, ActionKind.WAIT, ActionKind.FINISH}
        assert outcome in (Outcome.REFUNDED, Outcome.REFUND_REFUSED, Outcome.REFUND_UNRESOLVED)
    else:
        assert ActionKind.SEND_REFUND not in sent


@given(st.lists(st.sampled_from(list(Event)), max_size=30))
def test_any_event_sequence_steps_or_raises_policy_error(events):
    s = State()
    for e in events:
        try:
            s, _ = step(s, e, P)
        except PolicyError:
            assert e not in ACCEPTS[s.phase]
        else:
            assert s.phase in Phase
