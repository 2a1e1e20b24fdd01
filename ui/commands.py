"""Named, typed commands: the one way from a key to an action (mitmproxy's ``command.py``).

A command is a name and a callable whose parameters are annotated ``int`` or ``str``; a command
line (``menu.pick 3``) is parsed against that signature when it runs, and checked when a key is
bound to it (:class:`ui.keymap.Keymap` refuses an unknown command or arguments that do not fit).

Two kinds: the app's commands (``back``, ``select``, ``softkey``, ``menu.pick``, ``sim.scan`` …),
registered by the roles of :class:`ui.app.HandheldApp`, and a screen's own commands — its
methods marked with :func:`command` (a soft key's action, a settings item) — which a screen's
key context binds (``Screen.bindings``).  Screen commands shadow app commands of the same name
while that screen is on top.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, get_type_hints

F = TypeVar("F", bound=Callable[..., Any])

#: the argument types a command line can carry
ARG_TYPES: dict[Any, Callable[[str], Any]] = {int: int, str: str}


class CommandError(Exception):
    """A command that does not exist, or arguments that do not fit it (a programming error)."""


def command(name: str) -> Callable[[F], F]:
    """Mark a screen method as the command ``name`` (collected by ``Screen.__init_subclass__``)."""
    def mark(fn: F) -> F:
        fn.__command__ = name  # type: ignore[attr-defined]
        return fn
    return mark


@dataclass(frozen=True)
class Command:
    name: str
    func: Callable[..., Any]
    help: str = ""

    def signature(self) -> inspect.Signature:
        """The function's signature.  Not a ``__signature__`` property: Debian's Python 3.11.2, the
        package's interpreter, has ``dataclass`` call ``inspect.signature`` on the class, and a
        property there makes the import fail (fixed in later 3.11 releases)."""
        return inspect.signature(self.func)

    def parse(self, args: list[str]) -> list[Any]:
        """The typed arguments of a command line; CommandError when they do not fit."""
        sig = self.signature()
        try:
            bound = sig.bind(*args)
        except TypeError as e:
            raise CommandError(f"{self.name} {' '.join(args)}: {e}") from e
        try:
            hints = get_type_hints(self.func)
        except Exception:  # noqa: BLE001 — an unresolvable annotation: pass the words as they are
            hints = {}
        out = []
        for pname, value in bound.arguments.items():
            conv = ARG_TYPES.get(hints.get(pname, str), str)
            try:
                out.append(conv(value))
            except ValueError as e:
                raise CommandError(f"{self.name}: {pname}={value!r} is not {conv.__name__}") from e
        return out

    def __call__(self, *args: str) -> Any:
        return self.func(*self.parse(list(args)))


def split(cmdline: str) -> tuple[str, list[str]]:
    name, *args = cmdline.split()
    return name, args


class CommandManager(Mapping[str, Command]):
    """The app's commands by name."""

    def __init__(self) -> None:
        self._commands: dict[str, Command] = {}

    def add(self, name: str, func: Callable[..., Any], help: str = "") -> None:
        self._commands[name] = Command(name, func, help)

    def __getitem__(self, name: str) -> Command:
        return self._commands[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._commands)

    def __len__(self) -> int:
        return len(self._commands)

    def resolve(self, cmdline: str, screen: Any = None) -> tuple[Command, list[Any]]:
        """The command a command line names (the screen's own first) and its typed arguments."""
        name, args = split(cmdline)
        cmd = screen_command(screen, name) if screen is not None else None
        if cmd is None:
            cmd = self._commands.get(name)
        if cmd is None:
            raise CommandError(f"unknown command {name!r}")
        return cmd, cmd.parse(args)

    def check(self, cmdline: str, screen_class: type | None = None) -> None:
        """Raise CommandError unless ``cmdline`` resolves (in ``screen_class``'s context)."""
        name, args = split(cmdline)
        if screen_class is not None and name in getattr(screen_class, "commands", {}):
            Command(name, getattr(screen_class, screen_class.commands[name])).parse(["self", *args])[1:]
            return
        if name not in self._commands:
            raise CommandError(f"unknown command {name!r}")
        self._commands[name].parse(args)

    def call(self, cmdline: str, screen: Any = None) -> Any:
        cmd, args = self.resolve(cmdline, screen)
        return cmd.func(*args)


def screen_command(screen: Any, name: str) -> Command | None:
    """The screen's own command ``name`` (a method marked with :func:`command`), bound to it."""
    method = getattr(type(screen), "commands", {}).get(name)
    return Command(name, getattr(screen, method)) if method is not None else None
