"""Backoff arithmetic, per-instance change events, and the journal's settings."""

from __future__ import annotations

import pytest

from offline_queue.backoff import Backoff
from offline_queue.journal import Journal
from offline_queue.state import Signal
from terminal_app.config import load_settings
from terminal_app.errors import ConfigurationError
from terminal_app.station.protocol import encode_body_fast


def test_backoff_doubles_to_its_cap_draws_equal_jitter_and_resets():
    draws = []
    b = Backoff(base=2.0, cap=30.0, uniform=lambda lo, hi: draws.append((lo, hi)) or (lo + hi) / 2)
    delays = [b.next_delay() for _ in range(7)]
    assert draws == [(1.0, 2.0), (2.0, 4.0), (4.0, 8.0), (8.0, 16.0), (15.0, 30.0), (15.0, 30.0), (15.0, 30.0)]
    assert delays == [(lo + hi) / 2 for lo, hi in draws]
    b.failures = 10_000  # days without coverage: no overflow, still the cap
    assert b.next_delay() == 22.5
    b.reset()
    assert b.next_delay() == 1.5
    with pytest.raises(ValueError):
        Backoff(base=10.0, cap=5.0)


def test_signals_belong_to_their_instance_and_survive_a_broken_listener():
    a, b = Signal(), Signal()
    got = []

    def broken(_value):
        raise RuntimeError("a screen crashed")

    a.connect(broken)
    off = a.connect(got.append)
    a.emit(1)
    b.emit(2)  # another instance: nobody on `a` hears it
    off()
    a.emit(3)
    assert got == [1] and a.has_listeners() and not b.has_listeners()


def test_journal_settings_are_validated_and_open_the_journal(tmp_path):
    env = {"HANDHELD_JOURNAL__PATH": str(tmp_path / "j.sqlite"), "HANDHELD_TERMINAL__ID": "55555555",
           "HANDHELD_JOURNAL__KEEP_DAYS": "120"}
    settings = load_settings(env=env)
    with Journal.from_settings(settings) as j:
        assert (j.terminal_id, j.keep_days, j.min_free_bytes) == ("55555555", 120, 2 * 1024 * 1024)
        assert j.capture("payment", 0x0202, encode_body_fast({"amount": 1})).txn == "55555555-1"
    with pytest.raises(ConfigurationError, match="90 days"):
        load_settings(env={**env, "HANDHELD_JOURNAL__KEEP_DAYS": "30"})
    with pytest.raises(ConfigurationError, match="sync settings"):
        load_settings(env={**env, "HANDHELD_JOURNAL__SYNC_BATCH_MAX": "500"})
