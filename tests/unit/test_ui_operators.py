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
