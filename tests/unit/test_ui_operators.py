"""Operators file: salted scrypt PIN hashes, lockout after 5 wrong PINs, atomic root-only file."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ui.operators import MAX_FAILURES, LoginRefusedError, OperatorStore, hash_pin


def test_pins_are_salted_slow_hashes_in_a_private_file(tmp_path):
    store = OperatorStore(tmp_path / "ops.json")
    store.set_pin("1001", "王师傅", "123456")
    store.set_pin("1002", "李师傅", "123456")
    data = json.loads((tmp_path / "ops.json").read_text(encoding="utf-8"))["operators"]
    a, b = data["1001"], data["1002"]
    assert "123456" not in (tmp_path / "ops.json").read_text(encoding="utf-8")
    assert a["salt"] != b["salt"] and a["hash"] != b["hash"]  # same PIN, different salt
    assert a["n"] >= 2 ** 14 and a["r"] == 8
    assert a["hash"] == hash_pin("123456", bytes.fromhex(a["salt"]), a["n"], a["r"], a["p"]).hex()
    assert stat.S_IMODE(os.stat(tmp_path / "ops.json").st_mode) == 0o600
    assert store.verify("1001", "123456").name == "王师傅"


def test_five_wrong_pins_lock_until_the_pin_is_set_again(tmp_path):
    store = OperatorStore(tmp_path / "ops.json")
    store.set_pin("1001", "王师傅", "123456")
    for _ in range(MAX_FAILURES):
        with pytest.raises(LoginRefusedError):
            store.verify("1001", "000000")
    with pytest.raises(LoginRefusedError, match="locked"):
        store.verify("1001", "123456")
    # the count is on disk: a restart does not unlock
    with pytest.raises(LoginRefusedError, match="locked"):
        OperatorStore(tmp_path / "ops.json").verify("1001", "123456")
    store.set_pin("1001", "王师傅", "654321")
    assert store.verify("1001", "654321").id == "1001"


def test_a_right_pin_resets_the_failure_count(tmp_path):
    store = OperatorStore(tmp_path / "ops.json")
    store.set_pin("1001", "王师傅", "123456")
    for _ in range(MAX_FAILURES - 1):
        with pytest.raises(LoginRefusedError):
            store.verify("1001", "000000")
    store.verify("1001", "123456")
    with pytest.raises(LoginRefusedError, match="4 tries left"):
        store.verify("1001", "000000")


@pytest.mark.parametrize("op,pin", [("9999", "123456"), ("1001", "12"), ("1001", "12345678901"),
                                    ("1001", "12ab56"), ("10/1", "123456"), ("", "")])
def test_bad_input_is_refused_and_never_crashes(tmp_path, op, pin):
    store = OperatorStore(tmp_path / "ops.json")
    store.set_pin("1001", "王师傅", "123456")
    with pytest.raises(LoginRefusedError):
        store.verify(op, pin)


def test_bad_pin_formats_cannot_be_set(tmp_path):
    store = OperatorStore(tmp_path / "ops.json")
    with pytest.raises(LoginRefusedError):
        store.set_pin("1001", "x", "12")
    with pytest.raises(LoginRefusedError):
        store.set_pin("abc", "x", "123456")


def test_a_supervisor_unlocks_with_their_own_pin(tmp_path):
    """Issue 13 (11): the unlock rule — a supervisor, not the locked operator, with a right PIN
    (a wrong one counts against the supervisor)."""
    from ui.operators import SUPERVISOR

    store = OperatorStore(tmp_path / "ops.json")
    store.set_pin("1001", "王师傅", "123456")
    store.set_pin("1002", "李师傅", "222222")
    store.set_pin("9001", "李主管", "888888", role=SUPERVISOR)
    for _ in range(MAX_FAILURES):
        with pytest.raises(LoginRefusedError):
            store.verify("1001", "000000")
    assert store.is_locked("1001")
    with pytest.raises(LoginRefusedError, match="not a supervisor"):
        store.unlock("1002", "222222", "1001")
    with pytest.raises(LoginRefusedError, match="Wrong PIN"):
        store.unlock("9001", "000000", "1001")
    with pytest.raises(LoginRefusedError, match="cannot unlock themself"):
        store.unlock("9001", "888888", "9001")
    assert store.is_locked("1001")
    assert store.unlock("9001", "888888", "1001").id == "1001"
    assert not store.is_locked("1001") and store.verify("1001", "123456").name == "王师傅"


# -- PIN resets from the station's console (issue 22 point 6) -----------------------------------------

def _reset(rid="r1", op="1001", pin="246810", hours=24, **kw):
    import datetime as dt

    from argon2 import PasswordHasher

    from terminal_app.timeutil import iso, now
    h = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(pin)
    return {"id": rid, "op": op, "hash": h, "expires": iso(now() + dt.timedelta(hours=hours)), **kw}


def test_a_reset_unlocks_logs_in_once_and_asks_for_a_new_pin(tmp_path):
    from terminal_app.timeutil import now
    store = OperatorStore(tmp_path / "ops.json")
    store.set_pin("1001", "王师傅", "1357")
    for _ in range(5):
        with pytest.raises(LoginRefusedError):
            store.verify("1001", "0000")
    assert store.apply_resets([_reset()], now()) == ["1001"]
    assert not store.is_locked("1001")
    assert store.apply_resets([_reset()], now()) == []  # the same id: once only
    with pytest.raises(LoginRefusedError):
        store.verify("1001", "1357")  # the old PIN is replaced while the reset is pending
    assert store.verify("1001", "246810").must_change
    with pytest.raises(LoginRefusedError):
        store.verify("1001", "246810")  # spent
    store.change_own_pin("1001", "9753")
    op = store.verify("1001", "9753")
    assert not op.must_change and op.name == "王师傅"


def test_expired_foreign_or_malformed_resets_are_skipped(tmp_path):
    from terminal_app.timeutil import now
    store = OperatorStore(tmp_path / "ops.json")
    store.set_pin("1001", "王师傅", "1357")
    bad = [_reset(hours=-1), _reset(op="2002"), _reset(op="10a1"), _reset(rid="x" * 33), _reset(rid="a b"),
           {**_reset(), "hash": "$argon2i$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"},
           {**_reset(), "hash": "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"},  # 4 GiB: refused
           {**_reset(), "expires": "2099-01-01T00:00:00"},  # naive time
           {**_reset(), "expires": None}, "not a dict", None]
    assert store.apply_resets(bad, now()) == []
    assert store.apply_resets("nonsense", now()) == []
    assert store.verify("1001", "1357").name == "王师傅"


def test_an_expired_pending_reset_gives_the_old_pin_back(tmp_path, monkeypatch):
    import datetime as dt

    from terminal_app import operators
    from terminal_app.timeutil import now
    store = OperatorStore(tmp_path / "ops.json")
    store.set_pin("1001", "王师傅", "1357")
    store.apply_resets([_reset(hours=1)], now())
    later = now() + dt.timedelta(hours=2)
    monkeypatch.setattr(operators, "_utcnow", lambda: later)
    assert not store.verify("1001", "1357").must_change
    with pytest.raises(LoginRefusedError):
        store.verify("1001", "246810")
