"""Customers' payment codes for the mock acquirer: a well-formed WeChat Pay or Alipay 付款码 whose
last four digits pick a scenario, and its picture (the QR code a phone shows) for the camera path."""

from __future__ import annotations

import random

from hw_mocks.acquirer.scenarios import ScenarioBook, load
from terminal_app.domain.paycode import PayChannel, channel_of
from terminal_app.errors import ConfigurationError


def selector(scenario: str, book: ScenarioBook) -> str:
    """The four digits that pick ``scenario`` (for the default scenario: four that pick nothing else)."""
    for digits, s in sorted(book.by_suffix.items()):
        if s.name == scenario:
            return digits
    if scenario == book.default.name:
        return next(f"{n:04d}" for n in range(9999, -1, -1) if f"{n:04d}" not in book.by_suffix)
    raise ConfigurationError("No code selects scenario {name}.", "Add it to [select] in the scenario file.",
                             name=scenario)


def customer_code(channel: PayChannel, scenario: str = "success", book: ScenarioBook | None = None,
                  rng: random.Random | None = None) -> str:
    """A payment code of ``channel``'s published format that the mock answers with ``scenario``."""
    rng = rng or random.Random()
    tail = selector(scenario, book or load())
    if channel is PayChannel.WECHAT:
        head, length = str(rng.randint(10, 15)), 18
    else:
        head, length = str(rng.randint(25, 30)), rng.randint(16, 24)
    middle = "".join(rng.choice("0123456789") for _ in range(length - len(head) - len(tail)))
    code = head + middle + tail
    assert channel_of(code) is channel
    return code


def code_png(code: str) -> bytes:
    """The QR code a phone shows for ``code`` (PNG)."""
    from hw_mocks.scanner.image import qr_png

    return qr_png(code)
