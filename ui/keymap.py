"""Key bindings as data: which key, in which key context, runs which named command.

Like mitmproxy's console keymap (``km.add(key, command, contexts, help)``): screens never test
key names themselves; a key the focused widget did not use is looked up here, first in the
screen's own context, then in its kind (``menu``, ``form``), then ``simulate`` (only when
``handheld --simulate`` runs), then ``global``.  The command string is a command name plus
arguments (``menu.pick 3``), checked when it is bound: an unknown context, an unknown command or
arguments that do not fit raise :class:`KeyBindingError` at once (not when the key is pressed).

A screen's context is bound when the screen is shown (:meth:`Keymap.bind_screen`): its soft keys
(F1–F4, labelled on the bottom line from these bindings) and its own keys (``Screen.keys``: a
settings item's digit) run the screen's commands (:func:`ui.commands.command`).

The handheld's keypad has digits, ``.``, Enter, Esc (back), the arrows and F1–F4 (soft keys).
Simulate mode adds F5–F10 on the desktop keyboard.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ui.commands import CommandError, CommandManager
from ui.i18n import N_
from ui.screenstack import SCREENS, screen_class

#: contexts that are not a screen's name: kinds of screen, simulate mode, everywhere
KINDS = ("menu", "form")
CONTEXTS = frozenset(("global", "simulate", *KINDS, *SCREENS))


class KeyBindingError(Exception):
    """A binding to an unknown context or command, or with arguments that do not fit."""


@dataclass(frozen=True, slots=True)
class Binding:
    key: str
    command: str
    contexts: tuple[str, ...]
    help: str  # msgid


class Keymap:
    def __init__(self, commands: CommandManager | None = None) -> None:
        self._by_key: dict[tuple[str, str], Binding] = {}
        self._screen: dict[str, dict[str, Binding]] = {}  # context → key → the screen's own binding
        self._screen_source: dict[str, Any] = {}  # context → what its bindings were made from
        self.bindings: list[Binding] = []
        self.commands = commands

    def attach(self, commands: CommandManager) -> None:
        """Check every binding so far against ``commands``, and every later one as it is bound."""
        self.commands = commands
        for b in self.bindings:
            for c in b.contexts:
                self._check_command(b.command, b.key, screen_class(c) if c in SCREENS else None)

    def _check_command(self, command: str, key: str, screen_class: type | None = None) -> None:
        if self.commands is None:
            return
        try:
            self.commands.check(command, screen_class)
        except CommandError as e:
            raise KeyBindingError(f"key {key!r}: {e}") from e

    def add(self, key: str, command: str, contexts: Iterable[str], help: str) -> None:
        b = Binding(key, command, tuple(contexts), help)
        unknown = [c for c in b.contexts if c not in CONTEXTS]
        if unknown or not b.contexts:
            raise KeyBindingError(f"key {key!r}: unknown key context {unknown or '(none)'}")
        for c in b.contexts:  # in a screen's context its own commands count too
            self._check_command(command, key, screen_class(c) if c in SCREENS else None)
        for c in b.contexts:
            self._by_key[(c, key)] = b
        self.bindings.append(b)

    def bind_screen(self, screen: Any) -> None:
        """Bind the screen's own keys in its context (its soft keys and ``keys``), replacing the
        ones bound before; each must run a command of the screen or of the app."""
        context = screen.name
        source = screen.bindings()
        if self._screen_source.get(context) == source:
            return
        if context not in CONTEXTS:
            raise KeyBindingError(f"screen {type(screen).__name__}: unknown key context {context!r}")
        bound: dict[str, Binding] = {}
        for key, command, help in source:
            self._check_command(command, key, type(screen))
            bound[key] = Binding(key, command, (context,), help)
        self._screen[context] = bound
        self._screen_source[context] = source

    def screen_binding(self, context: str, key: str) -> Binding | None:
        return self._screen.get(context, {}).get(key)

    def lookup(self, key: str, contexts: Iterable[str]) -> Binding | None:
        for c in contexts:
            b = self._screen.get(c, {}).get(key) or self._by_key.get((c, key))
            if b is not None:
                return b
        return None

    def in_context(self, context: str) -> list[Binding]:
        """Every binding of ``context``: the screen's own first, then the keymap's."""
        own = list(self._screen.get(context, {}).values())
        return own + [b for (c, _k), b in self._by_key.items() if c == context and b not in own]


DEFAULT_BINDINGS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("esc", "back", ("global",), N_("Back; cancels a task where that is safe")),
    ("enter", "select", ("global",), N_("Confirm / open the highlighted item")),
    ("f1", "softkey 1", ("global",), N_("Soft key 1 (labelled on the bottom line)")),
    ("f2", "softkey 2", ("global",), N_("Soft key 2 (labelled on the bottom line)")),
    ("f3", "softkey 3", ("global",), N_("Soft key 3 (labelled on the bottom line)")),
    ("f4", "softkey 4", ("global",), N_("Soft key 4 (labelled on the bottom line)")),
    *((str(n), f"menu.pick {n}", ("menu",), N_("Pick the numbered item")) for n in range(1, 10)),
    ("f5", "sim.paycode", ("simulate",), N_("Simulate: the customer shows a payment code (pick which)")),
    ("f6", "sim.scan", ("simulate",), N_("Simulate: scan the current customer's meter barcode")),
    ("f7", "sim.card", ("simulate",), N_("Simulate: insert or remove the IC card")),
    ("f8", "sim.coverage", ("simulate",), N_("Simulate: switch the GPRS coverage off or on")),
    ("f9", "sim.next_day", ("simulate",), N_("Simulate: the next day (station and terminal clocks)")),
    ("f10", "quit", ("simulate",), N_("Simulate: quit the terminal")),
    ("f11", "sim.reissue_card", ("simulate",), N_("Simulate: the customer lost the card: a re-issue card in the reader")),
)


def default_keymap() -> Keymap:
    km = Keymap()
    for key, command, contexts, help in DEFAULT_BINDINGS:
        km.add(key, command, contexts, help)
    return km
