"""Operators (操作员) who may log in, with their PINs stored as slow salted hashes, and the
supervisors (主管) who unlock them on the device.

The operators file (``[ui] operators_file``, default ``/etc/handheld/operators.json``, mode 600,
owned by the terminal's user) looks like::

    {"operators": {"1001": {"name": "王师傅", "salt": "<32 hex>", "hash": "<64 hex>",
                            "n": 16384, "r": 8, "p": 1, "failed": 0},
                   "9001": {"name": "李主管", "role": "supervisor", …}}}

A PIN is 4–8 digits.  The hash is ``hashlib.scrypt(pin, salt=16 random bytes, n=2**14, r=8,
p=1, dklen=32)``: about 16 MiB and ~0.1 s on a desktop, several tenths of a second on the
handheld's ARM core — slow enough that a stolen file does not give the PINs away quickly.
Hashes are compared with ``hmac.compare_digest``.  After 5 wrong PINs in a row the operator is
locked (``failed`` reaches 5) until a supervisor unlocks it on the device with the supervisor's
own number and PIN (:meth:`OperatorStore.unlock`: the login screen's 主管解锁; a supervisor never
unlocks themself, a wrong supervisor PIN counts against the supervisor), or sets the PIN again::

    python -m ui.operators set --file /etc/handheld/operators.json 1001 王师傅    # asks the PIN
    python -m ui.operators set --supervisor --file … 9001 李主管                  # a supervisor

A supervisor or administrator may also reset a PIN from the station's console (重置操作员密码):
the console makes a one-time 6-digit PIN and keeps only its argon2id hash, which every terminal
fetches with HELLO (``params.pin_resets``).  :meth:`OperatorStore.apply_resets` files each reset
under its operator (``"reset": {"id", "hash", "expires"}``), clears the lock-out and remembers the
id (``"applied_resets"``), so a reset is applied once only.  While a reset is pending and not
expired, only the one-time PIN logs the operator in; that log-in consumes it and marks the operator
``must_change``: the login screen then asks for a new own PIN (:meth:`OperatorStore.change_own_pin`).
An expired reset is dropped and the old PIN holds again.

The file is rewritten atomically (temp file + rename) after every attempt, so a power cut never
loses the failure count.  PINs and hashes are never logged.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import hashlib
import hmac
import json
import os
import secrets
import sys
import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError

from terminal_app.errors import BusinessRuleError, ConfigurationError
from terminal_app.timeutil import now

MAX_FAILURES = 5
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1
ID_LEN = (1, 8)
PIN_LEN = (4, 8)
#: bounds on a reset's argon2id hash as received (a hash asking for more would stall the terminal)
RESET_HASH_MAX_LEN, RESET_MEMORY_MAX_KIB, RESET_TIME_MAX = 200, 256 * 1024, 10
RESET_ID_MAX, APPLIED_KEPT = 32, 500
#: one-time PINs used here, kept to report (the station takes at most 50 ids per HELLO)
USED_KEPT = 50


class LoginRefusedError(BusinessRuleError):
    default_action = "Check the operator number and PIN, then try again."


class Role(StrEnum):
    OPERATOR = "operator"      # 抄表员/收费员
    SUPERVISOR = "supervisor"  # 主管: unlocks a locked operator on the device


SUPERVISOR = Role.SUPERVISOR


@dataclass(frozen=True, slots=True)
class Operator:
    id: str
    name: str
    role: str = Role.OPERATOR
    #: logged in with a console's one-time PIN: must set a new own PIN now
    must_change: bool = False


def hash_pin(pin: str, salt: bytes, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> bytes:
    return hashlib.scrypt(pin.encode("ascii"), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=64 * 1024 * 1024)


def _check_pin_format(pin: str) -> None:
    if not (pin.isascii() and pin.isdigit() and PIN_LEN[0] <= len(pin) <= PIN_LEN[1]):
        raise LoginRefusedError("The PIN must be 4 to 8 digits.", "Type the PIN again.")


class OperatorStore:
    """The operators file: verify a PIN (counting failures), set a PIN."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def _load(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"operators": {}}
        except (OSError, ValueError) as e:
            raise ConfigurationError("The operators file {path} cannot be read.",
                                     "Ask the technician to set the operators again.", path=str(self.path)) from e
        if not isinstance(data, dict) or not isinstance(data.get("operators"), dict):
            raise ConfigurationError("The operators file {path} is not in the expected format.",
                                     "Ask the technician to set the operators again.", path=str(self.path))
        return data

    def _save(self, data: dict) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def set_pin(self, op_id: str, name: str, pin: str, role: str = Role.OPERATOR) -> None:
        if not (op_id.isascii() and op_id.isdigit() and ID_LEN[0] <= len(op_id) <= ID_LEN[1]):
            raise LoginRefusedError("The operator number must be 1 to 8 digits.", "Type the number again.")
        _check_pin_format(pin)
        salt = secrets.token_bytes(16)
        with self._lock:
            data = self._load()
            data["operators"][op_id] = {"name": name, "salt": salt.hex(), "hash": hash_pin(pin, salt).hex(),
                                        "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P, "failed": 0, "role": role}
            self._save(data)

    def is_locked(self, op_id: str) -> bool:
        with self._lock:
            rec = self._load()["operators"].get(op_id)
        return isinstance(rec, dict) and int(rec.get("failed", 0)) >= MAX_FAILURES

    def unlock(self, supervisor_id: str, supervisor_pin: str, op_id: str) -> Operator:
        """A supervisor unlocks ``op_id`` with the supervisor's own number and PIN (the PIN is
        checked, and counted, like a login); returns the operator unlocked."""
        if supervisor_id == op_id:
            raise LoginRefusedError("Operator {id} cannot unlock themself.", "Ask another supervisor.", id=op_id[:8])
        supervisor = self.verify(supervisor_id, supervisor_pin)
        if supervisor.role != SUPERVISOR:
            raise LoginRefusedError("Operator {id} is not a supervisor.", "Ask the supervisor to unlock you.",
                                    id=supervisor_id[:8])
        with self._lock:
            data = self._load()
            rec = self._record(data, op_id)
            rec["failed"] = 0
            self._save(data)
            return Operator(op_id, str(rec.get("name", "")), str(rec.get("role", Role.OPERATOR)))

    @staticmethod
    def _record(data: dict, op_id: str) -> dict:
        rec = data["operators"].get(op_id) if op_id.isascii() and op_id.isdigit() else None
        if not isinstance(rec, dict):
            raise LoginRefusedError("Operator {id} is not registered on this terminal.",
                                    "Check the number, or ask the supervisor to add you.", id=op_id[:8])
        return rec

    def verify(self, op_id: str, pin: str) -> Operator:
        """The operator if the PIN is right; else :class:`LoginRefusedError` (and one more failure)."""
        with self._lock:
            data = self._load()
            rec = self._record(data, op_id)
            failed = int(rec.get("failed", 0))
            if failed >= MAX_FAILURES:
                raise LoginRefusedError("Operator {id} is locked after 5 wrong PINs.",
                                        "Ask a supervisor to unlock it on this terminal (F3).", id=op_id)
            reset = rec.get("reset")
            if isinstance(reset, dict) and not _reset_expired(reset):
                return self._verify_reset(data, rec, op_id, pin, reset, failed)
            if reset is not None:  # expired: the old PIN holds again
                rec.pop("reset")
                self._save(data)
            ok = False
            if pin.isascii() and pin.isdigit() and PIN_LEN[0] <= len(pin) <= PIN_LEN[1]:
                try:
                    salt = bytes.fromhex(rec["salt"])
                    want = bytes.fromhex(rec["hash"])
                    got = hash_pin(pin, salt, int(rec.get("n", SCRYPT_N)), int(rec.get("r", SCRYPT_R)),
                                   int(rec.get("p", SCRYPT_P)))
                except (KeyError, ValueError, TypeError) as e:
                    raise ConfigurationError("The operators file {path} has a damaged entry.",
                                             "Ask the technician to set the operators again.",
                                             path=str(self.path)) from e
                ok = hmac.compare_digest(got, want)
            if ok:
                if failed:
                    rec["failed"] = 0
                    self._save(data)
                return _operator(op_id, rec)
            return self._failed(data, rec, op_id, failed)

    def _failed(self, data: dict, rec: dict, op_id: str, failed: int) -> Operator:
        rec["failed"] = failed + 1
        self._save(data)
        left = MAX_FAILURES - rec["failed"]
        if left <= 0:
            raise LoginRefusedError("Wrong PIN; operator {id} is now locked.",
                                    "Ask a supervisor to unlock it on this terminal (F3).", id=op_id)
        raise LoginRefusedError("Wrong PIN; {left} tries left.", "Type the PIN again.", left=left)

    def _verify_reset(self, data: dict, rec: dict, op_id: str, pin: str, reset: dict, failed: int) -> Operator:
        """Check ``pin`` against a pending one-time PIN (lock held); a match consumes it."""
        ok = False
        if pin.isascii() and pin.isdigit() and PIN_LEN[0] <= len(pin) <= PIN_LEN[1]:
            try:
                ok = PasswordHasher().verify(str(reset.get("hash", "")), pin)
            except (VerificationError, InvalidHashError):
                ok = False
        if not ok:
            return self._failed(data, rec, op_id, failed)
        rec.pop("reset")
        rec["failed"] = 0
        rec["must_change"] = True
        # reported to the station with every HELLO until it expires (used_resets): the station
        # records the use and lists the reset no more
        used = data.setdefault("used_resets", [])
        used.append({"id": str(reset.get("id", "")), "expires": str(reset.get("expires", ""))})
        del used[:-USED_KEPT]
        self._save(data)
        return _operator(op_id, rec)

    def used_resets(self, now: dt.datetime) -> list[str]:
        """The ids of the one-time PINs used here and not yet expired (HELLO ``used_resets``)."""
        with self._lock:
            data = self._load()
        out = []
        for u in data.get("used_resets", []):
            try:
                if dt.datetime.fromisoformat(str(u["expires"])) > now and u["id"]:
                    out.append(str(u["id"]))
            except (KeyError, ValueError, TypeError):
                continue
        return out[-USED_KEPT:]

    def apply_resets(self, resets: object, now: dt.datetime) -> list[str]:
        """File the console's PIN resets (HELLO ``params.pin_resets``) under the operators this
        terminal holds: each id once only; an expired, malformed or foreign one is skipped.  A reset
        clears the operator's lock-out.  Returns the operators reset now (never a hash or PIN)."""
        if not isinstance(resets, list):
            return []
        done: list[str] = []
        with self._lock:
            data = self._load()
            applied = data.setdefault("applied_resets", [])
            for r in resets[:1000]:
                parsed = _parse_reset(r, now)
                if parsed is None or parsed["id"] in applied:
                    continue
                op_id = str(r["op"])
                rec = data["operators"].get(op_id)
                if not isinstance(rec, dict):
                    continue  # an operator of another terminal
                rec["reset"] = parsed
                rec["failed"] = 0
                applied.append(parsed["id"])
                done.append(op_id)
            if done:
                del applied[:-APPLIED_KEPT]
                self._save(data)
        return done

    def change_own_pin(self, op_id: str, new_pin: str) -> None:
        """The operator's new own PIN (after a reset's log-in): name and role kept, must_change cleared."""
        _check_pin_format(new_pin)
        salt = secrets.token_bytes(16)
        with self._lock:
            data = self._load()
            rec = self._record(data, op_id)
            rec.update(salt=salt.hex(), hash=hash_pin(new_pin, salt).hex(), n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                       failed=0)
            rec.pop("must_change", None)
            rec.pop("reset", None)
            self._save(data)


def _operator(op_id: str, rec: dict) -> Operator:
    return Operator(op_id, str(rec.get("name", "")), str(rec.get("role", Role.OPERATOR)),
                    bool(rec.get("must_change", False)))


def _utcnow() -> dt.datetime:
    return now()


def _reset_expired(reset: dict) -> bool:
    try:
        return dt.datetime.fromisoformat(str(reset["expires"])) <= _utcnow()
    except (KeyError, ValueError, TypeError):
        return True


def _parse_reset(r: object, now: dt.datetime) -> dict | None:
    """A reset as received, validated and bounded, or None."""
    if not isinstance(r, dict):
        return None
    rid, op, h, exp = r.get("id"), r.get("op"), r.get("hash"), r.get("expires")
    if not (isinstance(rid, str) and 1 <= len(rid) <= RESET_ID_MAX and rid.isascii() and rid.isalnum()):
        return None
    if not (isinstance(op, str) and op.isascii() and op.isdigit() and ID_LEN[0] <= len(op) <= ID_LEN[1]):
        return None
    if not (isinstance(h, str) and h.startswith("$argon2id$") and len(h) <= RESET_HASH_MAX_LEN):
        return None
    try:
        params = extract_parameters(h)
        expires = dt.datetime.fromisoformat(exp) if isinstance(exp, str) and len(exp) <= 40 else None
    except (InvalidHashError, ValueError):
        return None
    if params.memory_cost > RESET_MEMORY_MAX_KIB or params.time_cost > RESET_TIME_MAX:
        return None
    if expires is None or expires.tzinfo is None or expires <= now:
        return None
    return {"id": rid, "hash": h, "expires": exp}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ui.operators", description="set an operator's PIN")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("set", help="add an operator or set a new PIN (also unlocks)")
    s.add_argument("--file", required=True)
    s.add_argument("--supervisor", action="store_true", help="the operator may unlock others on the device")
    s.add_argument("id")
    s.add_argument("name")
    args = p.parse_args(argv)
    pin = getpass.getpass("PIN: ")
    if getpass.getpass("PIN again: ") != pin:
        print("the two PINs differ", file=sys.stderr)
        return 1
    OperatorStore(args.file).set_pin(args.id, args.name, pin, Role.SUPERVISOR if args.supervisor else Role.OPERATOR)
    return 0


if __name__ == "__main__":
    sys.exit(main())
