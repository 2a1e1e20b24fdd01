"""Key bindings as data: which key, in which key context, runs which named command.

Like mitmproxy's console keymap (``km.add(key, command, contexts, help)``): screens never test
key names themselves; a key the focused widget did not use is looked up here, first in the
screen's own context, then in its kind (``menu``, ``form``), then ``simulate`` (only when
``handheld --simulate`` runs), then ``global``.  The command string is a registered command
name plus arguments (``menu.pick 3``).  A test checks that every binding resolves to a command.

The handheld's keypad has digits, ``.``, Enter, Esc (back), the arrows and F1–F4 (soft keys,
labelled on the bottom line).  Simulate mode adds F6–F8 on the desktop keyboard.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ui.i18n import N_


@dataclass(frozen=True, slots=True)
class Binding:
    key: str
    command: str
    contexts: tuple[str, ...]
    help: str  # msgid


class Keymap:
    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], Binding] = {}
        self.bindings: list[Binding] = []

    def add(self, key: str, command: str, contexts: Iterable[str], help: str) -> None:
        b = Binding(key, command, tuple(contexts), help)
        for c in b.contexts:
            self._by_key[(c, key)] = b
        self.bindings.append(b)

    def lookup(self, key: str, contexts: Iterable[str]) -> Binding | None:
        for c in contexts:
            b = self._by_key.get((c, key))
            if b is not None:
                return b
        return None


DEFAULT_BINDINGS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("esc", "back", ("global",), N_("Back; cancels a task where that is safe")),
    ("enter", "select", ("global",), N_("Confirm / open the highlighted item")),
    ("f1", "softkey 1", ("global",), N_("Soft key 1 (labelled on the bottom line)")),
    ("f2", "softkey 2", ("global",), N_("Soft key 2 (labelled on the bottom line)")),
    ("f3", "softkey 3", ("global",), N_("Soft key 3 (labelled on the bottom line)")),
    ("f4", "softkey 4", ("global",), N_("Soft key 4 (labelled on the bottom line)")),
    *((str(n), f"menu.pick {n}", ("menu",), N_("Pick the numbered item")) for n in range(1, 10)),
    ("f6", "sim.scan", ("simulate",), N_("Simulate: scan the current customer's meter barcode")),
    ("f7", "sim.card", ("simulate",), N_("Simulate: insert or remove the IC card")),
    ("f8", "sim.coverage", ("simulate",), N_("Simulate: switch the GPRS coverage off or on")),
    ("f9", "sim.next_day", ("simulate",), N_("Simulate: the next day (station and terminal clocks)")),
    ("f10", "quit", ("simulate",), N_("Simulate: quit the terminal")),
)


def default_keymap() -> Keymap:
    km = Keymap()
    for key, command, contexts, help in DEFAULT_BINDINGS:
        km.add(key, command, contexts, help)
    return km
