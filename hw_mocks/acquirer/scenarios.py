"""Scenarios as data: what the customer and the acquirer do with one payment (scenarios.toml).

A payment's scenario is chosen by the last four digits of the customer's payment code, so a test (or
a tester with a phone-shaped QR code) picks the behaviour by the code it shows.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from enum import StrEnum
from pathlib import Path

from terminal_app.errors import ConfigurationError

DEFAULT_FILE = Path(__file__).with_name("scenarios.toml")


class Outcome(StrEnum):
    SUCCESS = "success"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    USER_CANCELS = "user_cancels"
    CODE_INVALID = "code_invalid"


class PayAnswer(StrEnum):
    NORMAL = "normal"
    SYSTEM_ERROR = "system_error"
    TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    outcome: Outcome = Outcome.SUCCESS
    paying_seconds: float = 0.0
    pay_answer: PayAnswer = PayAnswer.NORMAL
    query_failures: int = 0
    query_timeouts: int = 0
    reverse_failures: int = 0
    refund_failures: int = 0


@dataclass(frozen=True, slots=True)
class ScenarioBook:
    default: Scenario
    by_suffix: dict[str, Scenario]
    named: dict[str, Scenario]

    def for_code(self, auth_code: str) -> Scenario:
        return self.by_suffix.get(auth_code[-4:], self.default)


def _scenario(name: str, raw: object) -> Scenario:
    if not isinstance(raw, dict):
        raise ConfigurationError("Scenario {item} is not a table.", "Fix the scenario file.", item=name)
    known = {f.name for f in fields(Scenario)} - {"name"}
    unknown = set(raw) - known
    if unknown:
        raise ConfigurationError("Scenario {name} has unknown fields {fields}.", "Fix the scenario file.",
                                 name=name, fields=sorted(unknown))
    try:
        s = Scenario(name=name, outcome=Outcome(raw.get("outcome", "success")),
                     paying_seconds=float(raw.get("paying_seconds", 0.0)),
                     pay_answer=PayAnswer(raw.get("pay_answer", "normal")),
                     **{k: int(raw.get(k, 0)) for k in ("query_failures", "query_timeouts", "reverse_failures",
                                                         "refund_failures")})
    except (ValueError, TypeError) as e:
        raise ConfigurationError("Scenario {name} has a bad value.", "Fix the scenario file.", name=name,
                                 error=e) from e
    if s.paying_seconds < 0 or min(s.query_failures, s.query_timeouts, s.reverse_failures, s.refund_failures) < 0:
        raise ConfigurationError("Scenario {name} has a negative count or time.", "Fix the scenario file.", name=name)
    return s


def load(path: Path | None = None) -> ScenarioBook:
    path = path or DEFAULT_FILE
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeError) as e:
        raise ConfigurationError("The scenario file {path} cannot be read.", "Check the file.", path=str(path),
                                 error=e) from e
    named = {name: _scenario(name, body) for name, body in (raw.get("scenario") or {}).items()}
    named.setdefault("success", Scenario("success"))

    def ref(name: object) -> Scenario:
        if name not in named:
            raise ConfigurationError("Scenario {name} is selected but not defined.", "Fix the scenario file.",
                                     name=str(name))
        return named[name]  # type: ignore[index]

    select = raw.get("select") or {}
    for suffix in select:
        if not (len(suffix) == 4 and suffix.isascii() and suffix.isdigit()):
            raise ConfigurationError("Selector {value!r} is not four digits.", "Fix the scenario file.", value=suffix)
    return ScenarioBook(default=ref(raw.get("default", "success")),
                        by_suffix={k: ref(v) for k, v in select.items()}, named=named)
