"""The status line's link state (issue 13, point 10): the radio first, as soon as it changes."""

from __future__ import annotations

import datetime as dt

from terminal_app.services.link_status import LinkState, Radio, link_state

T0 = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
OK_EARLIER = [(T0, True)]


def test_no_signal_shows_at_once_whatever_the_last_exchange_said():
    for radio in (Radio(False, 20), Radio(True, None), Radio(True, 1), Radio(False, None)):
        assert link_state(radio, syncing=False, exchanges=OK_EARLIER) is LinkState.NO_SIGNAL
        assert link_state(radio, syncing=True, exchanges=OK_EARLIER) is LinkState.NO_SIGNAL


def test_with_signal_the_last_exchange_decides():
    good = Radio(True, 20)
    assert link_state(good, syncing=False, exchanges=OK_EARLIER) is LinkState.UP
    later_failure = OK_EARLIER + [(T0 + dt.timedelta(minutes=1), False)]
    assert link_state(good, syncing=False, exchanges=later_failure) is LinkState.DOWN
    assert link_state(good, syncing=True, exchanges=later_failure) is LinkState.SYNCING
    assert link_state(good, syncing=False, exchanges=[]) is LinkState.UP  # registered, nothing said otherwise
    assert link_state(Radio(True, 2), syncing=False, exchanges=[]) is LinkState.UP  # weak but usable


def test_a_socket_link_knows_only_its_exchanges():
    assert link_state(None, syncing=False, exchanges=[]) is LinkState.UNKNOWN
    assert link_state(None, syncing=False, exchanges=[(T0, False)]) is LinkState.DOWN


def test_the_background_probe_is_due_at_once_then_backs_off_to_its_cap_and_starts_over():
    """Walk (2): a link shown down is probed — at once the first time, then never in a busy loop:
    each failure doubles the wait (jitter drawn in [d/2, d]) up to the cap; a success starts over."""
    from offline_queue.backoff import Backoff
    from terminal_app.services.link_status import ProbeTimer, known_down

    longest = ProbeTimer(base=10, cap=120, backoff=Backoff(10, 120, uniform=lambda lo, hi: hi))
    assert longest.due(0.0)
    t, waits = 0.0, []
    for _ in range(6):
        longest.failed(t)
        assert not longest.due(t) and not longest.due(longest.due_at - 0.001) and longest.due(longest.due_at)
        waits.append(longest.due_at - t)
        t = longest.due_at
    assert waits == [10, 20, 40, 80, 120, 120]
    longest.succeeded()
    assert longest.due(t)
    longest.failed(t)
    assert longest.due_at - t == 10
    shortest = ProbeTimer(base=10, cap=120, backoff=Backoff(10, 120, uniform=lambda lo, hi: lo))
    shortest.failed(0.0)
    assert shortest.due_at == 5  # never sooner than half the delay
    assert [s for s in LinkState if known_down(s)] == [LinkState.DOWN, LinkState.NO_SIGNAL]
